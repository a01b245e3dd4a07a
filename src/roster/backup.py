"""Backing up and restoring a SQLite installation: the database, the drive's files and the secret
key, in one tar file (``roster db backup`` and ``roster db restore``).

The database is copied with ``VACUUM INTO``: one read transaction, so the copy is the database as
it was at one moment, taken while the server goes on serving (a copy of the file itself could catch
it between a write and the write-ahead log's checkpoint). The files are copied after it: a blob
is named by its content and never changed, and the copy's rows can only name blobs that existed
when it was taken. The secret key goes with them when it is the generated one kept in the data
directory (without it every session and link would die); a key set in ``ROSTER_SECRET_KEY`` is
the operator's to keep, and the manifest says so.

A restore unpacks into a database and a data directory that do not exist yet: it never writes
over an installation, so nothing can be lost by restoring the wrong file. Stop the server first.
On PostgreSQL the database is backed up with PostgreSQL's own tools (``pg_dump``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.engine import make_url

from roster import clock
from roster.settings import Settings

FORMAT = "roster-backup"
VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "roster.db"
FILES = "files"
SECRET_KEY = "secret_key"

Progress = Callable[[int], None]  # bytes done since the last call


class BackupError(Exception):
    """A backup or restore that cannot be done; ``code`` is stable, the message says why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class Manifest:
    created_at: str
    revision: str | None
    database_bytes: int
    files: int = 0
    file_bytes: int = 0
    secret_key: str = "included"  # or "from ROSTER_SECRET_KEY (not included)", "none yet"
    counts: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **self.__dict__}


