"""Request dependencies: the database session, and who is calling.

Authorization lives here, in one place: every route takes ``CurrentUser`` or ``AdminUser``; a
route that takes neither is public and is listed in tests/test_route_security.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from roster.accounts import service as accounts
from roster.accounts.models import AuthToken, Organization, User
from roster.accounts.security import csrf_matches
from roster.concurrency import run_sync
from roster.domain import errors
from roster.settings import Settings

SESSION_COOKIE = "roster_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

T = TypeVar("T")


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency on the
# thread pool, and each such hand-over cost a few tenths of a millisecond per request here.


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def request_session(request: Request, *, writes: bool | None = None, autocommit: bool = False) -> Session:
    """A session for this request: reads use the reading sessions, writes the writer (SQLite's
    write lock taken at BEGIN); unless told (``writes``), by the method. A read asked for with
    ``autocommit`` runs without a transaction where the database has such sessions
    (``roster.db.engine.autocommit_reads``). Opening one does no I/O; it connects on first use."""
    factories: dict[str, sessionmaker[Session]] = request.app.state.sessions
    if writes is None:
        writes = request.method not in SAFE_METHODS
    if writes:
        return factories["write"]()
    return factories.get("autocommit" if autocommit else "read", factories["read"])()


def end_transaction(session: Session, commit: bool) -> None:
    """Commit (or roll back) the request's transaction and give its connection back."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


def in_request_transaction(
    request: Request, work: Callable[[Session], T], *, writes: bool | None = None, autocommit: bool = False
) -> T:
    """``work(session)`` in the request's transaction, on the calling thread: committed when it
    returns, rolled back when it raises. For work that checks its caller itself on a worker thread
    (``Caller``, the SCIM server). ``writes`` and ``autocommit`` as for ``request_session``."""
    session = request_session(request, writes=writes, autocommit=autocommit)
    commit = False
    try:
        result = work(session)
        commit = True
        return result
    finally:
        end_transaction(session, commit)


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on any error.

    Writing requests take SQLite's write lock at BEGIN, so concurrent writers queue instead of
    failing on lock upgrade. Opening a session does no I/O (it connects on first use), so it is
    made here; committing does, so it goes to the thread pool, shielded so that a request whose
    client went away still ends its transaction and returns its connection.
    """
    session = request_session(request)
    commit = False
    try:
        yield session
        commit = True
    finally:
        with anyio.CancelScope(shield=True):
            await run_sync(end_transaction, session, commit)


DB = Annotated[Session, Depends(get_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]


@dataclass
class Principal:
    """The signed-in caller."""

    user: User
    token: AuthToken
    secret: str
    via_cookie: bool

    @property
    def org_id(self) -> uuid.UUID:
        return self.user.org_id

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    def organization(self, session: Session) -> Organization:
        org = session.get(Organization, self.org_id)
        assert org is not None
        return org


def presented_secret(request: Request) -> tuple[str | None, bool]:
    """The bearer token or session cookie on the request, and whether it came from the cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, True
    return None, False


def authenticate(request: Request, session: Session) -> Principal | None:
    """The caller presenting a live credential, or None; resolved once per request."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    secret, via_cookie = presented_secret(request)
    principal = None
    if secret:
        found = accounts.resolve_token(session, secret)
        if found is not None:
            token, user = found
            accounts.touch_token(session, token)
            principal = Principal(user=user, token=token, secret=secret, via_cookie=via_cookie)
    request.state.principal = principal
    return principal


def authorize(request: Request, settings: Settings, principal: Principal | None) -> Principal:
    """The caller allowed to make this request: signed in (401), and carrying the CSRF token on a
    cookie-authenticated write (403)."""
    if principal is None:
        raise errors.Unauthorized("Sign in first.")
    if principal.via_cookie and request.method not in SAFE_METHODS:
        candidate = request.headers.get(CSRF_HEADER)
        if not csrf_matches(principal.secret, settings.resolved_secret_key, candidate):
            raise errors.CsrfFailed()
    return principal


def get_principal_optional(request: Request, session: DB) -> Principal | None:
    """The caller, or None when no live credential was presented."""
    return authenticate(request, session)


async def get_principal(
    request: Request,
    settings: AppSettings,
    principal: Annotated[Principal | None, Depends(get_principal_optional)],
) -> Principal:
    """The signed-in caller; 401 otherwise. Cookie-authenticated writes must carry the CSRF token."""
    return authorize(request, settings, principal)


async def get_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """The signed-in caller, who must be an admin of their organization."""
    if not principal.is_admin:
        raise errors.AdminOnly("Only an administrator may do this.")
    return principal


class Caller:
    """The signed-in caller of a route that does all its database work in one worker-thread
    hand-over: the credential is checked on that thread, just before the route's own work.

    ``CurrentUser`` and ``DB`` each cost the request a hand-over (the token lookup, the route,
    the commit), plus one to validate the answer of a synchronous route: a few tenths of a
    millisecond each, most of a quick read's time. Hot read routes take ``Caller`` instead and
    call ``await caller.run(work)``; the checks are the same ones (``authenticate``, ``authorize``).

    A read's work (GET) may not write: on PostgreSQL it runs without a transaction (see
    ``roster.db.engine.autocommit_reads``), where the only write, the credential's use recorded
    once a minute, is one statement.
    """

    def __init__(self, request: Request, settings: Settings) -> None:
        self.request = request
        self.settings = settings

    async def run(self, work: Callable[[Session, Principal], T]) -> T:
        """``work(session, principal)`` in one transaction on one worker thread: committed when
        it returns, rolled back when it raises (as with ``DB``)."""
        return await run_sync(self._run, work)

    def _run(self, work: Callable[[Session, Principal], T]) -> T:
        def checked(session: Session) -> T:
            return work(session, authorize(self.request, self.settings, authenticate(self.request, session)))

        return in_request_transaction(self.request, checked, autocommit=self.request.method in SAFE_METHODS)


async def get_caller(request: Request, settings: AppSettings) -> Caller:
    """A ``Caller`` for this request (no I/O here: the checks run in ``Caller.run``)."""
    return Caller(request, settings)


CurrentUser = Annotated[Principal, Depends(get_principal)]
AdminUser = Annotated[Principal, Depends(get_admin)]
OptionalUser = Annotated[Principal | None, Depends(get_principal_optional)]
SignedIn = Annotated[Caller, Depends(get_caller)]
