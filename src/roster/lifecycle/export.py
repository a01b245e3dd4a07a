"""A person's data, to download: everything Roster holds that points at them, in one ZIP file.

For a subject access request or a move to another system (GDPR Articles 15 and 20), asked for by
the person or by an admin, and before an erasure destroys it. What it holds is read through the one
registry of user columns (``roster.references``), so a new module's work is in it without being
named here:

- ``person.json``: the account (profile, role, status, dates, the identity provider's attributes),
  the organization, departments and manager;
- ``records/<kind>.json``: every row a registered column points at them with (posts written, tasks
  they are responsible for, messages sent, likes given, audit entries about them, ...), trashed or
  hidden rows included, each with all its columns;
- ``moved/<kind>.json``: what a deletion or merge moved from them to the System User or a
  successor (from the authorship map), the rows as they are now, with where and when they went;
- ``files/``: the content of the drive files among them, and ``photo.jpg`` or ``.png``.

Left out: secrets (password hash, sessions, tokens and reset links), search keys, of other
people all but their id and name, and, of work handed to them, whom it was from (that is the
admins' authorship map).
"""

from __future__ import annotations

import json
import re
import tempfile
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import LargeBinary, Table, select
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts.models import Organization, User
from roster.db.base import Base
from roster.references import Handling, UserReference, all_references, get_reference
from roster.settings import Settings

# The spool stays in memory up to this size, then goes to a temporary file.
SPOOL_IN_MEMORY = 16 * 1024 * 1024
BATCH = 1000
CHUNK = 64 * 1024
# Columns that hold secrets, or keys derived for searching and uniqueness (noise to a reader).
_SECRET_COLUMNS = {"password_hash", "token_hash"}
_DERIVED_SUFFIX = "_key"
# Rows of other people (the reports of a manager): who, not their account.
_OTHER_PEOPLE_COLUMNS = ("id", "display_name")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
# Of the work handed to them, who had it before is the admins' record (the authorship map), not
# theirs: what was handed over and when stays, from whom does not.
_WHOSE_BEFORE = {
    "lifecycle.authorship.moved_to": ("original_user_id", "original_display_name"),
    "lifecycle.operation.successor": ("user_id",),
}


@dataclass
class PersonalExport:
    """The ZIP file, rewound, and what went into it."""

    file: IO[bytes]
    filename: str
    size: int
    records: dict[str, int] = field(default_factory=dict)  # kind -> rows
    moved: dict[str, int] = field(default_factory=dict)  # kind -> rows moved away from them
    files: int = 0
    missing_files: list[str] = field(default_factory=list)  # drive file ids whose content is gone