def sqlite_path(url: str, *, restore: bool = False) -> Path:
    """The SQLite file a URL names; BackupError for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" and restore:
        raise BackupError(
            "backup_not_sqlite",
            "ROSTER_DATABASE_URL is not SQLite: a backup restores into a new SQLite file; a "
            "PostgreSQL database is restored with PostgreSQL's tools (pg_restore), and the data "
            "directory's files/ and secret_key copied back beside it.",
        )
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            "backup_not_sqlite",
            "ROSTER_DATABASE_URL is not SQLite: back the database up with PostgreSQL's tools "
            "(pg_dump -Fc), and the data directory's files/ and secret_key with it.",
        )
    if parsed.database in (None, "", ":memory:") or parsed.query.get("uri"):
        raise BackupError("backup_not_sqlite", "ROSTER_DATABASE_URL names no SQLite file.")
    return Path(str(parsed.database))


def _files(root: Path) -> Iterator[tuple[Path, str]]:
    """Every file under ``root`` (the drive's store), with its name in the archive; the staging
    area of uploads in progress is not part of a backup."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and ".staging" not in relative.parts:
            yield path, str(PurePosixPath(FILES, *relative.parts))


def _counts(database: Path) -> tuple[str | None, dict[str, int]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        revision_row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        counts = {
            table: int(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            for table in ("organizations", "users", "audit_events", "drive_files")
        }
    return (revision_row[0] if revision_row else None), counts


def create_backup(
    settings: Settings, url: str, output: Path, *, progress: Progress | None = None
) -> Manifest:
    """Write a backup of the installation to ``output`` (a new ``.tar``, or ``.tar.gz``)."""
    database = sqlite_path(url)
    if not database.is_file():
        raise BackupError("database_not_ready", f"the database {database} does not exist.")
    if output.exists():
        raise BackupError("backup_exists", f"{output} exists; name a new file.")
    if not output.parent.is_dir():
        raise BackupError("backup_unwritable", f"the directory {output.parent} does not exist.")
    compress = output.name.endswith((".tar.gz", ".tgz"))
    with tempfile.TemporaryDirectory(prefix=".roster-backup-", dir=output.parent) as work:
        snapshot = Path(work) / DATABASE
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as source:
            source.execute("VACUUM INTO ?", (str(snapshot),))
        source.close()
        revision, counts = _counts(snapshot)
        files = list(_files(settings.files_dir))
        key_file = settings.data_dir / SECRET_KEY
        manifest = Manifest(
            created_at=clock.now().isoformat(),
            revision=revision,
            database_bytes=snapshot.stat().st_size,
            files=len(files),
            file_bytes=sum(path.stat().st_size for path, _ in files),
            secret_key=(
                "from ROSTER_SECRET_KEY (not included)"
                if settings.secret_key
                else ("included" if key_file.is_file() else "none yet")
            ),
            counts=counts,
        )
        partial = Path(work) / "backup.partial"
        with tarfile.open(partial, "w:gz" if compress else "w") as archive:
            _add_bytes(archive, MANIFEST, json.dumps(manifest.as_json(), indent=2).encode())
            _add_file(archive, snapshot, DATABASE, progress)
            if manifest.secret_key == "included":
                _add_file(archive, key_file, SECRET_KEY, None)
            for path, name in files:
                _add_file(archive, path, name, progress)
        # It holds everyone's data and the key that signs their sessions: for its owner alone.
        partial.chmod(0o600)
        os.replace(partial, output)  # whole or not at all
    return manifest


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(clock.now().timestamp())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


def _add_file(archive: tarfile.TarFile, path: Path, name: str, progress: Progress | None) -> None:
    info = archive.gettarinfo(str(path), arcname=name)
    info.mode = 0o600
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with path.open("rb") as handle:
        archive.addfile(info, handle)
    if progress is not None:
        progress(info.size)


def read_manifest(archive_path: Path) -> dict[str, Any]:
    """The manifest of a backup; BackupError when the file is not one."""
    try:
        with tarfile.open(archive_path) as archive:
            member = archive.getmember(MANIFEST)
            handle = archive.extractfile(member)
            manifest = json.loads(handle.read()) if handle is not None else None
    except tarfile.TarError:
        # tarfile's own message lists every compression it tried, one line each.
        raise BackupError(
            "backup_invalid", f"{archive_path} is not a Roster backup (not a .tar or .tar.gz file)."
        ) from None
    except (OSError, KeyError, ValueError) as exc:
        raise BackupError("backup_invalid", f"{archive_path} is not a Roster backup ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("backup_invalid", f"{archive_path} is not a Roster backup (no manifest).")
    if manifest.get("version") != VERSION:
        raise BackupError(
            "backup_invalid",
            f"{archive_path} is a backup of format {manifest.get('version')}, not {VERSION}.",
        )
    return manifest


def _member_allowed(name: str) -> bool:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        return False
    return name in (MANIFEST, DATABASE, SECRET_KEY) or (path.parts[0] == FILES and len(path.parts) > 1)


def restore_backup(
    settings: Settings, url: str, archive_path: Path, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Unpack a backup into the database and data directory the settings name, which must not
    hold an installation yet. Returns the backup's manifest; the caller migrates the database."""
    database = sqlite_path(url, restore=True)
    manifest = read_manifest(archive_path)
    if database.exists():
        raise BackupError(
            "restore_target_exists",
            f"the database {database} exists; restore into a new ROSTER_DATABASE_URL and "
            "ROSTER_DATA_DIR, or move the installation aside first.",
        )
    if manifest.get("files") and settings.files_dir.exists() and any(settings.files_dir.iterdir()):
        raise BackupError("restore_target_exists", f"{settings.files_dir} holds files already.")
    if manifest.get("secret_key") == "included" and (settings.data_dir / SECRET_KEY).exists():
        raise BackupError("restore_target_exists", f"{settings.data_dir / SECRET_KEY} exists already.")
    database.parent.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".roster-restore-", dir=settings.data_dir) as work:
        staging = Path(work)
        try:
            with tarfile.open(archive_path) as archive:
                members = archive.getmembers()
                bad = [m.name for m in members if not (m.isfile() and _member_allowed(m.name))]
                if bad:
                    raise BackupError(
                        "backup_invalid", f"the backup holds what a backup never does: {bad[0]!r}."
                    )
                if DATABASE not in {m.name for m in members}:
                    raise BackupError("backup_invalid", "the backup holds no database.")
                for member in members:
                    archive.extract(member, staging, filter="data")
                    if progress is not None:
                        progress(member.size)
        except (OSError, tarfile.TarError) as exc:
            raise BackupError("backup_invalid", f"{archive_path} cannot be read: {exc}.") from None
        _check_database(staging / DATABASE)
        # Into place: the files, the key, and last the database (an installation exists from then).
        if (staging / FILES).is_dir():
            settings.files_dir.parent.mkdir(parents=True, exist_ok=True)
            if settings.files_dir.exists():
                settings.files_dir.rmdir()  # empty, checked above
            shutil.move(str(staging / FILES), settings.files_dir)
        if (staging / SECRET_KEY).is_file():
            shutil.move(str(staging / SECRET_KEY), settings.data_dir / SECRET_KEY)
            (settings.data_dir / SECRET_KEY).chmod(0o600)
        shutil.move(str(staging / DATABASE), database)
    return manifest


def _check_database(path: Path) -> None:
    """BackupError unless ``path`` is a whole SQLite database that Roster migrated."""
    check = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError("backup_invalid", f"the backup's database is damaged: {verdict}.")
        check.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError("backup_invalid", f"the backup's database cannot be read: {exc}.") from None
    finally:
        check.close()


def describe(manifest: dict[str, Any]) -> str:
    """One line for people: when, and how much."""
    counts = manifest.get("counts", {})
    when = datetime.fromisoformat(manifest["created_at"]).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"taken {when}: {counts.get('organizations', 0)} organizations, {counts.get('users', 0)} people, "
        f"{manifest.get('files', 0)} files ({manifest.get('file_bytes', 0):,} bytes), "
        f"secret key {manifest.get('secret_key')}"
    )
