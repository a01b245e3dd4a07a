"""Where a resource an API request created can be read: the ``Location`` of a 201 (RFC 9110
§10.2.2), as GitHub's API names the new issue or comment it made."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

API_PREFIX = "/api/v1"


def set_location(request: Request, response: Response, path: str) -> None:
    """Name ``path`` (under the API, e.g. ``/posts/<id>``) as the created resource: an absolute
    URL at the address the client used, under any proxy prefix (the scope's root path)."""
    response.headers["Location"] = f"{str(request.base_url).rstrip('/')}{API_PREFIX}{path}"
