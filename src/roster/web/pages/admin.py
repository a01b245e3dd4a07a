"""Admin console pages: the audit log and the organization's settings (plan, restore window,
names of former employees, photo policy, SCIM tokens)."""

from __future__ import annotations

import uuid
from datetime import datetime, time, tzinfo
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from roster.accounts.deps import DB, Principal
from roster.directory.departments import get_department_names
from roster.domain import errors, timezones
from roster.domain.audit import action_groups, action_label, is_audit_action
from roster.domain.plans import SEAT_LIMITS
from roster.domain.users import UserStatus
from roster.lifecycle.audit import list_audit_events, verify_chain
from roster.lifecycle.models import AuditEvent
from roster.lifecycle.seats import get_seat_ledger
from roster.lifecycle.users import change_plan, update_organization_settings
from roster.scim import tokens as scim_tokens
from roster.scim.api import SCIM_PREFIX
from roster.scim.models import ScimToken
from roster.stream.service import load_users
from roster.web.audit_view import Names, describe_details, referenced_ids
from roster.web.core import (
    FlashAction,
    WebAdmin,
    app_settings,
    page_count,
    parse_uuid,
    redirect,
    render,
    show_secret_once,
    take_secret,
    zone_for,
)
from roster.web.pages.shared import PICKER_LIMIT, audit_picker_people, plan_name

router = APIRouter(include_in_schema=False)

PER_PAGE = 50


def _day(value: str, zone: tzinfo, *, end: bool = False) -> datetime | None:
    """A typed day's first (or last) moment in the viewer's zone."""
    return timezones.local_day(value, zone, at=time.max if end else time.min)


# What each problem verify_chain reports means, for people.
CHAIN_PROBLEMS = {
    "missing": "Events are missing",
    "broken_link": "The chain is broken",
    "edited": "An event was changed",
    "unattested_redaction": "A redaction is not accounted for",
}


@router.get("/admin/audit/verify")
def audit_verify(request: Request, principal: WebAdmin, session: DB) -> Response:
    """Check the organization's whole audit chain (as ``GET /api/v1/audit/verify`` does) and say
    what was found: every event's hash recomputed and linked to the one before."""
    result = verify_chain(session, principal.org_id)
    return render(
        request,
        "admin/audit_verify.html",
        {"section": "audit", "result": result, "labels": CHAIN_PROBLEMS},
        principal=principal,
        session=session,
    )


@router.get("/admin/audit")
def audit(
    request: Request,
    principal: WebAdmin,
    session: DB,
    action: str = "",
    actor_id: str = "",
    subject_id: str = "",
    since: str = "",
    until: str = "",
    people: str = "",
    page: int = 1,
) -> Response:
    """The audit log, newest first, with filters and a CSV export of the same selection.

    The By and About lists offer everyone, dismissed and deleted people too (finding out what
    happened to people who left is what the log is most used for); ``people`` narrows them by name.
    """
    page = max(1, min(page, 100_000))
    zone = zone_for(session, principal)
    since_at, until_at = _day(since, zone), _day(until, zone, end=True)
    actor_uuid, subject_uuid = parse_uuid(actor_id), parse_uuid(subject_id)
    people = people.strip()[:200]
    action = action.strip()[:64]
    problems = _filter_problems(
        since=(since, since_at),
        until=(until, until_at),
        actor_id=(actor_id, actor_uuid),
        subject_id=(subject_id, subject_uuid),
    )
    listed, people_total = audit_picker_people(
        session, principal, q=people, chosen=(actor_uuid, subject_uuid)
    )
    events: list[AuditEvent] = []
    total = 0
    if not problems:
        events, total = list_audit_events(
            session,
            principal.org_id,
            action=action or None,
            actor_id=actor_uuid,
            subject_id=subject_uuid,
            since=since_at,
            until=until_at,
            page=page,
            per_page=PER_PAGE,
        )
    rows = _audit_rows(session, principal, events)
    query = {
        k: v
        for k, v in {
            "action": action,
            "actor_id": actor_id,
            "subject_id": subject_id,
            "since": since_at.isoformat() if since_at else "",
            "until": until_at.isoformat() if until_at else "",
        }.items()
        if v
    }
    page_query = {
        k: v
        for k, v in {
            "action": action,
            "actor_id": actor_id,
            "subject_id": subject_id,
            "since": since,
            "until": until,
            "people": people,
        }.items()
        if v
    }
    return render(
        request,
        "admin/audit.html",
        {
            "section": "audit",
            "events": rows,
            "action_groups": action_groups(),
            "action_is_listed": _is_listed(action),
            "total": total,
            "page": page,
            "pages": page_count(total, PER_PAGE),
            "f": {
                "action": action,
                "actor_id": actor_id,
                "subject_id": subject_id,
                "since": since,
                "until": until,
                "people": people,
            },
            "export_url": "/api/v1/audit/export.csv" + ("?" + urlencode(query) if query else ""),
            "page_query": urlencode(page_query),
            "picker_people": listed,
            "people_total": people_total,
            "people_limit": PICKER_LIMIT,
            "field_errors": problems,
        },
        principal=principal,
        session=session,
        status_code=422 if problems else 200,
    )


