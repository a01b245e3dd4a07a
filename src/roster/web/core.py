"""What every page shares: templates, the signed-in person, CSRF, flash messages, redirects.

Pages authenticate through the same dependencies as the API (``accounts.deps.get_principal`` and
``get_admin``), so the route-security tests see them as user or admin routes. A browser form cannot
send the ``X-CSRF-Token`` header those dependencies check, so :func:`promote_form_csrf` runs first and
hands the form's hidden ``csrf_token`` field to that same check: there is one CSRF rule, not two.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from sqlalchemy.orm import Session
from starlette.routing import Match

from roster import clock, ids
from roster.accounts.deps import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    Principal,
    get_admin,
    get_principal,
)
from roster.accounts.models import Organization, User
from roster.accounts.security import csrf_token_for
from roster.domain import errors, timezones
from roster.settings import Settings

WEB_DIR = Path(__file__).parent
FLASH_COOKIE = "roster_flash"
ANON_COOKIE = "roster_anon"  # binds the CSRF token of forms shown before sign-in

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# The zone the page being rendered shows times in: the viewer's (see ``viewer_zone``).
_page_zone: ContextVar[tzinfo] = ContextVar("page_zone", default=UTC)


def viewer_zone(user: User | None, org: Organization | None) -> tzinfo:
    """Where the viewer reads times: their own zone, else their organization's, else UTC."""
    if user is None:
        return UTC
    return timezones.zone(user.timezone or (org.timezone if org is not None else None))


def zone_for(session: Session, principal: Principal) -> tzinfo:
    """The signed-in viewer's zone, for what a page handler writes or reads before rendering (a
    flash message, a typed date)."""
    return viewer_zone(principal.user, session.get(Organization, principal.org_id))


def local(value: datetime) -> datetime:
    """A stored (UTC) time in the zone of the page being rendered."""
    return value.astimezone(_page_zone.get()) if value.tzinfo is not None else value


def _format_dt(value: datetime | None, fmt: str = "%d %b %Y, %H:%M") -> str:
    if value is None:
        return ""
    return local(value).strftime(fmt)


def _format_date(value: datetime | None) -> str:
    return _format_dt(value, "%d %b %Y")


