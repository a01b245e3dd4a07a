"""Invitations, dismiss/rehire, seats, plan, organization settings and the audit log (admin only,
except looking up and accepting an invitation)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.deps import DB, AdminUser, AppSettings
from roster.accounts.schemas import UserOut, user_out
from roster.domain import errors
from roster.lifecycle import audit, bulk, invitations, users
from roster.lifecycle.schemas import (
    AcceptIn,
    AcceptOut,
    AuditPage,
    BulkDismissIn,
    BulkFailure,
    BulkInvitationIn,
    BulkInvitationOut,
    BulkRow,
    BulkUsersOut,
    DismissIn,
    InvitationIn,
    InvitationLookupOut,
    InvitationOut,
    InvitationPage,
    PlanIn,
    PlanOut,
    SeatsOut,
    SettingsOut,
    SettingsPatch,
    VerifyOut,
    audit_event_out,
    invitation_out,
)
from roster.lifecycle.seats import get_seat_ledger
from roster.locations import set_location
from roster.problems import field_errors, reads_as_json, unsupported_media_type
from roster.settings import Settings

router = APIRouter(tags=["lifecycle"])

Page = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=200)]


@router.post("/invitations", status_code=status.HTTP_201_CREATED, response_model=InvitationOut)
def create_invitation(
    body: InvitationIn, admin: AdminUser, session: DB, settings: AppSettings
) -> InvitationOut:
    """Invite a person; takes a seat. The answer's ``accept_url`` can be shared by hand."""
    invitation, url = invitations.invite_user(
        session,
        admin.org_id,
        actor=admin.user,
        email=body.email,
        role=body.role,
        first_name=body.first_name,
        last_name=body.last_name,
        position=body.position,
        department_id=body.department_id,
        settings=settings,
    )
    return invitation_out(invitation, url)


def _bulk(
    session: Session, admin_user: Any, org_id: uuid.UUID, rows: list[Any], role: str, settings: Settings
) -> BulkInvitationOut:
    result = invitations.invite_many(
        session, org_id, actor=admin_user, rows=rows, role=role, settings=settings
    )
    return BulkInvitationOut(
        created=[invitation_out(inv, url) for inv, url in result.created],
        failed=[BulkFailure(**f) for f in result.failed],
    )


@router.post(
    "/invitations/bulk",
    response_model=BulkInvitationOut,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "emails": {"type": "array", "items": {"type": "string"}, "maxItems": 1000},
                            "invitations": {
                                "type": "array",
                                "items": BulkRow.model_json_schema(),
                                "maxItems": 1000,
                            },
                            "role": {"type": "string", "enum": ["admin", "employee"]},
                        },
                    }
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "role": {"type": "string", "enum": ["admin", "employee"]},
                        },
                        "required": ["file"],
                    }
                },
            },
            "required": True,
        }
    },
)
async def bulk_invitations(
    request: Request, admin: AdminUser, session: DB, settings: AppSettings
) -> BulkInvitationOut:
    """Invite many: JSON ``{"emails": [...]}`` or a CSV upload (``email,first_name,last_name,
    position,department``). Each row succeeds or fails on its own: its address first
    (``invalid_email``, ``email_in_use``, ``email_belongs_to_dismissed_user`` with ``user_id``),
    then its department (by name or id; ``unknown_department`` when no single one has it, since
    departments are not created from the file). Any other body is 415 ``unsupported_media_type``."""
    content_type = request.headers.get("content-type", "")
    rows: list[Any]
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form()
        except HTTPException as exc:
            if exc.status_code == 413:
                raise  # the request's body limit, not a malformed form
            raise errors.ValidationFailed(
                "The upload is not a well-formed multipart form.", field="file"
            ) from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise errors.ValidationFailed("Upload the CSV file as the form field 'file'.", field="file")
        limit = min(settings.max_upload_bytes, invitations.CSV_MAX_BYTES)
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise errors.PayloadTooLarge(
                f"The CSV file is larger than {limit / (1024 * 1024):g} MB.", limit=limit, max_bytes=limit
            )
        role = str(form.get("role") or "employee")
        if role not in ("admin", "employee"):
            # As the JSON form's ``role`` is checked: the whole request, not each row.
            raise errors.ValidationFailed("The role must be admin or employee.", field="role")
        rows = invitations.parse_invitation_csv(data)
    elif not reads_as_json(content_type):
        raise unsupported_media_type(content_type, "application/json, or a CSV file as multipart/form-data")
    else:
        try:
            body = BulkInvitationIn.model_validate_json(await request.body())
        except ValidationError as exc:
            problems = field_errors(exc.errors())
            raise errors.ValidationFailed(
                "Send {'emails': [...]} or upload a CSV file.",
                field=problems[0]["field"] if problems else None,
                errors=problems,
            ) from None
        role = body.role
        rows = list(body.emails) + [r.model_dump(exclude_none=True) for r in body.invitations]
    if not rows:
        raise errors.ValidationFailed("No one to invite.", field="emails")
    return await run_in_threadpool(_bulk, session, admin.user, admin.org_id, rows, role, settings)


