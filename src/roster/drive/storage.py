"""Where the bytes of drive files live: a small interface, and the disk behind it.

Blobs are named by the SHA-256 of their content, never by anything a client sent, so a name can
never reach the file system. Writing is two-step: ``stage()`` streams into a private temporary
file (enforcing the size limit as bytes arrive and hashing them), then ``keep()`` moves it into
place atomically. Object storage can replace :class:`DiskStorage` by implementing the same
protocol (staging maps onto a multipart upload).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from roster.domain import errors
from roster.settings import Settings

CHUNK = 64 * 1024
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
STAGING_DIR = ".staging"


def readable_size(size: int) -> str:
    """A byte count as people read it: "16 bytes", "97.7 KB", "100 MB"."""
    if size < 1024:
        return f"{size} bytes"
    value, unit = size / 1024, "KB"
    for bigger in ("MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def too_large(max_bytes: int) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(
        f"The file is larger than the limit of {readable_size(max_bytes)}.", limit=max_bytes
    )


class StagedBlob(Protocol):
    """Bytes being received; hashed and size-checked as they arrive."""

    @property
    def sha256(self) -> str: ...

    @property
    def size(self) -> int: ...

    def write(self, chunk: bytes) -> None:
        """Append bytes; PayloadTooLarge (and nothing left behind) past the limit."""

    def finish(self) -> None:
        """No more bytes: fix the hash."""

    def discard(self) -> None:
        """Throw the staged bytes away (safe to call more than once)."""


class FileStorage(Protocol):
    """Content-addressed blobs of one organization."""

    def stage(self, *, max_bytes: int | None = None) -> StagedBlob: ...

    def keep(self, staged: StagedBlob) -> None:
        """Move finished staged bytes into place under their hash (replacing an identical blob)."""

    def put(self, stream: BinaryIO, *, max_bytes: int | None = None) -> tuple[str, int]:
        """Store a whole stream; returns (sha256, size)."""

    def open(self, sha256: str) -> BinaryIO:
        """The blob's bytes; FileNotFoundError when it is missing."""

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None:
        """Remove the blob if present."""

    def hashes(self) -> Iterator[str]:
        """Every stored blob's hash."""

    def remove_stale_staging(self, older_than_seconds: float) -> int:
        """Remove staged bytes left behind by interrupted uploads."""


def _check_hash(sha256: str) -> str:
    if not _HASH_RE.match(sha256):
        raise ValueError("not a SHA-256 hex digest")
    return sha256


class DiskStaged:
    """A staged blob in a temporary file next to the blobs (same file system: rename is atomic)."""

    def __init__(self, path: Path, max_bytes: int | None) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._hash = hashlib.sha256()
        self._size = 0
        self._file: BinaryIO | None = open(path, "xb")  # noqa: SIM115  (closed in finish/discard)
        self._digest: str | None = None

    @property
    def sha256(self) -> str:
        if self._digest is None:
            raise RuntimeError("the blob is not finished")
        return self._digest

    @property
    def size(self) -> int:
        return self._size

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise RuntimeError("the blob is closed")
        self._size += len(chunk)
        if self.max_bytes is not None and self._size > self.max_bytes:
            self.discard()
            raise too_large(self.max_bytes)
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
        self._digest = self._hash.hexdigest()

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


class DiskStorage:
    """Blobs in ``root/ab/cd/<sha256>``; staging in ``root/.staging``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        _check_hash(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def stage(self, *, max_bytes: int | None = None) -> DiskStaged:
        staging = self.root / STAGING_DIR
        staging.mkdir(parents=True, exist_ok=True)
        return DiskStaged(staging / secrets.token_hex(16), max_bytes)

    def keep(self, staged: StagedBlob) -> None:
        if not isinstance(staged, DiskStaged):
            raise TypeError("staged elsewhere")
        target = self._path(staged.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.path, target)

    def put(self, stream: BinaryIO, *, max_bytes: int | None = None) -> tuple[str, int]:
        staged = self.stage(max_bytes=max_bytes)
        try:
            while chunk := stream.read(CHUNK):
                staged.write(chunk)
            staged.finish()
            self.keep(staged)
        finally:
            staged.discard()
        return staged.sha256, staged.size

    def open(self, sha256: str) -> BinaryIO:
        return open(self._path(sha256), "rb")

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def hashes(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in self.root.glob("??/??/*"):
            if _HASH_RE.match(path.name) and path.is_file():
                yield path.name

    def remove_stale_staging(self, older_than_seconds: float) -> int:
        staging = self.root / STAGING_DIR
        if not staging.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in staging.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


def orgs_root(settings: Settings) -> Path:
    return settings.files_dir / "orgs"


def get_storage(settings: Settings, org_id: uuid.UUID) -> FileStorage:
    """The organization's blob store (each organization's blobs apart, so dedup never crosses)."""
    return DiskStorage(orgs_root(settings) / str(org_id))


def stored_org_ids(settings: Settings) -> list[uuid.UUID]:
    """The organizations that have a blob directory (for the sweep)."""
    root = orgs_root(settings)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        try:
            found.append(uuid.UUID(path.name))
        except ValueError:
            continue
    return found
