"""A real Roster server for the HTTP benchmarks, and the client they drive it with.

``serve()`` starts ``uvicorn roster.asgi:app`` on a free loopback port against a given database and
stops it afterwards. ``Client`` is a keep-alive client on the standard library's ``http.client``:
a request costs it about 0.1 ms here, where httpx took about 1.5 ms, which is more than many of the
requests being measured; a heavy client would hide the differences between servers.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """One keep-alive connection to ``base_url``; reconnects once if the server closed it."""

    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None, timeout: float = 60) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._connection.connect()
            self._connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._connection

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        target = (self.prefix + path if not path or path.startswith("/") else path) or "/"
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        sent = {**self.headers, **(headers or {})}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request(method, target, body=body, headers=sent)
                response = connection.getresponse()
                data = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return Answer(response.status, data, {k.lower(): v for k, v in response.getheaders()})
        raise AssertionError("unreachable")

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.request("POST", path, **kwargs)


def wait_until_up(
    url: str,
    process: subprocess.Popen[bytes],
    *,
    headers: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``url`` until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + 60
    with Client(url, headers, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
                raise RuntimeError(f"the server exited with {process.returncode}: {tail}")
            try:
                if client.get("").status == 200:
                    return
            except OSError:
                client.close()
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in time")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def serve(
    database_url: str, data_dir: Path, *, log: Path | None = None, workers: int = 1
) -> Iterator[tuple[str, int]]:
    """Roster under uvicorn (one worker unless told, no access log, no background workers) on a
    free port; yields its base URL and process id (with several workers, the parent's), and stops
    it on the way out."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ROSTER_DATABASE_URL": database_url,
        "ROSTER_DATA_DIR": str(data_dir),
        "ROSTER_SECRET_KEY": "bench-secret-key-not-for-production",
        "ROSTER_BACKGROUND_WORKERS": "false",
        "ROSTER_LOG_LEVEL": "WARNING",
        "ROSTER_BASE_URL": base,
    }
    command = [sys.executable, "-m", "uvicorn", "roster.asgi:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    if workers > 1:
        command += ["--workers", str(workers)]
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    finally:
        if log and not isinstance(out, int):
            out.close()
    try:
        wait_until_up(base + "/healthz", process, log=log)
        yield base, process.pid
    finally:
        stop(process)
