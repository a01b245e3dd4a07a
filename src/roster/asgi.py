"""The ASGI entry point for servers: ``uvicorn roster.asgi:app``.

Logging is set up here too: each worker process of ``roster serve --workers N`` (or of any ASGI
server) imports this module, and without it their request lines, mail and errors would go nowhere.
Where logging is set up already (``roster serve``'s own process), this changes nothing.
"""

import logging

from pydantic import ValidationError

from roster.app import create_app
from roster.settings import LOG_FORMAT, SecretKeyFileInvalid, get_settings, settings_problems

try:
    settings = get_settings()
except ValidationError as exc:
    # One line naming the variable, as every command says it, not pydantic's report (which would
    # print a short secret key it refused into the server's log).
    raise SystemExit(f"Roster cannot start: {settings_problems(exc)}") from None

logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
try:
    app = create_app()
except SecretKeyFileInvalid as exc:
    raise SystemExit(f"Roster cannot start: {exc}") from None
