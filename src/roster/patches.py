"""The body of a PATCH: only the fields sent change, and ``null`` is refused where it cannot mean
anything.

A field left out keeps its value. ``null`` clears the fields a model names in ``clearable`` (a
task's deadline, a department's head); for any other field (a title, a responsible person, a
status) it was read as "unchanged", so a client that meant to clear one got 200 and nothing
changed. It is now 422 ``validation_failed`` for that field.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class Patch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clearable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_clearable(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.clearable:
            raise ValueError("must not be null; leave the field out to keep its value")
        return value
