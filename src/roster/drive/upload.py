"""Receive one multipart upload as it streams in.

Starlette's form parsing reads the whole body before the route runs; here the request stream is
parsed as it arrives, so the size limit stops reading at the first byte over it, the file name is
checked before any byte is stored, and the bytes go straight into the storage's staging area.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import python_multipart
from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool

from roster.domain import errors
from roster.drive.service import clean_file_name
from roster.drive.storage import FileStorage, StagedBlob, too_large

FILE_FIELD = "file"
# Multipart framing around the file: boundaries, part headers, a few small fields.
FRAMING_ALLOWANCE = 64 * 1024
FIELD_LIMIT = 8 * 1024


@dataclass
class ReceivedFile:
    name: str
    content_type: str | None
    staged: StagedBlob


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    is_file_field: bool = False
    field_bytes: int = 0


class _Events:
    """Parser callbacks only record; the async loop acts on them between chunks."""

    def __init__(self) -> None:
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.headers_done: list[_Part] = []
        self.data: list[tuple[_Part, bytes]] = []
        self.ended = False

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.header_name.lower()] = self.header_value
        self.header_name = b""
        self.header_value = b""

    def on_headers_finished(self) -> None:
        self.headers_done.append(self.part)

    def on_end(self) -> None:
        self.ended = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.data.append((self.part, data[start:end]))


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidFileName("The file name is not valid UTF-8.", field="file") from None


async def receive_upload(request: Request, storage: FileStorage, *, max_bytes: int) -> ReceivedFile:
    """Stream the request's ``file`` part into staging; the caller keeps or discards the blob.

    Refusals: 413 ``too_large`` (declared or actual size over ``max_bytes``; the staged bytes are
    removed), 422 ``invalid_file_name``, 422 ``validation_failed`` (not multipart, no ``file``
    part, more than one, malformed body). Emptiness is the service's to judge.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + FRAMING_ALLOWANCE:
        raise too_large(max_bytes)
    media_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise errors.ValidationFailed(
            "Send the file as multipart/form-data in the field `file`.", field="file"
        )

    events = _Events()
    parser = python_multipart.MultipartParser(boundary, events.callbacks())  # type: ignore[arg-type]
    received: ReceivedFile | None = None
    try:
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except FormParserError:
                raise errors.ValidationFailed("The multipart body is malformed.", field="file") from None
            for part in events.headers_done:
                _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
                if options.get(b"name") != FILE_FIELD.encode():
                    continue
                if received is not None:
                    raise errors.ValidationFailed("Send one file per request.", field="file")
                raw_name = options.get(b"filename")
                name = clean_file_name(_decode(raw_name) if raw_name is not None else None)
                content_type = part.headers.get(b"content-type", b"").decode("latin-1") or None
                part.is_file_field = True
                received = ReceivedFile(name, content_type, storage.stage(max_bytes=max_bytes))
            events.headers_done.clear()
            pending, events.data = events.data, []
            file_bytes = b"".join(data for part, data in pending if part.is_file_field)
            for part, data in pending:
                if not part.is_file_field:
                    part.field_bytes += len(data)
                    if part.field_bytes > FIELD_LIMIT:
                        raise errors.ValidationFailed("A form field is too long.", field="file")
            if file_bytes and received is not None:
                await run_in_threadpool(received.staged.write, file_bytes)
        try:
            parser.finalize()
        except FormParserError:
            raise errors.ValidationFailed("The multipart body is malformed.", field="file") from None
        if not events.ended:
            # A body cut short (the client went away): never store a truncated file.
            raise errors.ValidationFailed("The multipart body ended too early.", field="file")
        if received is None:
            raise errors.ValidationFailed("Attach the file in the multipart field `file`.", field="file")
        await run_in_threadpool(received.staged.finish)
        return received
    except BaseException:
        if received is not None:
            received.staged.discard()
        raise
