"""Errors that name the condition. Each maps to one stable problem+json ``code``."""

from __future__ import annotations

from typing import Any, ClassVar


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


class Forbidden(RosterError):
    status, code, title = 403, "forbidden", "Forbidden"


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