def _filter_problems(
    *,
    since: tuple[str, datetime | None],
    until: tuple[str, datetime | None],
    actor_id: tuple[str, uuid.UUID | None],
    subject_id: tuple[str, uuid.UUID | None],
) -> dict[str, str]:
    """What is wrong with the audit log's filters, by field: each pair is what the address held
    and what it was read as (None when it could not be). A filter that cannot be read is said,
    not dropped, so that the list shown is never wider than the one asked for."""
    problems: dict[str, str] = {}
    for name, (typed, read) in {"since": since, "until": until}.items():
        if typed.strip() and read is None:
            problems[name] = "Enter a day as YYYY-MM-DD."
    for name, (typed, person) in {"actor_id": actor_id, "subject_id": subject_id}.items():
        if typed.strip() and person is None:
            problems[name] = "Choose a person from the list."
    if since[1] is not None and until[1] is not None and since[1] > until[1]:
        problems["until"] = "Until must be the same day as From or later."
    return problems


def _is_listed(action: str) -> bool:
    """Whether the Action filter offers ``action`` (an event name or a family of them)."""
    return (
        not action
        or is_audit_action(action)
        or any(g.prefix == action and len(g.actions) > 1 for g in action_groups())
    )


_STATUS_NOTE = {UserStatus.DISMISSED.value: " (Dismissed)", UserStatus.DELETED.value: " (Deleted)"}


def _audit_rows(session: Session, principal: Principal, events: list[AuditEvent]) -> list[dict[str, Any]]:
    """The events as the page shows them: the action's label, and details people can read (the
    people and departments they name by id are looked up, all in two queries)."""
    people_ids, department_ids = referenced_ids(e.details for e in events)
    people = load_users(session, principal.org_id, people_ids)
    names = Names(
        people={u.id: u.display_name + _STATUS_NOTE.get(u.status, "") for u in people.values()},
        departments=get_department_names(session, principal.org_id, department_ids),
        zone=zone_for(session, principal),
    )
    return [
        {
            "event": e,
            "label": action_label(e.action),
            "details": describe_details(e.details, names),
        }
        for e in events
    ]


