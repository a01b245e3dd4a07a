"""Request and response shapes of the invitations, lifecycle, seats, settings and audit API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from roster import clock
from roster.accounts.schemas import UserOut
from roster.lifecycle.models import AuditEvent, Invitation
from roster.patches import Patch


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    role: Literal["admin", "employee"] = "employee"
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    position: str = Field(default="", max_length=200)
    department_id: uuid.UUID | None = None


class InvitationOut(BaseModel):
    id: uuid.UUID
    email: str
    role: str
    status: Literal["pending", "accepted", "revoked", "expired"]
    first_name: str
    last_name: str
    position: str
    department_id: uuid.UUID | None
    invited_by: uuid.UUID
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    accepted_user_id: uuid.UUID | None
    revoked_at: datetime | None
    accept_url: str | None = None


def invitation_out(invitation: Invitation, url: str | None = None) -> InvitationOut:
    """The API shape; a pending invitation past its expiry already reads as expired."""
    status = invitation.status
    if status == "pending" and invitation.expires_at <= clock.now():
        status = "expired"
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        status=status,  # type: ignore[arg-type]
        first_name=invitation.first_name,
        last_name=invitation.last_name,
        position=invitation.position,
        department_id=invitation.department_id,
        invited_by=invitation.invited_by,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        accepted_at=invitation.accepted_at,
        accepted_user_id=invitation.accepted_user_id,
        revoked_at=invitation.revoked_at,
        accept_url=url,
    )


class InvitationPage(BaseModel):
    items: list[InvitationOut]
    total: int


class BulkRow(BaseModel):
    email: str = Field(max_length=320)
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    position: str = Field(default="", max_length=200)
    department_id: uuid.UUID | None = None
    role: Literal["admin", "employee"] | None = None


class BulkInvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    emails: list[str] = Field(default_factory=list, max_length=1000)
    invitations: list[BulkRow] = Field(default_factory=list, max_length=1000)
    role: Literal["admin", "employee"] = "employee"


class BulkFailure(BaseModel):
    email: str
    code: str
    detail: str
    user_id: str | None = Field(
        default=None,
        description="With `email_belongs_to_dismissed_user`: the dismissed person (offer rehire); "
        "with `email_in_use` for a colleague's address: that colleague.",
    )
    invitation_id: str | None = Field(
        default=None,
        description="With `email_in_use` for a pending invitation: that invitation (offer resend).",
    )
    plan: str | None = Field(default=None, description="With `seat_limit_reached`: the organization's plan.")
    limit: int | None = Field(default=None, description="With `seat_limit_reached`: the plan's seats.")
    department: str | None = Field(
        default=None, description="With `unknown_department`: the department the row named."
    )


class BulkInvitationOut(BaseModel):
    created: list[InvitationOut]
    failed: list[BulkFailure]


class InvitationLookupOut(BaseModel):
    organization: str
    organization_name: str
    email: str
    first_name: str
    last_name: str
    expires_at: datetime


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=300)
    password: str = Field(max_length=1024)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)


class AcceptOut(BaseModel):
    user: UserOut
    access_token: str
    token_type: str = "bearer"


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


class SeatsOut(BaseModel):
    plan: str
    limit: int | None
    used: int
    active: int
    pending_invitations: int
    available: int | None


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: Literal["free", "plus", "standard", "professional", "enterprise"]


class PlanOut(BaseModel):
    plan: str
    limit: int | None
    seats: SeatsOut


class SettingsOut(BaseModel):
    restore_window_days: int
    employees_may_change_photo: bool
    show_former_employee_names: bool
    timezone: str  # IANA name; pages show times in it for people who chose no zone of their own


class SettingsPatch(Patch):
    # Strict: lax validation would read true as one day and "no" as false.
    restore_window_days: StrictInt | None = Field(default=None, ge=1, le=3650)
    employees_may_change_photo: StrictBool | None = None
    show_former_employee_names: StrictBool | None = None
    timezone: str | None = Field(default=None, max_length=64)


class AuditPerson(BaseModel):
    id: uuid.UUID | None
    display_name: str


class AuditEventOut(BaseModel):
    id: uuid.UUID
    seq: int
    created_at: datetime
    action: str
    actor: AuditPerson
    subject: AuditPerson | None
    details: dict[str, Any]
    redacted: bool
    hash: str


def audit_event_out(event: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        id=event.id,
        seq=event.seq,
        created_at=event.created_at,
        action=event.action,
        actor=AuditPerson(id=event.actor_id, display_name=event.actor_display),
        subject=(
            AuditPerson(id=event.subject_id, display_name=event.subject_display)
            if event.subject_id is not None or event.subject_display
            else None
        ),
        details=event.details or {},
        redacted=bool(event.redactions),
        hash=event.hash,
    )


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    total: int


class VerifyOut(BaseModel):
    ok: bool
    events: int
    redacted: int
    problems: list[dict[str, Any]]


class BulkDismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # As sent: duplicates count once, and 1 to 200 distinct ids are taken (the service's rule).
    user_ids: list[uuid.UUID] = Field(max_length=1000)
    reason: str | None = Field(default=None, max_length=1000)


class BulkUsersOut(BaseModel):
    items: list[UserOut]
