"""`roster db backup` and `roster db restore`, run as real processes: a SQLite installation (its
database, its drive files and its secret key) in one file, and back into a new installation."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from roster.db.migrate import upgrade

pytestmark = pytest.mark.sqlite_only

ORG_TABLES = ("organizations", "users", "stream_posts", "tasks", "drive_files", "audit_events", "authorship")


def roster(
    data_dir: Path, *args: str, database: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    url = f"sqlite:///{database or data_dir / 'roster.db'}"
    environment = {**os.environ, "ROSTER_DATABASE_URL": url, "ROSTER_DATA_DIR": str(data_dir), **env}
    if "ROSTER_SECRET_KEY" not in env:
        environment.pop("ROSTER_SECRET_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "roster.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _rows(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ORG_TABLES}


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".staging" not in p.parts
    }


@pytest.fixture
def installation(tmp_path: Path) -> Path:
    """A data directory with the demo in it: people, content, drive files, a generated key."""
    home = tmp_path / "live"
    assert roster(home, "db", "upgrade").returncode == 0
    made = roster(home, "demo")
    assert made.returncode == 0, made.stderr
    return home


def test_a_backup_restores_into_a_new_installation_as_it_was(installation: Path, tmp_path: Path) -> None:
    # The key is made on first use; make sure there is one to carry over.
    from roster.settings import Settings

    settings = Settings(data_dir=installation, database_url=f"sqlite:///{installation / 'roster.db'}")
    assert settings.resolved_secret_key
    output = tmp_path / "roster.tar.gz"

    backed = roster(installation, "db", "backup", str(output))
    assert backed.returncode == 0, backed.stderr
    assert f"backup written: {output}" in backed.stdout and "secret key included" in backed.stdout
    assert output.stat().st_mode & 0o777 == 0o600  # the data and the key, for the owner alone
    with tarfile.open(output) as archive:
        names = archive.getnames()
        manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert {"manifest.json", "roster.db", "secret_key"} <= set(names)
    assert (
        manifest["format"] == "roster-backup"
        and manifest["counts"]["users"] == _rows(installation / "roster.db")["users"]
    )
    assert manifest["files"] == len(_files(installation / "files")) > 0

    fresh = tmp_path / "restored"
    restored = roster(fresh, "db", "restore", str(output))
    assert restored.returncode == 0, restored.stderr
    assert "the database is up to date" in restored.stdout
    assert _rows(fresh / "roster.db") == _rows(installation / "roster.db")
    assert _files(fresh / "files") == _files(installation / "files")
    assert (fresh / "secret_key").read_text() == (installation / "secret_key").read_text()
    # The restored audit log still verifies, organization by organization.
    verified = roster(fresh, "audit", "verify", "--org", "demo")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_restore_never_writes_over_an_installation(installation: Path, tmp_path: Path) -> None:
    output = tmp_path / "b.tar"
    assert roster(installation, "db", "backup", str(output)).returncode == 0
    before = _rows(installation / "roster.db")
    refused = roster(installation, "db", "restore", str(output))
    assert refused.returncode == 1 and refused.stdout == ""
    assert "(restore_target_exists)" in refused.stderr and "Traceback" not in refused.stderr
    assert _rows(installation / "roster.db") == before
    # Nor over another installation's files, even with no database beside them.
    other = tmp_path / "other"
    (other / "files").mkdir(parents=True)
    (other / "files" / "mine.txt").write_text("keep me")
    refused = roster(other, "db", "restore", str(output))
    assert "(restore_target_exists)" in refused.stderr
    assert (other / "files" / "mine.txt").read_text() == "keep me" and not (other / "roster.db").exists()


def test_a_refused_restore_or_backup_writes_its_error_and_nothing_else(
    installation: Path, tmp_path: Path
) -> None:
    # Refusals found once the backup is being unpacked (where a terminal shows a progress bar)
    # and before: one line each, on stderr, with nothing before it.
    from roster.settings import Settings

    assert Settings(data_dir=installation, secret_key=None).resolved_secret_key  # made on first use
    backup = tmp_path / "b.tar"
    assert roster(installation, "db", "backup", str(backup)).returncode == 0
    with_files = tmp_path / "with-files"
    (with_files / "files").mkdir(parents=True)
    (with_files / "files" / "mine.txt").write_text("keep me")
    with_key = tmp_path / "with-key"
    with_key.mkdir()
    (with_key / "secret_key").write_text("k" * 64)
    not_a_backup = tmp_path / "notes.tar"
    not_a_backup.write_text("just text")
    cases = [
        (
            roster(installation, "db", "restore", str(backup)),
            f"error (restore_target_exists): the database {installation / 'roster.db'} exists; restore "
            "into a new ROSTER_DATABASE_URL and ROSTER_DATA_DIR, or move the installation aside first.",
        ),
        (
            roster(with_files, "db", "restore", str(backup)),
            f"error (restore_target_exists): {with_files / 'files'} holds files already.",
        ),
        (
            roster(with_key, "db", "restore", str(backup)),
            f"error (restore_target_exists): {with_key / 'secret_key'} exists already.",
        ),
        (
            roster(
                tmp_path / "new",
                "db",
                "restore",
                str(backup),
                ROSTER_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none",
            ),
            "error (backup_not_sqlite): ROSTER_DATABASE_URL is not SQLite: a backup restores into a "
            "new SQLite file; a PostgreSQL database is restored with PostgreSQL's tools (pg_restore), "
            "and the data directory's files/ and secret_key copied back beside it.",
        ),
        (
            roster(tmp_path / "new", "db", "restore", str(not_a_backup)),
            f"error (backup_invalid): {not_a_backup} is not a Roster backup (not a .tar or .tar.gz file).",
        ),
        (
            roster(installation, "db", "backup", str(backup)),
            f"error (backup_exists): {backup} exists; name a new file.",
        ),
    ]
    for answer, line in cases:
        assert (answer.returncode, answer.stdout, answer.stderr) == (1, "", line + "\n")
    assert (with_files / "files" / "mine.txt").read_text() == "keep me"
    assert not (with_files / "roster.db").exists() and not (tmp_path / "new").exists()


def test_a_backup_is_never_written_over_or_left_half_written(installation: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken.tar"
    taken.write_bytes(b"something else")
    refused = roster(installation, "db", "backup", str(taken))
    assert refused.returncode == 1 and "(backup_exists)" in refused.stderr
    assert taken.read_bytes() == b"something else"
    missing = roster(installation, "db", "backup", str(tmp_path / "no-such-dir" / "b.tar"))
    assert missing.returncode == 1 and "(backup_unwritable)" in missing.stderr
    nothing = tmp_path / "empty"
    never = roster(nothing, "db", "backup", str(tmp_path / "b.tar"))
    assert never.returncode == 1 and "(database_not_ready)" in never.stderr
    assert not (tmp_path / "b.tar").exists() and not list(tmp_path.glob(".roster-backup-*"))


def test_a_file_that_is_not_a_whole_backup_is_refused_and_nothing_is_unpacked(tmp_path: Path) -> None:
    def archive(path: Path, members: dict[str, bytes]) -> Path:
        with tarfile.open(path, "w") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path

    database = tmp_path / "made.db"
    upgrade(f"sqlite:///{database}")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    manifest = json.dumps({"format": "roster-backup", "version": 1, "revision": None, "files": 0}).encode()
    cases = {
        "not-a-tar.tar": None,
        "no-manifest.tar": {"roster.db": database.read_bytes()},
        "no-database.tar": {"manifest.json": manifest},
        "escapes.tar": {"manifest.json": manifest, "roster.db": database.read_bytes(), "../evil": b"x"},
        "stray.tar": {"manifest.json": manifest, "roster.db": database.read_bytes(), "etc/passwd": b"x"},
        "foreign.tar": {"manifest.json": manifest, "roster.db": foreign.read_bytes()},
        "damaged.tar": {"manifest.json": manifest, "roster.db": b"SQLite format 3\x00" + b"\x00" * 200},
    }
    for name, members in cases.items():
        path = tmp_path / name
        if members is None:
            path.write_bytes(b"just text")
        else:
            archive(path, members)
        target = tmp_path / f"into-{name}"
        refused = roster(target, "db", "restore", str(path))
        assert refused.returncode == 1, (name, refused.stdout)
        assert "(backup_invalid)" in refused.stderr, (name, refused.stderr)
        assert refused.stderr.startswith("error (backup_invalid): "), (name, refused.stderr)
        assert len(refused.stderr.splitlines()) == 1, (name, refused.stderr)
        assert not (target / "roster.db").exists(), name
        assert not (tmp_path / "evil").exists()
    newer = archive(tmp_path / "newer.tar", {"manifest.json": manifest.replace(b"null", b'"9999"')})
    refused = roster(tmp_path / "into-newer", "db", "restore", str(newer))
    assert refused.returncode == 1 and "(database_newer)" in refused.stderr


def test_postgresql_is_backed_up_with_its_own_tools(tmp_path: Path) -> None:
    env = {**os.environ, "ROSTER_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"}
    answer = subprocess.run(
        [sys.executable, "-m", "roster.cli", "db", "backup", str(tmp_path / "b.tar")],
        env={**env, "ROSTER_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 1 and "(backup_not_sqlite)" in answer.stderr and "pg_dump" in answer.stderr


def test_a_backup_is_restored_into_sqlite_only(installation: Path, tmp_path: Path) -> None:
    # A backup holds a SQLite file: a PostgreSQL URL is told so, and what restores PostgreSQL.
    assert roster(installation, "db", "backup", str(tmp_path / "b.tar")).returncode == 0
    env = {**os.environ, "ROSTER_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"}
    answer = subprocess.run(
        [sys.executable, "-m", "roster.cli", "db", "restore", str(tmp_path / "b.tar")],
        env={**env, "ROSTER_DATA_DIR": str(tmp_path / "new")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 1 and "(backup_not_sqlite)" in answer.stderr, answer.stderr
    assert "pg_restore" in answer.stderr and "back the database up" not in answer.stderr
    assert not (tmp_path / "new").exists()