def export_personal_data(session: Session, user: User, *, settings: Settings) -> PersonalExport:
    """Everything Roster holds that points at ``user``, read in the session's transaction (one
    snapshot), written to a ZIP file spooled in memory or on disk."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    result = PersonalExport(file=spool, filename=export_filename(user), size=0)
    drive_files: dict[uuid.UUID, tuple[str, str]] = {}  # id -> (name, sha256)
    try:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            _write_json(archive, "person.json", _person(session, user))
            for ref in all_references():
                if ref.handling is Handling.CREDENTIAL:
                    continue
                table = Base.metadata.tables[ref.table]
                query = (
                    select(table)
                    .where(table.c.org_id == user.org_id, table.c[ref.column] == user.id)
                    .order_by(*table.primary_key.columns)
                )
                rows = _rows(session, query, table)
                if ref.kind in _WHOSE_BEFORE:
                    rows = _without(rows, _WHOSE_BEFORE[ref.kind])
                if ref.table == "drive_files":
                    rows = _noting_files(rows, drive_files)
                result.records[ref.kind] = _write_rows(archive, f"records/{ref.kind}.json", ref, rows)
            for ref, entries in _moved_away(session, user):
                rows = entries
                if ref.table == "drive_files":
                    rows = _noting_files(entries, drive_files, inner="row")
                result.moved[ref.kind] = _write_rows(archive, f"moved/{ref.kind}.json", ref, rows)
            result.files, result.missing_files = _write_files(archive, user, drive_files, settings)
            _write_photo(archive, session, user)
            archive.writestr("README.txt", _readme(user, result))
        result.size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return result


def export_filename(user: User) -> str:
    """``roster-data-<name>-<day>.zip``."""
    folded = unicodedata.normalize("NFKD", user.display_name or (user.email or ""))
    name = re.sub(r"[^A-Za-z0-9]+", "-", folded.encode("ascii", "ignore").decode()).strip("-").lower()
    return f"roster-data-{name or user.id}-{clock.now().date().isoformat()}.zip"


def _person(session: Session, user: User) -> dict[str, Any]:
    users = Base.metadata.tables["users"]
    account = _plain(
        session.execute(select(users).where(users.c.org_id == user.org_id, users.c.id == user.id))
        .one()
        ._mapping,
        users,
        own_account=True,
    )
    org = session.get(Organization, user.org_id)
    departments = Base.metadata.tables["departments"]
    members = Base.metadata.tables["department_members"]
    in_departments = session.execute(
        select(departments.c.id, departments.c.name)
        .join(
            members,
            (members.c.org_id == departments.c.org_id) & (members.c.department_id == departments.c.id),
        )
        .where(members.c.org_id == user.org_id, members.c.user_id == user.id)
        .order_by(departments.c.name)
    ).all()
    manager = None
    if user.manager_id is not None:
        boss = session.get(User, (user.org_id, user.manager_id))
        if boss is not None:
            manager = {"id": str(boss.id), "display_name": boss.display_name}
    return {
        "exported_at": clock.now().isoformat(),
        "organization": {"id": str(user.org_id), "slug": org.slug, "name": org.name} if org else None,
        "account": account,
        "departments": [
            {"id": str(i), "name": n, "primary": i == user.primary_department_id} for i, n in in_departments
        ],
        "manager": manager,
    }


def _rows(session: Session, query: Any, table: Table) -> Iterator[dict[str, Any]]:
    for row in session.execute(query.execution_options(yield_per=BATCH)):
        yield _plain(row._mapping, table)


def _plain(row: Mapping[Any, Any], table: Table, *, own_account: bool = False) -> dict[str, Any]:
    """A row as JSON values, without secrets, derived keys, bytes, or other people's accounts."""
    if table.name == "users" and not own_account:
        return _restricted(row, table)
    out: dict[str, Any] = {}
    for column in table.columns:
        name = column.name
        if name in _SECRET_COLUMNS or name.endswith(_DERIVED_SUFFIX) or isinstance(column.type, LargeBinary):
            continue
        out[name] = _json_value(row[column])
    return out


def _restricted(row: Mapping[Any, Any], table: Table) -> dict[str, Any]:
    return {name: _json_value(row[table.c[name]]) for name in _OTHER_PEOPLE_COLUMNS}


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _without(rows: Iterable[dict[str, Any]], names: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    for row in rows:
        kept = {name: value for name, value in row.items() if name not in names}
        if isinstance(kept.get("dispositions"), dict):
            kept["dispositions"] = {k: v for k, v in kept["dispositions"].items() if k != "originally_by"}
        yield kept


def _noting_files(
    rows: Iterable[dict[str, Any]], found: dict[uuid.UUID, tuple[str, str]], *, inner: str | None = None
) -> Iterator[dict[str, Any]]:
    for entry in rows:
        row = entry[inner] if inner else entry
        found[uuid.UUID(row["id"])] = (row["name"], row["sha256"])
        yield entry


def _moved_away(session: Session, user: User) -> Iterator[tuple[UserReference, Iterator[dict[str, Any]]]]:
    """Per kind, the rows a deletion or merge moved from them (and no restore brought back)."""
    from roster.lifecycle.deletion import object_column
    from roster.lifecycle.deletion_models import Authorship

    kinds = session.scalars(
        select(Authorship.kind)
        .where(
            Authorship.org_id == user.org_id,
            Authorship.original_user_id == user.id,
            Authorship.restored_at.is_(None),
        )
        .distinct()
        .order_by(Authorship.kind)
    ).all()
    for kind in kinds:
        ref = get_reference(kind)
        if ref is None:  # a kind a later version no longer has: nothing to read it from
            continue
        table = Base.metadata.tables[ref.table]
        key = object_column(ref, table)
        moves = select(
            Authorship.object_id, Authorship.moved_to_id, Authorship.moved_at, Authorship.operation_id
        ).where(
            Authorship.org_id == user.org_id,
            Authorship.original_user_id == user.id,
            Authorship.kind == kind,
            Authorship.restored_at.is_(None),
        )

        def entries(table: Table = table, key: Any = key, moves: Any = moves) -> Iterator[dict[str, Any]]:
            pending = session.execute(moves.order_by(Authorship.moved_at, Authorship.object_id)).all()
            for start in range(0, len(pending), BATCH):
                batch = pending[start : start + BATCH]
                found = {
                    r._mapping[key]: r._mapping
                    for r in session.execute(
                        select(table).where(
                            table.c.org_id == user.org_id, key.in_([m.object_id for m in batch])
                        )
                    )
                }
                for move in batch:
                    row = found.get(move.object_id)
                    yield {
                        "moved_at": _json_value(move.moved_at),
                        "moved_to_id": str(move.moved_to_id),
                        "operation_id": str(move.operation_id),
                        "row": _plain(row, table) if row is not None else None,
                    }

        yield ref, entries()


def _write_rows(
    archive: zipfile.ZipFile, name: str, ref: UserReference, rows: Iterable[dict[str, Any]]
) -> int:
    """``{"kind", "label", "rows": [...]}``, written row by row; the number of rows."""
    count = 0
    with archive.open(_entry(name), "w", force_zip64=True) as out:
        head = {"kind": ref.kind, "label": ref.label, "table": ref.table, "column": ref.column}
        out.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2].encode() + b',\n "rows": [')
        for row in rows:
            out.write((b"," if count else b"") + b"\n  " + json.dumps(row, ensure_ascii=False).encode())
            count += 1
        out.write(b"\n ]\n}\n")
    return count


