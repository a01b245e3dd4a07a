"""Deletion with reassignment, restore, erase, merge, transfer and the authorship map (admin only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from roster.accounts import service as accounts
from roster.accounts.deps import DB, AdminUser
from roster.accounts.schemas import user_out, user_ref
from roster.domain import errors
from roster.lifecycle import bulk, deletion
from roster.lifecycle.deletion_schemas import (
    AuthorshipOut,
    AuthorshipPage,
    BulkDeleteIn,
    BulkDeletionItem,
    BulkDeletionOut,
    DeleteIn,
    DeletionOut,
    DeletionPreviewOut,
    DispositionIn,
    EraseIn,
    ErasureOut,
    MergeIn,
    MergeOut,
    PreviewReferenceOut,
    RestoreOut,
    TransferIn,
    TransferOut,
)

router = APIRouter(tags=["lifecycle"])

Page = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=200)]


def _plan(body: DispositionIn | None) -> deletion.DispositionPlan | None:
    if body is None:
        return None
    return deletion.DispositionPlan(default=body.default, successor_id=body.successor_id, kinds=body.kinds)


@router.get("/users/{user_id}/deletion-preview", response_model=DeletionPreviewOut)
def deletion_preview(user_id: uuid.UUID, principal: AdminUser, session: DB) -> DeletionPreviewOut:
    """Per kind of reference: how many visible, how many more in the trash, and which
    dispositions each allows."""
    user = accounts.get_user(session, principal.org_id, user_id)
    if user.is_system:  # what it holds can be handed on (transfer), but it is never deleted
        raise errors.SystemUserImmutable("The System User cannot be deleted.")
    preview = deletion.preview_deletion(session, user)
    return DeletionPreviewOut(
        user=user_out(user),
        references=[
            PreviewReferenceOut(
                kind=i.kind,
                label=i.label,
                count=i.count,
                dispositions=i.dispositions,
                in_trash=i.in_trash,
                open=i.open,
            )
            for i in preview.references
        ],
        total=preview.total,
        total_in_trash=preview.total_in_trash,
    )


# Before /users/{user_id}/delete, whose path would take "bulk" for an id.
@router.post("/users/bulk/delete", response_model=BulkDeletionOut)
def delete_many(body: BulkDeleteIn, principal: AdminUser, session: DB) -> BulkDeletionOut:
    """Delete up to 200 people at once, each restorable on their own, or none: `confirm` is their
    number; 409 `bulk_refused` lists each who cannot be deleted."""
    plan = None
    if body.disposition is not None:
        plan = deletion.DispositionPlan(
            default=body.disposition.default, successor_id=body.disposition.successor_id
        )
    done = bulk.delete_users(
        session, body.user_ids, actor=principal.user, confirm=body.confirm, disposition=plan
    )
    return BulkDeletionOut(
        items=[
            BulkDeletionItem(
                user=user_out(r.user), operation_id=r.operation_id, moved=r.moved, deleted=r.deleted
            )
            for r in done
        ]
    )


@router.post("/users/{user_id}/delete", response_model=DeletionOut)
def delete(
    user_id: uuid.UUID, principal: AdminUser, session: DB, body: DeleteIn | None = None
) -> DeletionOut:
    """Delete a user (restorable within the organization's window); `confirm` is their email."""
    body = body or DeleteIn()
    user = accounts.get_user(session, principal.org_id, user_id)
    result = deletion.delete_user(
        session, user, actor=principal.user, confirm=body.confirm, disposition=_plan(body.disposition)
    )
    return DeletionOut(
        user=user_out(result.user),
        operation_id=result.operation_id,
        moved=result.moved,
        deleted=result.deleted,
    )


@router.post("/users/{user_id}/restore", response_model=RestoreOut)
def restore(user_id: uuid.UUID, principal: AdminUser, session: DB) -> RestoreOut:
    """Bring a deleted user back (as dismissed) with everything the deletion moved or hid."""
    user = accounts.get_user(session, principal.org_id, user_id)
    result = deletion.restore_user(session, user, actor=principal.user)
    return RestoreOut(
        **user_out(result.user).model_dump(),
        operation_id=result.operation_id,
        restored=result.restored,
        left=result.left,
        unhidden=result.unhidden,
    )


@router.post("/users/{user_id}/erase", response_model=ErasureOut)
def erase(user_id: uuid.UUID, principal: AdminUser, session: DB, body: EraseIn | None = None) -> ErasureOut:
    """Delete and purge at once, leaving only a pseudonym (GDPR Art. 17)."""
    body = body or EraseIn()
    user = accounts.get_user(session, principal.org_id, user_id)
    result = deletion.erase_user(
        session, user, actor=principal.user, confirm=body.confirm, disposition=_plan(body.disposition)
    )
    return ErasureOut(
        user=user_out(result.user),
        operation_id=result.operation_id,
        pseudonym=result.pseudonym,
        moved=result.moved,
        deleted=result.deleted,
        destroyed=result.destroyed,
    )


@router.post("/users/{user_id}/merge", response_model=MergeOut)
def merge(user_id: uuid.UUID, body: MergeIn, principal: AdminUser, session: DB) -> MergeOut:
    """Move every reference of a duplicate account to `into_id`, then delete it (restorable)."""
    source = accounts.get_user(session, principal.org_id, user_id)
    into = accounts.get_named_user(session, principal.org_id, body.into_id, field="into_id")
    result = deletion.merge_users(session, source, into=into, actor=principal.user, confirm=body.confirm)
    return MergeOut(
        user=user_out(result.user),
        into=user_out(result.into),
        operation_id=result.operation_id,
        moved=result.moved,
        deleted=result.deleted,
    )


@router.post("/users/{user_id}/transfer", response_model=TransferOut)
def transfer(user_id: uuid.UUID, body: TransferIn, principal: AdminUser, session: DB) -> TransferOut:
    """Hand references to an active user without deleting anyone."""
    from_user = accounts.get_user(session, principal.org_id, user_id)
    to = accounts.get_named_user(session, principal.org_id, body.to_id, field="to_id")
    handed = deletion.transfer_references(
        session,
        from_user,
        to=to,
        actor=principal.user,
        kinds=body.kinds,
        originally_by=body.originally_by,
        include_closed=body.include_closed,
    )
    return TransferOut(
        moved=handed.moved, kept_closed=handed.kept_closed, kept_duplicate=handed.kept_duplicate
    )


def _page(entries: list[deletion.AuthorshipEntry], total: int) -> AuthorshipPage:
    return AuthorshipPage(
        items=[
            AuthorshipOut(
                kind=e.kind,
                object_id=e.object_id,
                original_user=user_ref(e.original_user),
                original_display_name=e.original_display_name,
                moved_to=user_ref(e.moved_to),
                moved_at=e.moved_at,
                operation_id=e.operation_id,
                restored_at=e.restored_at,
            )
            for e in entries
        ],
        total=total,
    )


@router.get("/users/{user_id}/authorship", response_model=AuthorshipPage)
def user_authorship(
    user_id: uuid.UUID,
    principal: AdminUser,
    session: DB,
    kind: str | None = Query(default=None, max_length=100),
    include_restored: bool = False,
    page: Page = 1,
    per_page: PerPage = 50,
) -> AuthorshipPage:
    """What the map says was originally this user's, newest move first."""
    user = accounts.get_user(session, principal.org_id, user_id)
    entries, total = deletion.list_authorship(
        session,
        principal.org_id,
        user_id=user.id,
        kind=kind,
        include_restored=include_restored,
        page=page,
        per_page=per_page,
    )
    return _page(entries, total)


@router.get("/authorship", response_model=AuthorshipPage)
def authorship(
    principal: AdminUser,
    session: DB,
    kind: str | None = Query(default=None, max_length=100),
    object_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    include_restored: bool = False,
    page: Page = 1,
    per_page: PerPage = 50,
) -> AuthorshipPage:
    """The authorship map, filtered by kind, object or original user."""
    entries, total = deletion.list_authorship(
        session,
        principal.org_id,
        kind=kind,
        object_id=object_id,
        user_id=user_id,
        include_restored=include_restored,
        page=page,
        per_page=per_page,
    )
    return _page(entries, total)
