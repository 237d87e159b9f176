"""Real peers for the fetch tests, all on loopback.

- ``PeerServer``: a threaded HTTP server playing the public internet (images, redirects, slow
  and huge bodies, an echo of what it received), optionally over TLS.
- ``ConnectionSink``: a listener that only counts connections. Put one where an attacker wants
  the server to go (127.0.0.2, ::1) and prove that nothing ever arrived.
- ``BlackHole``: a listening socket that never accepts: connects succeed, nothing is answered.
"""

from __future__ import annotations

import io
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from PIL import Image


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), color: str = "orange") -> bytes:
    """A small real image in ``fmt`` (PNG, JPEG or WEBP)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    server: _PeerHTTPServer
    routes: ClassVar[dict[str, Callable[[_Handler], None]]] = {}

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request stderr log."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        prefix = "/" + path.strip("/").split("/", 1)[0]
        handler = self.routes.get(path) or self.routes.get(prefix)
        if handler is None:
            self.send(404, b"not found", "text/plain")
        else:
            handler(self)

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def write_forever(self, chunk: bytes, pause: float) -> None:
        """Keep writing until the client hangs up or the server stops."""
        try:
            while not self.server.stopping.is_set():
                self.wfile.write(chunk)
                self.wfile.flush()
                if pause:
                    time.sleep(pause)
        except OSError:
            pass


def route(path: str) -> Callable[[Callable[[_Handler], None]], Callable[[_Handler], None]]:
    def register(handler: Callable[[_Handler], None]) -> Callable[[_Handler], None]:
        _Handler.routes[path] = handler
        return handler

    return register


@route("/image.png")
def _png(h: _Handler) -> None:
    h.send(200, image_bytes("PNG"), "image/png")


@route("/image.jpg")
def _jpeg(h: _Handler) -> None:
    h.send(200, image_bytes("JPEG"), "image/jpeg")


@route("/image.webp")
def _webp(h: _Handler) -> None:
    h.send(200, image_bytes("WEBP"), "image/webp")


@route("/page.html")
def _html(h: _Handler) -> None:
    h.send(200, b"<!doctype html><title>not an image</title>", "text/html")


@route("/empty")
def _empty(h: _Handler) -> None:
    h.send(200, b"", "image/png")


@route("/gzipped")
def _gzipped(h: _Handler) -> None:
    h.send(200, b"\x1f\x8b\x08\x00", "image/png", Content_Encoding="gzip")


@route("/status")
def _status(h: _Handler) -> None:
    h.send(int(h.path.rsplit("/", 1)[1]), b"status page", "text/plain")


@route("/redirect")
def _redirect(h: _Handler) -> None:
    query = h.query
    # Header lines are written as latin-1; smuggle UTF-8 through so non-ASCII targets survive.
    location = query["to"].encode("utf-8").decode("latin-1")
    h.send(int(query.get("code", "302")), b"", "text/plain", Location=location)


@route("/chain")
def _chain(h: _Handler) -> None:
    remaining = int(h.path.rsplit("/", 1)[1])
    target = "/image.png" if remaining == 0 else f"/chain/{remaining - 1}"
    h.send(302, b"", "text/plain", Location=target)


@route("/echo")
def _echo(h: _Handler) -> None:
    length = int(h.headers.get("Content-Length", "0"))
    received = {
        "method": h.command,
        "path": h.path,
        "headers": {name.lower(): value for name, value in h.headers.items()},
        "body": h.rfile.read(length).decode("latin-1"),
    }
    h.send(200, json.dumps(received).encode(), "application/json")


@route("/huge")
def _huge(h: _Handler) -> None:
    """Announces 50 MB and streams zeros."""
    h.send_response(200)
    h.send_header("Content-Type", "image/png")
    h.send_header("Content-Length", str(50 * 1024 * 1024))
    h.end_headers()
    h.write_forever(b"\0" * 65536, 0)


@route("/huge-unsized")
def _huge_unsized(h: _Handler) -> None:
    """Streams zeros with no Content-Length (body ends when the connection closes)."""
    h.send_response(200)
    h.send_header("Content-Type", "image/png")
    h.end_headers()
    h.write_forever(b"\0" * 65536, 0)


@route("/trickle")
def _trickle(h: _Handler) -> None:
    """Headers at once, then one byte every 50 ms: each read is quick, the whole never ends."""
    h.send_response(200)
    h.send_header("Content-Type", "image/png")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.write_forever(b"\0", 0.05)


@route("/hang")
def _hang(h: _Handler) -> None:
    """Reads the request, never answers."""
    h.server.stopping.wait(30)


class _PeerHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    stopping: threading.Event


class PeerServer:
    """The "public" peer: an HTTP(S) server on ``host`` (default 127.0.0.1), port chosen by the
    kernel, serving the routes above in threads."""

    def __init__(self, host: str = "127.0.0.1", certfile: Path | None = None) -> None:
        self.host = host
        self._server = _PeerHTTPServer((host, 0), _Handler)
        self._server.stopping = threading.Event()
        self.scheme = "http"
        if certfile is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def close(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()


class ConnectionSink:
    """Accepts and counts connections, answering nothing.

    ``connections()`` is exact, not eventually right: it sends its own probe connection and
    waits until the accept loop has seen it. The kernel queues connections in order, so by then
    every earlier connection has been counted too.
    """

    def __init__(self, host: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.bind((host, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._peers: list[int] = []
        self._seen = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                connection, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.close()
            with self._seen:
                self._peers.append(peer[1])
                self._seen.notify_all()

    def connections(self) -> int:
        """How many connections arrived since the last call (the probe excluded)."""
        with socket.create_connection((self.host, self.port), timeout=2) as probe:
            probe_port = probe.getsockname()[1]
            with self._seen:
                if not self._seen.wait_for(lambda: probe_port in self._peers, timeout=2):
                    raise AssertionError("the sink did not see its own probe")
                others = [port for port in self._peers if port != probe_port]
                self._peers.clear()
        return len(others)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()


class BlackHole:
    """A listener that never accepts: the TCP handshake completes, nothing is ever answered."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((host, 0))
        self._listener.listen(16)
        self.host = host
        self.port: int = self._listener.getsockname()[1]

    def close(self) -> None:
        self._listener.close()


def self_signed_certificate(directory: Path, name: str) -> Path:
    """A throwaway certificate + key (one PEM file) for ``name``, made with the openssl CLI."""
    pem = directory / f"{name}.pem"
    key = directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
            "-keyout", str(key), "-out", str(pem),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    pem.write_text(pem.read_text() + key.read_text())
    return pem


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port