def _entry(name: str) -> zipfile.ZipInfo:
    """An entry dated now (a bare name would be dated 1980), compressed as the archive is."""
    entry = zipfile.ZipInfo(name, date_time=clock.now().timetuple()[:6])
    entry.compress_type = zipfile.ZIP_DEFLATED
    return entry


def _write_json(archive: zipfile.ZipFile, name: str, value: Any) -> None:
    archive.writestr(name, json.dumps(value, ensure_ascii=False, indent=1) + "\n")


def _write_files(
    archive: zipfile.ZipFile, user: User, found: dict[uuid.UUID, tuple[str, str]], settings: Settings
) -> tuple[int, list[str]]:
    from roster.drive.storage import get_storage

    storage = get_storage(settings, user.org_id)
    written, missing = 0, []
    for file_id, (name, sha256) in sorted(found.items(), key=lambda item: str(item[0])):
        try:
            source = storage.open(sha256)
        except (FileNotFoundError, ValueError):
            missing.append(str(file_id))
            continue
        safe = _UNSAFE_NAME.sub("_", name).strip(". ") or "file"
        with source, archive.open(_entry(f"files/{file_id}/{safe}"), "w", force_zip64=True) as out:
            while chunk := source.read(CHUNK):
                out.write(chunk)
        written += 1
    return written, missing


def _write_photo(archive: zipfile.ZipFile, session: Session, user: User) -> None:
    from roster.directory.models import UserPhoto

    photo = session.get(UserPhoto, (user.org_id, user.id))
    if photo is not None:
        extension = {"image/png": "png", "image/webp": "webp"}.get(photo.content_type, "jpg")
        archive.writestr(f"photo.{extension}", photo.large)


def _readme(user: User, result: PersonalExport) -> str:
    lines = [
        f"The data Roster holds about {user.display_name or user.email or user.id}",
        f"Exported {clock.now().isoformat()}",
        "",
        "person.json         the account, the organization, departments and manager",
        "records/<kind>.json every row that points at this person, by kind (trashed and hidden rows too)",
        "moved/<kind>.json   what a deletion or merge moved from this person to someone else, as it is now",
        "files/<id>/<name>   the content of the drive files among them",
        "photo.*             the profile photo, if any",
        "",
        "Not included: the password hash, sessions, access tokens and reset links (secrets), search",
        "keys, of other people all but their id and name, and whom work handed to them was from.",
        "",
        "Rows per kind:",
        *(f"  {kind}: {n}" for kind, n in result.records.items() if n),
    ]
    if result.moved:
        lines += ["", "Moved away, per kind:", *(f"  {kind}: {n}" for kind, n in result.moved.items())]
    lines += ["", f"Files: {result.files}"]
    if result.missing_files:
        lines.append(f"Files whose content is gone (removed for good): {', '.join(result.missing_files)}")
    return "\n".join(lines) + "\n"