@router.get("/invitations", response_model=InvitationPage)
def list_invitations(
    admin: AdminUser,
    session: DB,
    status: str | None = None,
    page: Page = 1,
    per_page: PerPage = 50,
) -> InvitationPage:
    """Invitations, newest first, optionally by status."""
    items, total = invitations.list_invitations(
        session, admin.org_id, status=status, page=page, per_page=per_page
    )
    return InvitationPage(items=[invitation_out(i) for i in items], total=total)


@router.get("/invitations/lookup", response_model=InvitationLookupOut)
def lookup_invitation(session: DB, token: Annotated[str, Query(max_length=300)] = "") -> InvitationLookupOut:
    """What an invitation link is for (public). 404 unknown, used or revoked; 410 expired."""
    invitation, org = invitations.lookup_invitation(session, token)
    return InvitationLookupOut(
        organization=org.slug,
        organization_name=org.name,
        email=invitation.email,
        first_name=invitation.first_name,
        last_name=invitation.last_name,
        expires_at=invitation.expires_at,
    )


@router.post("/invitations/accept", status_code=status.HTTP_201_CREATED, response_model=AcceptOut)
def accept_invitation(
    body: AcceptIn, request: Request, response: Response, session: DB, settings: AppSettings
) -> AcceptOut:
    """Accept an invitation (public): the person becomes an active user and is signed in."""
    user, issued = invitations.accept_invitation(
        session,
        token=body.token,
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
        settings=settings,
    )
    set_location(request, response, f"/users/{user.id}")
    return AcceptOut(user=user_out(user), access_token=issued.secret)


@router.post("/invitations/{invitation_id}/resend", response_model=InvitationOut)
def resend_invitation(
    invitation_id: uuid.UUID, admin: AdminUser, session: DB, settings: AppSettings
) -> InvitationOut:
    """A new token and expiry, mailed again; the old link stops working."""
    invitation = invitations.get_invitation(session, admin.org_id, invitation_id)
    invitation, url = invitations.resend_invitation(session, invitation, actor=admin.user, settings=settings)
    return invitation_out(invitation, url)


