"""The Seedance dialect answers byte for byte the same bodies for the same requests.

Each answer is read as raw bytes; only what differs per run (task ids, timestamps, URL
signatures, the port) is replaced by a placeholder before the comparison, so a change of key
order, of a field's type or of its spelling fails here.
"""

from __future__ import annotations

import base64
import io
import re

import httpx
from PIL import Image

from tests.support.live import LiveServer, generate, wait_for_status

_VARIABLE = [
    (re.compile(rb"-\d+\.(mp4|jpg)\?sig=[A-Za-z0-9_-]+"), rb"-<TOKEN>.\1?sig=<SIG>"),
    (re.compile(rb"task_[A-Za-z0-9_-]{22}"), b"<TASK>"),
    (re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), b"<TIME>"),
    (re.compile(rb"http://127\.0\.0\.1:\d+"), b"<BASE>"),
]


def _normalised(raw: bytes) -> bytes:
    for pattern, placeholder in _VARIABLE:
        raw = pattern.sub(placeholder, raw)
    return raw


def _png_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_status_bodies_are_pinned(server: LiveServer) -> None:
    key = server.create_account("pinned", 1000)
    image = _png_data_url()
    with server.client(key) as client:
        submitted = client.post(
            "/v1/generate",
            json={"prompt": "  pinned  ", "resolution": "480p", "duration": 4, "seed": 7},
        )
        assert _normalised(submitted.content) == (
            b'{"code":200,"message":"success","data":{"task_id":"<TASK>","status":"IN_PROGRESS"}}'
        )
        text_id = submitted.json()["data"]["task_id"]
        image_id = generate(
            client,
            prompt="from an image",
            aspect_ratio="16:9",
            resolution="480p",
            duration="4",
            image_urls=[image],
            fixed_lens=True,
            seed=8,
        )
        wait_for_status(client, text_id)
        wait_for_status(client, image_id)
        text_body = client.get("/v1/status", params={"task_id": text_id}).content
        image_body = client.get("/v1/status", params={"task_id": image_id}).content
    image_bytes = len(base64.b64decode(image.split(",", 1)[1]))
    assert _normalised(text_body) == (
        b'{"code":200,"message":"success","data":{"task_id":"<TASK>","status":"SUCCESS",'
        b'"consumed_credits":8,"created_at":"<TIME>","request":{"prompt":"pinned",'
        b'"aspect_ratio":"1:1","resolution":"480p","duration":"4","generate_audio":false,'
        b'"fixed_lens":false,"image_urls":[],"seed":7},'
        b'"response":["<BASE>/files/videos/<TASK>-<TOKEN>.mp4?sig=<SIG>"],'
        b'"error_message":null,"progress":100,"updated_at":"<TIME>",'
        b'"poster_url":"<BASE>/files/posters/<TASK>-<TOKEN>.jpg?sig=<SIG>"}}'
    )
    assert _normalised(image_body) == (
        b'{"code":200,"message":"success","data":{"task_id":"<TASK>","status":"SUCCESS",'
        b'"consumed_credits":8,"created_at":"<TIME>","request":{"prompt":"from an image",'
        b'"aspect_ratio":"16:9","resolution":"480p","duration":"4","generate_audio":false,'
        b'"fixed_lens":true,"image_urls":["data:image/png;base64,<'
        + str(image_bytes).encode()
        + b' bytes>"],"seed":8},'
        b'"response":["<BASE>/files/videos/<TASK>-<TOKEN>.mp4?sig=<SIG>"],'
        b'"error_message":null,"progress":100,"updated_at":"<TIME>",'
        b'"poster_url":"<BASE>/files/posters/<TASK>-<TOKEN>.jpg?sig=<SIG>"}}'
    )


def test_error_bodies_are_pinned(api_only_server: LiveServer) -> None:
    key = api_only_server.create_account("pinned-errors", 10)
    with api_only_server.client(key) as client:
        answers = [
            client.post("/v1/generate", json={"prompt": ""}),
            client.post("/v1/generate", json={"prompt": "x", "duration": 8.5}),
            client.post("/v1/generate", json={"prompt": "x", "resolution": "720p", "duration": 12}),
            client.get("/v1/status", params={"task_id": "task_missing"}),
            client.get("/v1/status"),
        ]
        unauthenticated = httpx.get(f"{api_only_server.url}/v1/status?task_id=x")
    assert [answer.content for answer in answers] == [
        b'{"code":400,"message":"prompt must not be empty","error":"INVALID_PROMPT","data":null}',
        b'{"code":400,"message":"duration must be 4, 8 or 12 (seconds, as a number or a string);'
        b' got 8.5","error":"INVALID_DURATION","data":null}',
        b'{"code":402,"message":"this request costs 42 credits but the balance is 10; ask the '
        b'operator for more credits","error":"INSUFFICIENT_CREDITS","data":null}',
        b'{"code":404,"message":"task \'task_missing\' not found","error":"TASK_NOT_FOUND",'
        b'"data":null}',
        b'{"code":400,"message":"the task_id query parameter is required",'
        b'"error":"INVALID_REQUEST","data":null}',
    ]
    assert unauthenticated.content == (
        b'{"code":401,"message":"API key is missing or invalid; send \'Authorization: '
        b'Bearer <API key>\'","error":"INVALID_API_KEY","data":null}'
    )
