"""Request and response shapes of deletion, restore, erase, merge, transfer and the authorship map."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from roster.accounts.schemas import UserOut, UserRef
from roster.references import Disposition


class DispositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: Disposition = Disposition.SYSTEM_USER
    successor_id: uuid.UUID | None = None
    kinds: dict[str, Disposition] = Field(default_factory=dict, max_length=500)


# ``confirm`` has no length limit of its own: any text that is not the email (a long one included)
# is answered 422 ``confirmation_mismatch``, as a missing one is.


class DeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: str = ""
    disposition: DispositionIn | None = None


class EraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: str = ""
    disposition: DispositionIn | None = None


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into_id: uuid.UUID
    confirm: str = ""


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_id: uuid.UUID
    kinds: list[str] | None = Field(default=None, max_length=500)
    originally_by: uuid.UUID | None = None
    include_closed: bool = Field(
        default=False,
        description="Also hand over closed work (done tasks, won or lost leads). By default only "
        "open work moves; the rest stays with its holder and is counted in `kept_closed`.",
    )


class PreviewReferenceOut(BaseModel):
    kind: str
    label: str
    count: int = Field(description="Visible rows that reference the user.")
    dispositions: list[str]
    in_trash: int = Field(
        default=0,
        description="Rows that reference the user and are in the trash: deletion moves them too, "
        "and they stay in the trash. Not part of `count`.",
    )
    open: int | None = Field(
        default=None,
        description="Of `count`, the rows that are work still open (tasks not done, leads neither "
        "won nor lost): what a handover moves by default. Null for kinds that are not work with an end.",
    )


class DeletionPreviewOut(BaseModel):
    user: UserOut
    references: list[PreviewReferenceOut]
    total: int = Field(description="The sum of `count`: visible rows only.")
    total_in_trash: int = Field(default=0, description="The sum of `in_trash`.")


class DeletionOut(BaseModel):
    user: UserOut
    operation_id: uuid.UUID
    moved: dict[str, int] = Field(description="References moved, per kind.")
    deleted: dict[str, int] = Field(
        description="References hidden with the deletion (destroyed at the purge), per kind. As in "
        "the preview, a row may count under two kinds: a task they created and answered for, "
        "deleted with the second, is counted under both."
    )


class RestoreOut(UserOut):
    """The restored User (dismissed), plus what came back and what had changed meanwhile."""

    operation_id: uuid.UUID
    restored: dict[str, int]
    left: dict[str, int]
    unhidden: int


class ErasureOut(BaseModel):
    user: UserOut
    operation_id: uuid.UUID
    pseudonym: str
    moved: dict[str, int]
    deleted: dict[str, int]
    destroyed: int


class MergeOut(BaseModel):
    user: UserOut
    into: UserOut
    operation_id: uuid.UUID
    moved: dict[str, int]
    deleted: dict[str, int]


class TransferOut(BaseModel):
    moved: dict[str, int]
    kept_closed: dict[str, int] = Field(
        description="Closed work left with its holder, per kind (empty with `include_closed`)."
    )
    kept_duplicate: dict[str, int] = Field(
        default_factory=dict,
        description="Rows left with their holder because the recipient has the same already (they "
        "observe or take part in the task too, were shown the post too), per kind.",
    )


class AuthorshipOut(BaseModel):
    kind: str
    object_id: uuid.UUID
    original_user: UserRef
    original_display_name: str
    moved_to: UserRef
    moved_at: datetime
    operation_id: uuid.UUID
    restored_at: datetime | None


class AuthorshipPage(BaseModel):
    items: list[AuthorshipOut]
    total: int


class BulkDispositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: Literal[Disposition.SYSTEM_USER, Disposition.SUCCESSOR] = Disposition.SYSTEM_USER
    successor_id: uuid.UUID | None = None


class BulkDeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_ids: list[uuid.UUID] = Field(max_length=1000)
    confirm: str | int = Field(default="", description="The number of people being deleted.")
    disposition: BulkDispositionIn | None = None


class BulkDeletionItem(BaseModel):
    user: UserOut
    operation_id: uuid.UUID
    moved: dict[str, int]
    deleted: dict[str, int]


class BulkDeletionOut(BaseModel):
    items: list[BulkDeletionItem]
