"""Page routers, one module per area."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """Every page router, mounted at the site root (no /api/v1 prefix)."""
    from roster.web.pages import (
        account,
        admin,
        deletion,
        departments,
        messages,
        people,
        profile,
        stream,
        trash,
        work,
    )

    return [
        account.router,
        stream.router,
        work.router,
        messages.router,
        people.router,
        deletion.router,
        profile.router,
        admin.router,
        departments.router,
        trash.router,
    ]
