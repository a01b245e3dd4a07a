"""Errors that name the condition. Each maps to one stable problem+json ``code``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class RosterError(Exception):
    """Base of every refusal. ``extra`` becomes extra members of the problem+json body."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)


class NotFound(RosterError):
    status, code, title = 404, "not_found", "Not found"


class Gone(RosterError):
    status, code, title = 410, "gone", "Gone"


class Unauthorized(RosterError):
    status, code, title = 401, "unauthorized", "Authentication required"


class InvalidCredentials(Unauthorized):
    code, title = "invalid_credentials", "Invalid credentials"


class WrongPassword(RosterError):
    """A signed-in person's current password, asked again before a change, is not right (not a
    401: their session is fine)."""

    status, code, title = 422, "wrong_password", "Wrong password"


class Forbidden(RosterError):
    status, code, title = 403, "forbidden", "Forbidden"


class AdminOnly(Forbidden):
    """The part asked for is for administrators (the same code: the API's callers see no change)."""


class CsrfFailed(Forbidden):
    code, title = "csrf_failed", "The form has expired; reload the page and try again"


class TooManyRequests(RosterError):
    status, code, title = 429, "too_many_requests", "Too many attempts"

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class Conflict(RosterError):
    status, code, title = 409, "conflict", "Conflict"


class ValidationFailed(RosterError):
    status, code, title = 422, "validation_failed", "Invalid input"


class PayloadTooLarge(RosterError):
    status, code, title = 413, "too_large", "Too large"


class UnsupportedMediaType(RosterError):
    """A request body in a media type the route does not read (JSON sent as text/plain)."""

    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class OrganizationExists(Conflict):
    code, title = "organization_exists", "An organization with this slug exists"


class InvalidSlug(ValidationFailed):
    code, title = "invalid_slug", "Invalid organization slug"


class EmailInUse(Conflict):
    code, title = "email_in_use", "The email address is in use"


class InvalidEmail(ValidationFailed):
    code, title = "invalid_email", "Invalid email address"


class WeakPassword(ValidationFailed):
    code, title = "weak_password", "Password too weak"


class SystemUserImmutable(Conflict):
    code, title = "system_user_immutable", "The System User cannot be changed"


class InactiveUser(ValidationFailed):
    code, title = "inactive_user", "That person is not an active user"


class InvalidToken(NotFound):
    code, title = "invalid_token", "The link is invalid or has been used"


class TokenExpired(Gone):
    code, title = "token_expired", "The link has expired"


class SeatLimitReached(Conflict):
    code, title = "seat_limit_reached", "Every seat of the plan is taken"


class PlanTooSmall(Conflict):
    code, title = "plan_too_small", "The plan has fewer seats than are in use"


class EmailBelongsToDismissedUser(Conflict):
    code, title = "email_belongs_to_dismissed_user", "The email belongs to a dismissed user"


class InvitationExpired(Gone):
    code, title = "invitation_expired", "The invitation has expired"


class InvitationNotFound(NotFound):
    code, title = "invitation_not_found", "The invitation is invalid, used or revoked"


class LastAdmin(Conflict):
    code, title = "last_admin", "The organization needs at least one active administrator"


class CannotActOnSelf(Conflict):
    code, title = "cannot_act_on_self", "You cannot do this to your own account"


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "The user is not in a state that allows this"


class UnknownUser(ValidationFailed):
    code, title = "unknown_user", "No such user in this organization"


class EmptyText(ValidationFailed):
    code, title = "empty_text", "The text must not be empty"


class TextTooLong(ValidationFailed):
    code, title = "text_too_long", "The text is too long"


class NotAGroupChat(Conflict):
    code, title = "not_a_group_chat", "Only group chats have members to add or remove"


class NotAPerson(Conflict):
    code, title = "not_a_person", "The System User is not a person to converse with"


class ConfirmationMismatch(ValidationFailed):
    code, title = "confirmation_mismatch", "Type the user's email address to confirm"


class RestoreWindowPassed(Gone):
    code, title = "restore_window_passed", "The restore window has passed"


class RestoreBlocked(Conflict):
    code, title = "restore_blocked", "It cannot be restored before what it belongs to"


class DispositionNotAllowed(ValidationFailed):
    code, title = "disposition_not_allowed", "That disposition is not allowed for this kind"


class InvalidSuccessor(ValidationFailed):
    code, title = "invalid_successor", "The successor must be another active user"


class InvalidImage(ValidationFailed):
    code, title = "invalid_image", "The file is not an image Roster accepts"


class DepartmentCycle(ValidationFailed):
    code, title = "department_cycle", "A department cannot be placed under itself or its own sub-department"


class UnknownDepartment(ValidationFailed):
    code, title = "unknown_department", "No such department in this organization"


class NotInAudience(ValidationFailed):
    code, title = "not_in_audience", "That person cannot see this post"


class EmptyFile(ValidationFailed):
    code, title = "empty_file", "The file is empty"


class InvalidFileName(ValidationFailed):
    code, title = "invalid_file_name", "The file name is not allowed"


class BulkRefused(Conflict):
    """Some of the people a bulk action names cannot be acted on; ``refused`` lists each with its
    own code and detail, and nothing was changed."""

    code, title = "bulk_refused", "Some of these people cannot be acted on"


class FieldRefusals:
    """The refusals of a request's fields, gathered so that one answer names every field at fault
    (a stale form naming two people who have left since), not only the first one checked.

    ``raise_any`` raises the first refusal, so the answer's ``code``, ``field`` and ``detail`` are
    the ones a single refusal has, and adds ``errors``: one entry per field at fault, each with its
    ``field``, ``code``, ``message`` and the people it names (``user_id``, ``user_ids``)."""

    NAMED = ("user_id", "user_ids")

    def __init__(self) -> None:
        self.refusals: list[RosterError] = []

    def check(self, check: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T | None:
        """``check(*args, **kwargs)``, or None when it refuses a field (the refusal is kept for
        ``raise_any``); a refusal that names no field is raised at once."""
        try:
            return check(*args, **kwargs)
        except RosterError as exc:
            if exc.extra.get("field") is None:
                raise
            self.refusals.append(exc)
            return None

    def raise_any(self) -> None:
        """Raise the first refusal kept, listing every one in its ``errors``; nothing if none."""
        if not self.refusals:
            return
        first = self.refusals[0]
        first.extra["errors"] = [
            {
                "field": r.extra["field"],
                "code": r.code,
                "message": r.detail,
                **{k: r.extra[k] for k in self.NAMED if k in r.extra},
            }
            for r in self.refusals
        ]
        raise first