@router.delete("/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_invitation(invitation_id: uuid.UUID, admin: AdminUser, session: DB) -> Response:
    """Revoke: the link dies and the seat is freed."""
    invitation = invitations.get_invitation(session, admin.org_id, invitation_id)
    invitations.revoke_invitation(session, invitation, actor=admin.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Before /users/{user_id}/dismiss, whose path would take "bulk" for an id.
@router.post("/users/bulk/dismiss", response_model=BulkUsersOut)
def dismiss_many(body: BulkDismissIn, admin: AdminUser, session: DB) -> BulkUsersOut:
    """Dismiss up to 200 people at once, or none: 409 `bulk_refused` lists each who cannot be."""
    done = bulk.dismiss_users(session, body.user_ids, actor=admin.user, reason=body.reason)
    return BulkUsersOut(items=[user_out(user) for user in done])


@router.post("/users/{user_id}/dismiss", response_model=UserOut)
def dismiss(user_id: uuid.UUID, admin: AdminUser, session: DB, body: DismissIn | None = None) -> UserOut:
    """Dismiss: no more sign-in, every session and token ends now, the seat is freed."""
    user = accounts.get_user(session, admin.org_id, user_id)
    user = users.dismiss_user(session, user, actor=admin.user, reason=body.reason if body else None)
    return user_out(user)


@router.post("/users/{user_id}/rehire", response_model=UserOut)
def rehire(user_id: uuid.UUID, admin: AdminUser, session: DB) -> UserOut:
    """Rehire a dismissed user, if a seat is free."""
    user = accounts.get_user(session, admin.org_id, user_id)
    return user_out(users.rehire_user(session, user, actor=admin.user))


@router.get("/seats", response_model=SeatsOut)
def seats(admin: AdminUser, session: DB) -> SeatsOut:
    """The seat ledger: plan, limit, used (active + pending invitations), available."""
    return SeatsOut(**get_seat_ledger(session, admin.org_id).as_dict())


@router.put("/organization/plan", response_model=PlanOut)
def change_plan(body: PlanIn, admin: AdminUser, session: DB) -> PlanOut:
    """Switch plans; 409 ``plan_too_small`` when more seats are in use than it has."""
    users.change_plan(session, admin.org_id, actor=admin.user, plan=body.plan)
    ledger = get_seat_ledger(session, admin.org_id)
    return PlanOut(plan=ledger.plan, limit=ledger.limit, seats=SeatsOut(**ledger.as_dict()))


@router.get("/organization/plan", response_model=PlanOut)
def get_plan(admin: AdminUser, session: DB) -> PlanOut:
    """The current plan and its seats."""
    ledger = get_seat_ledger(session, admin.org_id)
    return PlanOut(plan=ledger.plan, limit=ledger.limit, seats=SeatsOut(**ledger.as_dict()))


@router.get("/organization/settings", response_model=SettingsOut)
def get_settings(admin: AdminUser, session: DB) -> SettingsOut:
    """The organization's settings."""
    return SettingsOut(**users.organization_settings(admin.organization(session)))


@router.patch("/organization/settings", response_model=SettingsOut)
def patch_settings(body: SettingsPatch, admin: AdminUser, session: DB) -> SettingsOut:
    """Change settings; the audit log keeps old and new values."""
    org = users.update_organization_settings(
        session,
        admin.org_id,
        actor=admin.user,
        restore_window_days=body.restore_window_days,
        employees_may_change_photo=body.employees_may_change_photo,
        show_former_employee_names=body.show_former_employee_names,
        timezone=body.timezone,
    )
    return SettingsOut(**users.organization_settings(org))


@router.get("/audit", response_model=AuditPage)
def list_audit(
    admin: AdminUser,
    session: DB,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: Page = 1,
    per_page: PerPage = 50,
) -> AuditPage:
    """The audit log, newest first; ``action=user.`` matches every user event."""
    items, total = audit.list_audit_events(
        session,
        admin.org_id,
        action=action,
        actor_id=actor_id,
        subject_id=subject_id,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        page=page,
        per_page=per_page,
    )
    return AuditPage(items=[audit_event_out(e) for e in items], total=total)


def _aware(moment: datetime | None, field: str) -> datetime | None:
    """A filter's time in UTC (one without a zone is read as UTC); 422 when UTC cannot hold it."""
    if moment is None:
        return None
    try:
        return clock.to_utc(moment)
    except ValueError as exc:
        raise errors.ValidationFailed(f"{field}: {exc}", field=field) from None


CSV_HEADER = [
    "seq",
    "created_at",
    "action",
    "actor_id",
    "actor",
    "subject_id",
    "subject",
    "details",
    "redacted",
    "hash",
]


@router.get(
    "/audit/export.csv",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The events as CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
def export_audit(
    request: Request,
    admin: AdminUser,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    """The (filtered) audit log as CSV, newest first, streamed in batches."""
    factory: sessionmaker[Session] = request.app.state.sessions["read"]
    org_id = admin.org_id
    filters: dict[str, Any] = {
        "action": action,
        "actor_id": actor_id,
        "subject_id": subject_id,
        "since": _aware(since, "since"),
        "until": _aware(until, "until"),
    }

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_HEADER)
        # Its own session: the request's is closed once the response starts streaming.
        with factory() as session:
            for n, event in enumerate(audit.iter_audit_events(session, org_id, **filters)):
                writer.writerow(
                    [
                        event.seq,
                        event.created_at.isoformat(),
                        event.action,
                        event.actor_id or "",
                        _cell(event.actor_display),
                        event.subject_id or "",
                        _cell(event.subject_display),
                        _cell(json.dumps(event.details or {}, sort_keys=True, ensure_ascii=False)),
                        "yes" if event.redactions else "",
                        event.hash,
                    ]
                )
                if n % 200 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection)."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


@router.get("/audit/verify", response_model=VerifyOut)
def verify_audit(admin: AdminUser, session: DB) -> VerifyOut:
    """Check the organization's audit chain: ``ok`` is false if any event was edited or removed."""
    result = audit.verify_chain(session, admin.org_id)
    return VerifyOut(**result.as_dict())
