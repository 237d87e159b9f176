"""The S3 object store against a real S3-compatible server (moto) over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.config import Config

from opendance.settings import Settings
from opendance.storage.base import ObjectNotFound, StorageUnavailable
from opendance.storage.factory import open_store
from opendance.storage.s3 import IMMUTABLE, MAX_URL_EXPIRY_SECONDS, S3ObjectStore
from tests.support.live import free_port
from tests.support.s3 import S3Server


async def _store(
    tmp_path: Path, s3_server: S3Server, bucket: str, prefix: str = "", **overrides: object
) -> S3ObjectStore:
    """A store the way the server opens one: from its settings."""
    values = {"data_dir": tmp_path / "data", **s3_server.settings_for(bucket, prefix), **overrides}
    store = await open_store(Settings(**values), secret=b"unused")  # type: ignore[arg-type]
    assert isinstance(store, S3ObjectStore)
    return store


async def _get(url: str) -> httpx.Response:
    """As a browser would fetch it: the URL alone, no credentials."""
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(url)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _counted(store_client: object) -> list[str]:
    """Every request the client signs (a presigned URL is one), observed on the client."""
    signed: list[str] = []

    def note(**kwargs: object) -> None:
        signed.append(str(kwargs.get("operation_name")))

    store_client.meta.events.register("before-sign.s3", note)  # type: ignore[attr-defined]
    return signed


async def test_put_bytes_is_stored_under_the_prefix_with_its_content_type(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    store = await _store(tmp_path, s3_server, s3_bucket, "/media/v1/")
    await store.put_bytes("posters/t-1.jpg", b"\xff\xd8\xffjpeg", "image/jpeg")

    assert await store.get_bytes("posters/t-1.jpg") == b"\xff\xd8\xffjpeg"
    assert s3_server.object_names(s3_bucket) == ["media/v1/posters/t-1.jpg"]
    head = s3_server.client().head_object(Bucket=s3_bucket, Key="media/v1/posters/t-1.jpg")
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == IMMUTABLE


async def test_put_file_sends_a_large_file_in_parts(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    store = await _store(tmp_path, s3_server, s3_bucket)
    source = tmp_path / "big.mp4"
    data = bytes(range(256)) * (11 * 1024 * 1024 // 256)  # 11 MiB: above the 8 MiB threshold
    source.write_bytes(data)

    await store.put_file("videos/t-1.mp4", source, "video/mp4")

    head = s3_server.client().head_object(Bucket=s3_bucket, Key="videos/t-1.mp4")
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-2")  # S3's mark of a two-part upload
    assert await store.get_bytes("videos/t-1.mp4") == data


async def test_a_small_file_is_one_plain_upload(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    store = await _store(tmp_path, s3_server, s3_bucket, "p")
    source = tmp_path / "small.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    await store.put_file("videos/t-2.mp4", source, "video/mp4")
    head = s3_server.client().head_object(Bucket=s3_bucket, Key="p/videos/t-2.mp4")
    assert "-" not in head["ETag"] and head["ContentType"] == "video/mp4"


async def test_get_bytes_of_a_missing_key_raises_object_not_found(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    store = await _store(tmp_path, s3_server, s3_bucket, "p")
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("inputs/never-stored")


async def test_delete_removes_the_object_and_is_idempotent(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    store = await _store(tmp_path, s3_server, s3_bucket, "p")
    await store.put_bytes("inputs/t-1", b"png", "image/png")
    await store.delete("inputs/t-1")
    await store.delete("inputs/t-1")
    await store.delete("inputs/never-stored")
    assert s3_server.object_names(s3_bucket) == []
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("inputs/t-1")


async def test_presigned_url_downloads_the_object_and_the_bare_url_is_refused(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    store = await _store(tmp_path, s3_server, s3_bucket, "p")
    await store.put_bytes("videos/t-1.mp4", b"mp4 bytes", "video/mp4")

    url = store.public_url("videos/t-1.mp4")

    assert url.startswith(f"{s3_server.endpoint_url}/{s3_bucket}/p/videos/t-1.mp4?")
    fetched = await _get(url)
    assert fetched.status_code == 200 and fetched.content == b"mp4 bytes"
    assert fetched.headers["content-type"] == "video/mp4"
    assert (await _get(url.split("?")[0])).status_code == 403  # the bucket is private
    assert store.url_origin() == s3_server.endpoint_url


async def test_presigned_url_carries_the_configured_expiry(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # moto does not enforce X-Amz-Expires, S3 does: what is checked here is what S3 enforces.
    default = await _store(tmp_path, s3_server, s3_bucket)
    short = await _store(tmp_path, s3_server, s3_bucket, s3_url_expiry_seconds=90)
    before = datetime.now(UTC).replace(microsecond=0)
    query = parse_qs(urlsplit(short.public_url("videos/t.mp4")).query)
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)

    assert query["X-Amz-Expires"] == ["90"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert 0 <= (signed_at - before).total_seconds() <= 5
    assert "X-Amz-Expires=604800" in default.public_url("videos/t.mp4")
    assert MAX_URL_EXPIRY_SECONDS == 604800


async def test_presigned_urls_are_reused_until_half_their_lifetime_has_passed(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    client = s3_server.new_client()
    signed = _counted(client)
    clock = Clock()
    store = S3ObjectStore(client, s3_bucket, "p", url_expiry_seconds=3600, clock=clock)
    signed.clear()  # the store signs one URL at start to learn its origin

    first = store.public_url("videos/t-1.mp4")
    clock.now += 1799
    assert store.public_url("videos/t-1.mp4") == first
    assert signed == ["GetObject"]

    clock.now += 2  # past half of the hour: a fresh URL, valid for the whole hour again
    await asyncio.sleep(1.1)  # X-Amz-Date has whole seconds
    renewed = store.public_url("videos/t-1.mp4")
    assert renewed != first and signed == ["GetObject", "GetObject"]
    assert store.public_url("videos/t-1.mp4") == renewed
    assert len(signed) == 2


async def test_the_url_cache_is_bounded(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    client = s3_server.new_client()
    signed = _counted(client)
    store = S3ObjectStore(client, s3_bucket, cached_urls=2)
    signed.clear()
    for key in ("a", "b", "a", "c"):  # "a" is served from the cache once, then forgotten
        store.public_url(key)
    assert len(signed) == 3
    store.public_url("b")
    store.public_url("c")
    assert len(signed) == 3
    store.public_url("a")  # the oldest signature was the one dropped
    assert len(signed) == 4


async def test_presigning_needs_no_server(tmp_path: Path, s3_bucket: str) -> None:
    # Nothing listens on this endpoint: public_url must not talk to it (it runs on every poll).
    settings = Settings(
        data_dir=tmp_path,
        storage_url=f"s3://{s3_bucket}/p",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        s3_access_key_id="AKIAEXAMPLE",
        s3_secret_access_key="example-secret",
    )
    store = await open_store(settings, secret=b"unused")
    started = time.perf_counter()
    assert "X-Amz-Signature=" in store.public_url("videos/t.mp4")
    assert time.perf_counter() - started < 0.5


async def test_public_base_url_gives_plain_urls_of_a_public_bucket(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    base = f"{s3_server.endpoint_url}/{s3_bucket}"
    store = await _store(tmp_path, s3_server, s3_bucket, "cdn", s3_public_base_url=base + "/")
    await store.put_bytes("posters/t-1.jpg", b"\xff\xd8\xffjpeg", "image/jpeg")
    url = store.public_url("posters/t-1.jpg")

    assert url == f"{base}/cdn/posters/t-1.jpg"
    assert (await _get(url)).status_code == 403  # until the operator makes the bucket public
    s3_server.client().put_bucket_policy(Bucket=s3_bucket, Policy=_public_read(s3_bucket))
    fetched = await _get(url)
    assert fetched.status_code == 200 and fetched.content == b"\xff\xd8\xffjpeg"
    assert store.url_origin() == s3_server.endpoint_url


def _public_read(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


async def test_check_passes_for_the_bucket_and_names_a_missing_one(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    await (await _store(tmp_path, s3_server, s3_bucket)).check()
    missing = await _store(tmp_path, s3_server, "opendance-never-created")
    with pytest.raises(StorageUnavailable, match=r"'opendance-never-created'.*does not exist"):
        await missing.check()


async def test_check_says_when_the_endpoint_cannot_be_reached(s3_bucket: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="example-secret",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(StorageUnavailable, match="cannot be reached"):
        await S3ObjectStore(client, s3_bucket).check()


async def test_urls_are_presigned_for_the_public_endpoint_when_one_is_set(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # The servers reach the store as 127.0.0.1, clients as localhost (say, a private network
    # name and a public one): uploads go to the first, the URLs name the second and download.
    public = s3_server.endpoint_url.replace("127.0.0.1", "localhost")
    assert public != s3_server.endpoint_url
    store = await _store(tmp_path, s3_server, s3_bucket, s3_public_endpoint_url=public)
    await store.put_bytes("videos/t-1.mp4", b"mp4 bytes", "video/mp4")

    url = store.public_url("videos/t-1.mp4")

    assert url.startswith(f"{public}/{s3_bucket}/videos/t-1.mp4?")
    fetched = await _get(url)
    assert fetched.status_code == 200 and fetched.content == b"mp4 bytes"
    assert store.url_origin() == public
