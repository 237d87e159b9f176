"""Large bodies cost the API memory only for requests that may go on: the balance is checked
before an inline image is decoded, and only a few large bodies are handled at once."""

from __future__ import annotations

import base64
import socket
import time
from pathlib import Path

import httpx

from tests.api.test_generate_validation import assert_error
from tests.conftest import make_settings
from tests.support.db import snapshot
from tests.support.live import LiveServer
from tests.support.media import png_bytes

PROMPT = {"prompt": "a harbour", "resolution": "480p", "duration": 4}


def test_a_key_without_credits_is_refused_before_its_image_is_decoded(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("broke", 0)
    # well-formed header and size, payload not base64: only decoding would find that out
    undecodable = "data:image/png;base64," + "!" * 4096
    with api_only_server.client(key) as client:
        before = api_only_server.call(snapshot)
        answer = client.post("/v1/generate", json=PROMPT | {"image_urls": [undecodable]})
        assert_error(answer, 402, "INSUFFICIENT_CREDITS")
        assert api_only_server.call(snapshot) == before


def test_with_credits_a_bad_payload_is_still_an_image_url_error(
    api_only_server: LiveServer,
) -> None:
    key = api_only_server.create_account("rich", 100)
    undecodable = "data:image/png;base64," + "!" * 4096
    good = "data:image/png;base64," + base64.b64encode(png_bytes((200, 40, 40))).decode()
    with api_only_server.client(key) as client:
        answer = client.post("/v1/generate", json=PROMPT | {"image_urls": [undecodable]})
        assert_error(answer, 400, "INVALID_IMAGE_URL")
        assert client.post("/v1/generate", json=PROMPT | {"image_urls": [good]}).status_code == 200


def test_large_bodies_beyond_the_bound_wait_then_get_503(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, large_bodies_in_flight=1, body_timeout_seconds=30)
    live = LiveServer(settings, with_worker=False).start()
    holder = socket.create_connection(("127.0.0.1", settings.port), timeout=30)
    try:
        key = live.create_account("bulk", 100)
        # takes the one place: a 2 MiB body announced, a few bytes of it sent
        holder.sendall(
            (
                "POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {2 * 1024 * 1024}\r\n\r\n{{"
            ).encode()
        )
        time.sleep(0.5)
        with live.client(key) as client:
            started = time.monotonic()
            small = client.post("/v1/generate", json=PROMPT)
            assert small.status_code == 200  # small bodies pass by
            assert time.monotonic() - started < 2
            large = client.post("/v1/generate", json=PROMPT | {"padding": "x" * (2 * 1024 * 1024)})
            waited = time.monotonic() - started
        assert_error(large, 503, "SERVER_BUSY")
        assert large.headers["retry-after"] == "2"
        assert 4 < waited < 15
        holder.close()
        time.sleep(0.5)
        with live.client(key) as client:
            after = client.post("/v1/generate", json=PROMPT | {"padding": "x" * (2 * 1024 * 1024)})
        assert after.status_code == 200, after.text  # the place is free again
    finally:
        holder.close()
        live.stop()


def test_gets_never_wait_for_the_gate(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, large_bodies_in_flight=1)
    live = LiveServer(settings, with_worker=False).start()
    holder = socket.create_connection(("127.0.0.1", settings.port), timeout=30)
    try:
        holder.sendall(
            b"POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n'
        )
        time.sleep(0.3)
        started = time.monotonic()
        assert httpx.get(f"{live.url}/healthz", timeout=10).status_code == 200
        assert time.monotonic() - started < 2
    finally:
        holder.close()
        live.stop()
