"""Whole tasks with the objects in S3: a real API server and worker, a moto S3 server on
loopback, videos fetched from presigned URLs and checked with PyAV."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import numpy as np

from opendance.media.probe import check_output, probe_mp4
from opendance.settings import Settings
from opendance.worker.runner import STORAGE_FAILURE
from tests.conftest import make_settings
from tests.support.db import balance, ledger_consistent
from tests.support.live import LiveServer, free_port, generate, wait_for_status
from tests.support.media import first_frame, png_bytes
from tests.support.processes import ServeProcess
from tests.support.s3 import SECRET_ACCESS_KEY, S3Server


def _s3_settings(tmp_path: Path, s3_server: S3Server, bucket: str, prefix: str) -> Settings:
    return make_settings(tmp_path, **s3_server.settings_for(bucket, prefix))


def _fetch(url: str) -> httpx.Response:
    """As a browser or any HTTP client would: no API key, nothing but the URL."""
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response


def _no_local_objects(settings: Settings) -> bool:
    objects = settings.objects_dir
    return not objects.exists() or not any(path.is_file() for path in objects.rglob("*"))


def test_video_and_poster_are_served_from_the_bucket(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    settings = _s3_settings(tmp_path, s3_server, s3_bucket, "od/prod")
    live = LiveServer(settings).start()
    try:
        key = live.create_account("viewer", 100)
        with live.client(key) as client:
            task_id = generate(
                client,
                prompt="a harbour at dusk",
                aspect_ratio="16:9",
                resolution="480p",
                duration=4,
                generate_audio=True,
            )
            data = wait_for_status(client, task_id)
            again = client.get("/v1/status", params={"task_id": task_id}).json()["data"]
            local_route = client.get(f"/files/videos/{task_id}-1.mp4", params={"sig": "x"})
            playground = client.get("/playground")
    finally:
        live.stop()

    assert data["status"] == "SUCCESS", data
    assert data["consumed_credits"] == 14
    video_url = data["response"][0]
    assert video_url.startswith(f"{s3_server.endpoint_url}/{s3_bucket}/od/prod/videos/{task_id}-")
    assert "X-Amz-Signature=" in video_url
    assert again["response"] == data["response"] and again["poster_url"] == data["poster_url"]

    video = _fetch(video_url)
    assert video.headers["content-type"] == "video/mp4"
    path = tmp_path / "v.mp4"
    path.write_bytes(video.content)
    assert (
        check_output(probe_mp4(path), width=864, height=480, fps=24, frame_count=96, audio=True)
        == []
    )
    poster = _fetch(data["poster_url"])
    assert poster.headers["content-type"] == "image/jpeg"
    assert poster.content[:3] == b"\xff\xd8\xff"

    names = s3_server.object_names(s3_bucket)
    assert [name.split("/")[2] for name in names] == ["last_frames", "posters", "sprites", "videos"]
    assert all(name.startswith("od/prod/") and task_id in name for name in names)
    assert _no_local_objects(settings)
    # the API's own file route serves the local store only
    assert local_route.status_code == 404 and local_route.json()["error"] == "NOT_FOUND"
    # the dashboard's pages may show media from the bucket's origin
    policy = playground.headers["content-security-policy"]
    assert f"media-src 'self' {settings.resolved_public_url} {s3_server.endpoint_url}" in policy


def test_an_uploaded_image_is_kept_in_the_bucket_until_its_task_is_done(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    settings = _s3_settings(tmp_path, s3_server, s3_bucket, "od")
    image = base64.b64encode(png_bytes((200, 30, 30))).decode()
    api = LiveServer(settings, with_worker=False).start()
    try:
        key = api.create_account("painter", 100)
        with api.client(key) as client:
            task_id = generate(
                client,
                prompt="the red wall slowly glows",
                resolution="480p",
                duration=4,
                aspect_ratio="16:9",
                image_urls=[f"data:image/png;base64,{image}"],
            )
    finally:
        api.stop()
    assert s3_server.object_names(s3_bucket) == [f"od/inputs/{task_id}"]
    head = s3_server.client().head_object(Bucket=s3_bucket, Key=f"od/inputs/{task_id}")
    assert head["ContentType"] == "image/png"

    live = LiveServer(settings).start()  # the same database and bucket, now with a worker
    try:
        with live.client(key) as client:
            data = wait_for_status(client, task_id)
    finally:
        live.stop()

    assert data["status"] == "SUCCESS", data
    path = tmp_path / "i.mp4"
    path.write_bytes(_fetch(data["response"][0]).content)
    centre = first_frame(path)[100:380, 200:660].reshape(-1, 3).astype(int).mean(axis=0)
    assert np.abs(centre - np.array([200, 30, 30])).max() < 25
    names = s3_server.object_names(s3_bucket)
    assert not any("/inputs/" in name for name in names), names
    assert len(names) == 4  # the video, its poster, sprite sheet and last frame
    assert _no_local_objects(settings)


def test_a_bucket_that_refuses_the_video_fails_the_task_with_a_refund(
    tmp_path: Path, s3_server: S3Server
) -> None:
    # The bucket does not exist: every upload is refused, after the render.
    settings = _s3_settings(tmp_path, s3_server, "opendance-never-created", "")
    live = LiveServer(settings).start()
    try:
        key = live.create_account("unlucky", 100)
        with live.client(key) as client:
            first = wait_for_status(
                client, generate(client, prompt="a", resolution="480p", duration=4)
            )
            second = wait_for_status(
                client, generate(client, prompt="b", resolution="480p", duration=4)
            )
        balance_after = live.call(lambda ctx: balance(ctx, "unlucky"))
        consistent = live.call(ledger_consistent)
    finally:
        live.stop()
    for data in (first, second):  # the worker went on after the first failure
        assert data["status"] == "FAILED", data
        assert data["error_message"] == STORAGE_FAILURE
        assert data["consumed_credits"] == 0 and data["response"] == []
    assert balance_after == 100 and consistent


def test_serve_gives_its_workers_the_bucket_and_prints_no_secret(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    serve = ServeProcess(
        tmp_path / "data", free_port(), ("--workers", "1"), env=s3_server.env_for(s3_bucket, "od")
    ).start()
    try:
        key = serve.demo_key()
        with httpx.Client(base_url=serve.url, headers={"Authorization": f"Bearer {key}"}) as c:
            data = wait_for_status(
                c, generate(c, prompt="lanterns", resolution="480p", duration=4), timeout=180
            )
    finally:
        serve.stop()
    output = serve.output()
    assert data["status"] == "SUCCESS", (data, output)
    assert data["response"][0].startswith(f"{s3_server.endpoint_url}/{s3_bucket}/od/videos/")
    assert _fetch(data["response"][0]).content[4:8] == b"ftyp"
    assert f"objects in s3://{s3_bucket}/od at {s3_server.endpoint_url}" in output
    assert SECRET_ACCESS_KEY not in output
    objects = tmp_path / "data" / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))
