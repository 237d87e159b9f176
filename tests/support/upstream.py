"""A tiny scripted Seedance-compatible API on loopback, for the upstream engine's tests.

A real HTTP server (threads, sockets), not a mock: the engine talks to it exactly as it would
to another service. Each route answers from a script; the last entry repeats. Every request is
recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, bytes, dict[str, str]]
Script = Callable[["FakeUpstream"], Answer]


def envelope(status: int, data: Any = None, error: str | None = None, message: str = "") -> bytes:
    body: dict[str, Any] = {"code": status, "message": message or "success", "data": data}
    if error:
        body["error"] = error
    return json.dumps(body).encode()


def accepted(task_id: str = "up_1") -> Script:
    return lambda _: (200, envelope(200, {"task_id": task_id, "status": "IN_PROGRESS"}), {})


def in_progress(progress: int | None = None) -> Script:
    data: dict[str, Any] = {"task_id": "up_1", "status": "IN_PROGRESS", "response": []}
    if progress is not None:
        data["progress"] = progress
    return lambda _: (200, envelope(200, data), {})


def succeeded(url: str | None = None) -> Script:
    def answer(fake: FakeUpstream) -> Answer:
        data = {"task_id": "up_1", "status": "SUCCESS", "progress": 100}
        data["response"] = [url if url is not None else fake.url + "/files/video.mp4"]
        return 200, envelope(200, data), {}

    return answer


def failed(message: str) -> Script:
    data = {"task_id": "up_1", "status": "FAILED", "response": [], "error_message": message}
    return lambda _: (200, envelope(200, data), {})


def http(status: int, body: bytes = b"", **headers: str) -> Script:
    return lambda _: (status, body, {k.replace("_", "-"): v for k, v in headers.items()})


def error(status: int, code: str, message: str) -> Script:
    return http(status, envelope(status, None, code, message))


@dataclass
class FakeUpstream:
    submit: list[Script] = field(default_factory=lambda: [accepted()])
    status: list[Script] = field(default_factory=lambda: [succeeded()])
    files: dict[str, bytes] = field(default_factory=dict)
    """path -> body, served with GET (``/files/video.mp4`` is where ``succeeded`` points)."""
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> FakeUpstream:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append((self.command, self.path, headers, body))
                path = urlsplit(self.path).path
                if self.command == "POST" and path == "/v1/generate":
                    status, payload, extra = fake._next(fake.submit)
                elif path == "/v1/status":
                    status, payload, extra = fake._next(fake.status)
                elif path in fake.redirects:
                    status, payload, extra = 302, b"", {"Location": fake.redirects[path]}
                elif path in fake.files:
                    status, payload, extra = 200, fake.files[path], {}
                else:
                    status, payload, extra = 404, b"not found", {}
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def _next(self, script: list[Script]) -> Answer:
        entry = script.pop(0) if len(script) > 1 else script[0]
        return entry(self)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def calls(self, method: str, path: str) -> list[bytes]:
        """Bodies of the requests to ``path`` (without query) so far."""
        return [b for m, p, _, b in self.requests if m == method and urlsplit(p).path == path]

    def status_query(self) -> list[dict[str, str]]:
        return [
            {k: v[0] for k, v in parse_qs(urlsplit(p).query).items()}
            for m, p, _, _ in self.requests
            if urlsplit(p).path == "/v1/status"
        ]