def settings_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    new_token: str = "",
    error: str = "",
    values: dict[str, Any] | None = None,
    field_errors: dict[str, str] | None = None,
    chosen_plan: str = "",
    status_code: int = 200,
) -> Response:
    org = principal.organization(session)
    plans = [(p.value, limit) for p, limit in SEAT_LIMITS.items()]
    # After an error the form shows what was entered, not what is stored.
    shown = {
        "restore_window_days": str(org.restore_window_days),
        "show_former_employee_names": org.show_former_employee_names,
        "employees_may_change_photo": org.employees_may_change_photo,
        "timezone": org.timezone,
        **(values or {}),
    }
    return render(
        request,
        "admin/settings.html",
        {
            "section": "settings",
            "plans": plans,
            "chosen_plan": chosen_plan if chosen_plan in {p for p, _ in plans} else org.plan,
            "values": shown,
            "seats": get_seat_ledger(session, principal.org_id),
            "scim_tokens": scim_tokens.list_scim_tokens(session, principal.org_id),
            # What an identity provider is given (Entra ID calls it the tenant URL): the address
            # people reach Roster at (ROSTER_BASE_URL, as in mailed links), not the one this
            # request came in by, which behind a proxy may be an inner one.
            "scim_url": app_settings(request).base_url.rstrip("/") + SCIM_PREFIX,
            "new_token": new_token,
            "error": error,
            "field_errors": field_errors or {},
            "organization": org,
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/admin/settings")
def settings(request: Request, principal: WebAdmin, session: DB, plan: str = "") -> Response:
    """The settings; ``plan`` is the plan a refused change asked for, still chosen in the form."""
    return settings_page(
        request, principal, session, new_token=take_secret(request, principal), chosen_plan=plan[:20]
    )


@router.post("/admin/settings/plan")
def set_plan(
    request: Request, principal: WebAdmin, session: DB, plan: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    """Move to another plan; a plan smaller than the seats in use is refused with the reason."""
    try:
        with session.begin_nested():
            change_plan(session, principal.org_id, actor=principal.user, plan=plan)
    except errors.RosterError as exc:
        reason = exc.detail
        action = None
        if isinstance(exc, errors.PlanTooSmall):
            # The API's detail names the plan by its code; the page names it as the seat meter does.
            reason = (
                f"the {plan_name(plan)} has {exc.extra.get('limit')} seats but {exc.extra.get('used')} "
                "are in use. Revoke pending invitations or dismiss people first."
            )
            # And leads to where a seat is freed: the invitations while any hold one.
            if exc.extra.get("pending_invitations"):
                action = FlashAction("See pending invitations", "/people/invited", method="get")
            else:
                action = FlashAction("See active people", "/people", method="get")
        # Back to the settings page itself (a GET), with the plan that was asked for still chosen.
        return redirect(
            "/admin/settings?" + urlencode({"plan": plan[:20]}),
            request,
            f"Not changed: {reason}",
            "error",
            action,
        )
    return redirect("/admin/settings", request, f"You are on the {plan_name(plan)} now.")


@router.post("/admin/settings")
def save_settings(
    request: Request,
    principal: WebAdmin,
    session: DB,
    restore_window_days: Annotated[str, Form(max_length=10)] = "",
    employees_may_change_photo: Annotated[str, Form(max_length=10)] = "",
    show_former_employee_names: Annotated[str, Form(max_length=10)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    may_change_photo = employees_may_change_photo == "on"
    show_names = show_former_employee_names == "on"
    values: dict[str, Any] = {
        "restore_window_days": restore_window_days,
        "employees_may_change_photo": may_change_photo,
        "show_former_employee_names": show_names,
        **({"timezone": timezone} if timezone else {}),
    }
    try:
        days = int(restore_window_days)
    except ValueError:
        return _settings_refused(
            request,
            principal,
            session,
            values,
            {"restore_window_days": "The restore window is a number of days."},
        )
    try:
        with session.begin_nested():
            update_organization_settings(
                session,
                principal.org_id,
                actor=principal.user,
                restore_window_days=days,
                employees_may_change_photo=may_change_photo,
                show_former_employee_names=show_names,
                timezone=timezone or None,  # a form from before the field leaves it as it is
            )
    except errors.RosterError as exc:
        field = str(exc.extra.get("field") or "")
        if field not in ("restore_window_days", "timezone"):
            return settings_page(
                request, principal, session, error=exc.detail, values=values, status_code=exc.status
            )
        return _settings_refused(request, principal, session, values, {field: exc.detail}, exc.status)
    return redirect("/admin/settings", request, "Settings saved.")


def _settings_refused(
    request: Request,
    principal: Principal,
    session: Session,
    values: dict[str, Any],
    field_errors: dict[str, str],
    status_code: int = 422,
) -> Response:
    """The settings form again, each refused value marked on its field. A time zone that is not
    one of the list's (a form changed by hand) cannot be chosen in it again: the list shows the
    stored zone, the error names the one sent."""
    shown = dict(values)
    if "timezone" in field_errors:
        shown.pop("timezone", None)
    return settings_page(
        request,
        principal,
        session,
        values=shown,
        field_errors=field_errors,
        status_code=status_code,
    )


@router.post("/admin/scim-tokens")
def create_scim_token(
    request: Request, principal: WebAdmin, session: DB, name: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """A token for the identity provider, shown once: on the settings page the redirect leads to,
    never on a reload of it."""
    try:
        with session.begin_nested():
            issued = scim_tokens.create_scim_token(session, principal.org_id, actor=principal.user, name=name)
    except errors.RosterError as exc:
        return settings_page(
            request,
            principal,
            session,
            error=f"No token was created: {exc.detail}",
            values={"token_name": name},
            status_code=exc.status,
        )
    response = redirect("/admin/settings#scim-title")
    return show_secret_once(response, request, principal, issued.secret, path="/admin/settings")


@router.post("/admin/scim-tokens/{scim_token_id}/revoke")
def revoke_scim_token(
    request: Request, principal: WebAdmin, session: DB, scim_token_id: uuid.UUID
) -> Response:
    stored = session.get(ScimToken, (principal.org_id, scim_token_id))
    if stored is not None and stored.revoked_at is not None:
        # Sent twice (a second tab, Back): what was asked is done, so say so rather than "not found".
        return redirect("/admin/settings", request, "That SCIM token was revoked already.")
    token = scim_tokens.get_scim_token(session, principal.org_id, scim_token_id)
    scim_tokens.revoke_scim_token(session, token, actor=principal.user)
    return redirect(
        "/admin/settings", request, "The SCIM token is revoked; the identity provider is cut off."
    )
