"""The ASGI entry point for servers: ``uvicorn roster.asgi:app``.

Logging is set up here too: each worker process of ``roster serve --workers N`` (or of any ASGI
server) imports this module, and without it their request lines, mail and errors would go nowhere.
Where logging is set up already (``roster serve``'s own process), this changes nothing.
"""

import logging

from roster.app import create_app
from roster.settings import LOG_FORMAT, get_settings

logging.basicConfig(level=get_settings().log_level, format=LOG_FORMAT)
app = create_app()