def _ago(value: datetime | None) -> str:
    """ "3 min ago", "yesterday": how people read recent times."""
    if value is None:
        return ""
    seconds = int((clock.now() - value).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    days = seconds // 86400
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return _format_date(value)


def _initials(name: str) -> str:
    parts = [p for p in name.replace("@", " ").split() if p]
    letters = "".join(p[0] for p in parts[:2]).upper()
    return letters or "?"


def _filesize(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def _avatar_hue(value: object) -> int:
    digest = hashlib.sha256(str(value).encode()).digest()
    return digest[0] % 8


def _photo_url(user: Any, size: int = 64) -> str | None:
    """The photo URL of a user (or UserRef), versioned so a new photo shows at once."""
    if getattr(user, "is_system", False):
        return None
    url = f"/api/v1/users/{user.id}/photo?size={size}"
    version = getattr(user, "photo_version", None)
    return f"{url}&v={version}" if version else url


@pass_context
def _card_url(context: Any, user: Any) -> str:
    """The person's card, when the viewer may open it ("" otherwise): employees cannot open the card
    of someone who left, nor the System User's, so those names on content are not links for them.
    Admins open every card; the System User's is where its records are handed over."""
    if context.get("is_admin"):
        return f"/people/{user.id}"
    if getattr(user, "is_system", False):
        return ""
    if getattr(user, "status", None) == "active":
        return f"/people/{user.id}"
    return ""


def _days_left(until: datetime | None) -> int:
    if until is None:
        return 0
    return max(0, -(-int((until - clock.now()).total_seconds()) // 86400))


templates = Environment(
    loader=FileSystemLoader(str(WEB_DIR / "templates")),
    autoescape=select_autoescape(["html", "xml"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["dt"] = _format_dt
templates.filters["date"] = _format_date
templates.filters["ago"] = _ago
templates.filters["initials"] = _initials
templates.filters["filesize"] = _filesize
templates.filters["hue"] = _avatar_hue
templates.filters["photo"] = _photo_url
templates.filters["days_left"] = _days_left
templates.filters["card_url"] = _card_url


def _text_limits() -> dict[str, int]:
    """The longest text each kind of form field takes, by the rule that checks it, for the pages'
    ``maxlength``: the browser stops typing where the server would refuse. (A value over a route's
    own limit is refused with a page that cannot give back what was typed; tests/test_web_forms.py
    checks every form of every page against its route.)"""
    from roster.crm import service as crm
    from roster.messages import service as messages
    from roster.scim import tokens as scim_tokens
    from roster.stream import service as stream
    from roster.tasks import service as tasks

    def length(column: Any) -> int:
        """A text column's length."""
        limit = column.type.length
        assert isinstance(limit, int), column
        return limit

    people = User.__table__.c
    return {
        "organization": length(Organization.__table__.c.slug),
        "email": length(people.email),
        "first_name": length(people.first_name),
        "last_name": length(people.last_name),
        "display_name": length(people.display_name),
        "position": length(people.position),
        "password": 1024,
        "reason": 500,
        "emails": 50_000,  # the route takes 100,000: a text area's line breaks arrive as two characters
        "search": 200,
        "token_name": scim_tokens.MAX_NAME_LENGTH,
        "post": stream.BODY_LIMIT,
        "comment": stream.COMMENT_LIMIT,
        "message": messages.BODY_LIMIT,
        "chat_title": messages.TITLE_LIMIT,
        "task_title": tasks.TITLE_LIMIT,
        "task_description": tasks.DESCRIPTION_LIMIT,
        "lead_title": crm.TITLE_LIMIT,
        "lead_name": crm.NAME_LIMIT,
        "lead_phone": crm.PHONE_LIMIT,
        "lead_notes": crm.NOTES_LIMIT,
    }


templates.globals["limits"] = _text_limits()


@functools.lru_cache(maxsize=2)
def _timezone_options(hour: datetime) -> list[tuple[str, str]]:
    """Every zone with its offset at this hour, as a select shows them: "Europe/Berlin (UTC+01:00)"."""
    options = []
    for name in timezones.choices():
        offset = hour.astimezone(timezones.zone(name)).strftime("%z")
        options.append((name, f"{name.replace('_', ' ')} (UTC{offset[:3]}:{offset[3:]})"))
    return options


def _timezone_options_now() -> list[tuple[str, str]]:
    return _timezone_options(clock.now().replace(minute=0, second=0, microsecond=0))


templates.globals["timezone_options"] = _timezone_options_now


def _time_in(zone_name: str) -> str:
    """The time of day now in a zone, as a card shows a colleague's: "16:04"."""
    return clock.now().astimezone(timezones.zone(zone_name)).strftime("%H:%M")


templates.globals["time_in"] = _time_in


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# --- CSRF ---------------------------------------------------------------------------------------


async def promote_form_csrf(request: Request) -> None:
    """Give a posted form's ``csrf_token`` field to the API's CSRF check (which reads a header)."""
    if request.method in SAFE_METHODS or request.headers.get(CSRF_HEADER):
        return
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return
    form = await request.form()
    token = form.get("csrf_token")
    if isinstance(token, str) and token:
        request.scope["headers"] = [*request.scope["headers"], (CSRF_HEADER.lower().encode(), token.encode())]
        if hasattr(request, "_headers"):
            del request._headers  # Starlette caches the parsed headers


def anonymous_csrf(request: Request) -> tuple[str, str]:
    """The visitor's pre-sign-in nonce (existing or new) and the CSRF token bound to it."""
    nonce = request.cookies.get(ANON_COOKIE) or secrets.token_urlsafe(24)
    return nonce, csrf_token_for("anon:" + nonce, app_settings(request).resolved_secret_key)


async def check_anonymous_csrf(request: Request) -> None:
    """Forms shown before sign-in (sign in, reset, accept an invitation) carry a token too."""
    if request.method in SAFE_METHODS:
        return
    form = await request.form()
    nonce = request.cookies.get(ANON_COOKIE)
    candidate = form.get("csrf_token")
    expected = csrf_token_for("anon:" + (nonce or ""), app_settings(request).resolved_secret_key)
    if not nonce or not isinstance(candidate, str) or not hmac.compare_digest(candidate, expected):
        raise errors.CsrfFailed("The form has expired. Reload the page and try again.")


async def _web_user(
    _csrf: Annotated[None, Depends(promote_form_csrf)],
    principal: Annotated[Principal, Depends(get_principal)],
) -> Principal:
    return principal


async def _web_admin(
    _csrf: Annotated[None, Depends(promote_form_csrf)],
    principal: Annotated[Principal, Depends(get_admin)],
) -> Principal:
    return principal


WebUser = Annotated[Principal, Depends(_web_user)]
WebAdmin = Annotated[Principal, Depends(_web_admin)]
AnonymousCsrf = Annotated[None, Depends(check_anonymous_csrf)]


# --- Refusals ----------------------------------------------------------------------------------


class RefusedFor(Exception):
    """A page's refusal of an action on a person (dismissing oneself, editing the System User):
    shown as the error page with a link back to that person's page. A request that does not read
    HTML gets ``refusal`` as problem+json, as from the API. The person's id and name are kept as
    plain values, since the request's session is gone by the time the page is made."""

    def __init__(self, refusal: errors.RosterError, person: User) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal
        self.person_id = person.id
        self.person_name = person.display_name


# --- Flash messages -----------------------------------------------------------------------------


def _sign(payload: bytes, key: str) -> str:
    return hmac.new(key.encode(), b"flash:" + payload, hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class FlashAction:
    """A button in a flash message that posts (with the page's CSRF token) to a local path:
    "Undo" after something is moved to the trash; or, with ``method`` "get", a link to a page
    ("Open their page")."""

    label: str
    url: str
    method: str = "post"


FlashActions = FlashAction | Sequence[FlashAction] | None


def flash(
    response: Response,
    request: Request,
    message: str,
    kind: str = "success",
    action: FlashActions = None,
) -> Response:
    """Show ``message`` once on the next page (success, error, info), with optional buttons (one
    ``FlashAction``, or several in order)."""
    existing = read_flashes(request)
    entry: dict[str, Any] = {"kind": kind, "message": message}
    chosen = [action] if isinstance(action, FlashAction) else list(action or ())
    actions = [{"label": a.label, "url": a.url, "method": a.method} for a in chosen if _is_local_path(a.url)]
    if actions:
        entry["actions"] = actions
    existing.append(entry)
    payload = base64.urlsafe_b64encode(json.dumps(existing[-3:]).encode())
    value = payload.decode() + "." + _sign(payload, app_settings(request).resolved_secret_key)
    set_cookie(response, request, FLASH_COOKIE, value, max_age=120)
    return response


def _flash_action(raw: object) -> dict[str, str] | None:
    if not isinstance(raw, dict):
        return None
    label, url, method = raw.get("label"), raw.get("url"), raw.get("method", "post")
    if isinstance(label, str) and label and isinstance(url, str) and _is_local_path(url):
        return {"label": label, "url": url, "method": "get" if method == "get" else "post"}
    return None


def read_flashes(request: Request) -> list[dict[str, Any]]:
    """The signed flash messages the cookie carries; a button is kept only if it is well formed."""
    raw = request.cookies.get(FLASH_COOKIE, "")
    payload, _, signature = raw.partition(".")
    if not payload or not hmac.compare_digest(
        signature, _sign(payload.encode(), app_settings(request).resolved_secret_key)
    ):
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return []
    if not isinstance(items, list):
        return []
    flashes: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        entry: dict[str, Any] = {"kind": item.get("kind"), "message": item.get("message")}
        listed = item.get("actions")
        actions = [a for a in map(_flash_action, listed if isinstance(listed, list) else []) if a is not None]
        if actions:
            entry["actions"] = actions
        flashes.append(entry)
    return flashes


def redirect(
    url: str,
    request: Request | None = None,
    message: str = "",
    kind: str = "success",
    action: FlashActions = None,
) -> Response:
    """303 See Other (the post/redirect/get pattern), with an optional flash message and buttons."""
    response = RedirectResponse(url, status_code=303)
    if message and request is not None:
        flash(response, request, message, kind, action)
    return response


# --- One-time secrets and forms kept across a redirect ------------------------------------------

SECRET_COOKIE = "roster_secret"
FORM_COOKIE = "roster_form"
ONCE_MAX_AGE = 120  # seconds: the next page, not a later visit


def _fernet_for(request: Request, principal: Principal) -> Fernet:
    """A cipher whose key only this server can make, and only for this browser session."""
    key = app_settings(request).resolved_secret_key.encode()
    derived = hmac.new(key, b"secret-once:" + principal.secret.encode(), hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def show_secret_once(
    response: Response, request: Request, principal: Principal, secret: str, *, path: str
) -> Response:
    """Carry ``secret`` (a token shown once) to the next page at ``path`` after a redirect.

    The cookie is encrypted and authenticated (``cryptography``'s Fernet) with a key bound to the
    signed-in session, so it is
    useless to anyone else, and :func:`take_secret` drops it the first time it is read: a reload
    does not show it again."""
    value = _fernet_for(request, principal).encrypt(secret.encode()).decode()
    set_cookie(response, request, SECRET_COOKIE, value, samesite="strict", path=path, max_age=ONCE_MAX_AGE)
    return response


def take_secret(request: Request, principal: Principal) -> str:
    """The secret :func:`show_secret_once` carried here ("" if none); :func:`render` drops it."""
    raw = request.cookies.get(SECRET_COOKIE, "")
    request.state.drop_secret = bool(raw)
    if not raw:
        return ""
    try:
        plain = _fernet_for(request, principal).decrypt(raw.encode(), ttl=ONCE_MAX_AGE)
    except InvalidToken:
        return ""  # another session's, tampered with, or older than the next page
    return plain.decode(errors="replace")


def keep_form(response: Response, request: Request, form: dict[str, Any]) -> Response:
    """Carry what a refused form held (its values and errors) to the page a redirect leads to, so
    the error is shown on a GET (Back and reload do not post again) with what was typed."""
    payload = base64.urlsafe_b64encode(json.dumps({"path": response.headers["location"], **form}).encode())
    value = payload.decode() + "." + _sign(b"form:" + payload, app_settings(request).resolved_secret_key)
    set_cookie(response, request, FORM_COOKIE, value, max_age=ONCE_MAX_AGE)
    return response


def kept_form(request: Request) -> dict[str, Any]:
    """The form :func:`keep_form` carried to this page ({} if none); :func:`render` drops it."""
    raw = request.cookies.get(FORM_COOKIE, "")
    payload, _, signature = raw.partition(".")
    key = app_settings(request).resolved_secret_key
    if not payload or not hmac.compare_digest(signature, _sign(b"form:" + payload.encode(), key)):
        return {}
    try:
        form = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return {}
    if not isinstance(form, dict) or form.get("path") != request.url.path:
        return {}
    return form


# --- Rendering ----------------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    session: Session | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page. The layout gets the signed-in person, their organization and the CSRF token."""
    ctx: dict[str, Any] = {
        "request": request,
        "path": request.url.path,
        "flashes": read_flashes(request),
        "me": None,
        "org": None,
        "is_admin": False,
        "csrf": "",
    }
    anon_nonce: str | None = None
    if principal is not None:
        ctx["me"] = principal.user
        ctx["is_admin"] = principal.is_admin
        ctx["csrf"] = csrf_token_for(principal.secret, app_settings(request).resolved_secret_key)
        if session is not None:
            ctx["org"] = session.get(Organization, principal.org_id)
    else:
        anon_nonce, ctx["csrf"] = anonymous_csrf(request)
    ctx.update(context or {})
    token = _page_zone.set(viewer_zone(ctx["me"], ctx["org"]))
    try:
        html = templates.get_template(template).render(ctx)
    finally:
        _page_zone.reset(token)
    response = HTMLResponse(html, status_code=status_code)
    if ctx["flashes"]:
        response.delete_cookie(FLASH_COOKIE, path="/")
    if request.cookies.get(FORM_COOKIE):
        response.delete_cookie(FORM_COOKIE, path="/")
    if getattr(request.state, "drop_secret", False):
        response.delete_cookie(SECRET_COOKIE, path=request.url.path)
        # The page holds a secret: the browser keeps no copy to show again.
        response.headers["cache-control"] = "no-store"
    if anon_nonce and request.cookies.get(ANON_COOKIE) != anon_nonce:
        set_cookie(response, request, ANON_COOKIE, anon_nonce)
    return response


def set_cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    *,
    samesite: Literal["lax", "strict"] = "lax",
    path: str = "/",
    max_age: int | None = None,
) -> None:
    """Every cookie the pages set: out of scripts' reach, and ``Secure`` as the settings say."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite=samesite,
        secure=app_settings(request).cookie_secure,
        path=path,
        max_age=max_age,
    )


def set_session_cookie(response: Response, request: Request, secret: str) -> None:
    set_cookie(response, request, SESSION_COOKIE, secret, max_age=app_settings(request).session_days * 86400)


def wants_html(request: Request) -> bool:
    """Browsers get pages; API clients (and fetch calls) keep getting problem+json."""
    path = request.url.path
    if path.startswith(("/api/", "/scim/", "/static/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _is_local_path(target: str | None) -> bool:
    """A path on this site: browsers read ``//host`` and ``/\\host`` as another site, and drop
    tabs and newlines from a URL before reading it."""
    return (
        target is not None
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and not any(c < " " or c == "\x7f" for c in target)
    )


def safe_next(target: str | None, default: str = "/stream") -> str:
    """A local path to return to (after signing in, after an undo); never another site."""
    if target and _is_local_path(target):
        return target
    return default


def login_url(request: Request) -> str:
    """Sign-in, then back to the page asked for. A form sent without a session (it expired, or
    someone signed out in another tab) comes back to the page the form was on: the form's own
    address may answer only POST, and returning there would end on "Method Not Allowed"."""
    if request.method in ("GET", "HEAD"):
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
    else:
        target = referring_page(request)
        if not target:
            return "/login"
    return "/login?next=" + quote(target, safe="")


def referring_page(request: Request) -> str:
    """The page on this site a request came from, when a GET there shows a page; else ""."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc or not _is_local_path(referer.path):
        return ""
    scope = {"type": "http", "method": "GET", "path": referer.path, "root_path": "", "path_params": {}}
    if not any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
        return ""  # a page a refused form was shown on, at the form's own POST-only address
    return referer.path + ("?" + referer.query if referer.query else "")


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` items fill, ``per_page`` to a page (an empty list is one page)."""
    return max(1, (total + per_page - 1) // per_page)


def parse_uuid(value: str | None) -> uuid.UUID | None:
    """A form field's id (spaces around it ignored), or None."""
    return ids.parse_uuid(value.strip()) if value else None


def user_label(user: User) -> str:
    return user.display_name or (user.email or "")
