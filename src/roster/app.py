"""The ASGI application: ``create_app(settings)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from sqlalchemy import Connection, Engine, make_url, text
from starlette.datastructures import MutableHeaders
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from roster import __version__, problems
from roster.accounts.api import router as accounts_router
from roster.accounts.ratelimit import LoginLimiter
from roster.crm.api import router as crm_router
from roster.db import migrate
from roster.db.engine import (
    autocommit_reads,
    make_engine,
    make_sessionmaker,
    point_reads,
    writer,
    writes_now,
)
from roster.directory.api import router as directory_router
from roster.drive.api import router as drive_router
from roster.lifecycle.api import router as lifecycle_router
from roster.lifecycle.deletion_api import router as deletion_router
from roster.lifecycle.export_api import router as export_router
from roster.lifecycle.invitations import CSV_MAX_BYTES
from roster.locations import API_PREFIX
from roster.messages.api import router as messages_router
from roster.middleware import BodyLimit, HeadAsGet, RequestLog, ResponseHeaders, UploadRoute, route_path
from roster.scim.api import SCIM_PREFIX, create_scim_app
from roster.scim.api import router as scim_router
from roster.settings import Settings, get_settings
from roster.stream.api import router as stream_router
from roster.tasks.api import router as tasks_router
from roster.trash.api import router as trash_router

# Headers every answer carries, the API's and the SCIM server's alike.
DEFAULT_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]

log = logging.getLogger("roster")


def upload_routes(settings: Settings) -> list[UploadRoute]:
    """The routes that take a file, each with its limit: a multipart body to any other route is
    capped as a form is (``BodyLimit``). A new upload route adds itself here."""
    files, photos = settings.max_upload_bytes, settings.max_photo_bytes
    return [
        UploadRoute("POST", f"{API_PREFIX}/files", files, "file"),
        UploadRoute("POST", "/drive", files, "file"),
        UploadRoute("PUT", f"{API_PREFIX}/users/{{user_id}}/photo", photos, "photo"),
        UploadRoute("POST", "/people/{user_id}/photo", photos, "photo"),
        UploadRoute("POST", f"{API_PREFIX}/invitations/bulk", min(files, CSV_MAX_BYTES), "CSV file"),
        UploadRoute("POST", "/people/invite/bulk", min(files, CSV_MAX_BYTES), "CSV file"),
    ]


def is_api_answer(scope: Scope, headers: MutableHeaders) -> bool:
    """An answer of the API (not a page, a static file or the SCIM server). It holds people's data
    or a secret (a sign-in token, an invitation link), so it gets ``Cache-Control: no-store``
    unless its route set its own (photos and file content are cached by their ETag)."""
    return route_path(scope).startswith(API_PREFIX + "/")


class ScimFirst:
    """Requests under /scim/v2 go straight to the SCIM server, the rest to the application.

    The SCIM server has its own authentication, errors and access log; passing an identity
    provider's every request through the API's middleware and route table first cost it tens of
    microseconds for nothing. Matching and the mounted scope are Starlette's ``Mount``'s.
    """

    def __init__(self, rest: ASGIApp, scim: ASGIApp) -> None:
        self.rest = rest
        self.scim = Mount(SCIM_PREFIX, app=RequestLog(BodyLimit(scim), default_headers=DEFAULT_HEADERS))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match, child_scope = self.scim.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)
                await self.scim.app(scope, receive, send)
                return
        await self.rest(scope, receive, send)


class RosterApp(FastAPI):
    """FastAPI, with the SCIM server (``scim_app``) answered ahead of the middleware stack, HEAD
    answered wherever GET is (``HeadAsGet``), and an OpenAPI schema that documents refusals as
    the problem+json they are."""

    scim_app: ASGIApp | None = None

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = problems.document(super().openapi())
        return self.openapi_schema

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return HeadAsGet(stack if self.scim_app is None else ScimFirst(stack, self.scim_app))


def api_routers() -> list[APIRouter]:
    """Every feature's API router; a new feature adds itself here."""
    return [
        accounts_router,
        directory_router,
        lifecycle_router,
        stream_router,
        messages_router,
        deletion_router,
        export_router,
        tasks_router,
        drive_router,
        crm_router,
        trash_router,
        scim_router,
    ]


def _warn_about_the_schema(app: FastAPI) -> None:
    """Say at start, in the log, when the database cannot serve this Roster (nobody migrated it, a
    server started in another directory made itself a new empty one, a newer Roster migrated it);
    ``/readyz`` answers 503 meanwhile."""
    try:
        with app.state.sessions["read"]() as session:
            problem = migrate.schema_problem(session.connection())
    except Exception as exc:  # the database not answering: /readyz says so, and the log per request
        log.warning("the database is not answering at start: %s", str(exc).splitlines()[0])
        return
    url = make_url(app.state.settings.resolved_database_url).render_as_string(hide_password=True)
    if problem is not None:
        log.error("%s (database: %s)", problem, url)
    else:
        log.info("Roster %s started (database: %s)", __version__, url)


def create_app(settings: Settings | None = None, *, bind: Engine | Connection | None = None) -> FastAPI:
    """Build the application. ``bind`` lets tests hand in their own engine or connection."""
    settings = settings or get_settings()
    settings.resolved_secret_key  # noqa: B018  (create the key file before serving)
    db_engine = bind if bind is not None else make_engine(settings.resolved_database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _warn_about_the_schema(app)
        workers = []
        if settings.background_workers:
            from roster.workers import start_workers

            workers = start_workers(app)
        yield
        for worker in workers:
            worker.stop()
        if app.state.point_reads is not None:
            app.state.point_reads.dispose()
        if app.state.writes_now is not None:
            app.state.writes_now.dispose()
        if isinstance(db_engine, Engine) and bind is None:  # its own engine, not a test's
            db_engine.dispose()

    app = RosterApp(
        title="Roster",
        version=__version__,
        description="The people layer for company intranets.",
        lifespan=lifespan,
        # A JSON body sent without a Content-Type is read as JSON (``problems.reads_as_json``).
        strict_content_type=False,
    )
    app.state.settings = settings
    app.state.engine = db_engine
    app.state.sessions = {
        "read": make_sessionmaker(db_engine),
        "write": make_sessionmaker(writer(db_engine)),
    }
    autocommit = autocommit_reads(db_engine)
    if autocommit is not None:
        app.state.sessions["autocommit"] = make_sessionmaker(autocommit)
    app.state.point_reads = point_reads(db_engine)
    app.state.writes_now = writes_now(db_engine)
    # SQLite writes one transaction at a time: a process's SCIM writes queue for one thread.
    app.state.serial_writes = db_engine.dialect.name == "sqlite"
    app.state.login_limiter = LoginLimiter(settings)
    problems.install(app)

    app.add_middleware(BodyLimit, uploads=upload_routes(settings))
    app.add_middleware(ResponseHeaders, applies=is_api_answer, headers=[("Cache-Control", "no-store")])
    app.add_middleware(RequestLog, default_headers=DEFAULT_HEADERS)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        responses={
            200: {
                "description": "The database answers",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"status": {"type": "string", "const": "ok"}},
                            "required": ["status"],
                        }
                    }
                },
            }
        },
    )
    def readyz() -> Response:
        """The database answers and its schema is this Roster's: a server pointed at a database
        nobody migrated (or one a newer Roster migrated) is not ready, though it is up."""
        try:
            with app.state.sessions["read"]() as session:
                session.execute(text("SELECT 1"))
                problem = migrate.schema_problem(session.connection())
        except Exception:
            return problems.problem(503, "unavailable", "Not ready", "The database is not answering.")
        if problem is not None:
            return problems.problem(503, "database_not_migrated", "Not ready", problem)
        return Response('{"status":"ok"}', media_type="application/json")

    app.scim_app = create_scim_app(app)  # SCIM 2.0, with its own auth and errors, at /scim/v2
    for router in api_routers():
        app.include_router(router, prefix=API_PREFIX)

    from roster.web import install as install_web

    install_web(app)  # the pages (at the site root), /static, and people-friendly error pages
    return app
