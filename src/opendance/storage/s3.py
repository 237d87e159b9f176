"""Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, Cloudflare R2, ...).

Clients fetch objects from presigned GET URLs, or, for a public bucket or a CDN, from plain
URLs under a public base. boto3's client is synchronous and thread safe: one per store, every
request in a thread off the event loop. Presigning is computation only (the credentials are
resolved when the store is opened), so ``public_url`` runs inline, and its URLs are cached.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from opendance.storage.base import (
    READ_CHUNK_BYTES,
    ObjectNotFound,
    ObjectReader,
    StorageUnavailable,
    StoredObject,
)

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import GetObjectOutputTypeDef

log = logging.getLogger("opendance.storage")

MAX_URL_EXPIRY_SECONDS = 7 * 24 * 3600  # SigV4 refuses presigned URLs that live longer
# A key never points at other bytes (keys carry the task's fencing token): cache for good.
IMMUTABLE = "public, max-age=31536000, immutable"
_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})
# upload_file sends files above this in parts, several at once (boto3's own default size).
MULTIPART_THRESHOLD = 8 * 1024 * 1024


class S3ObjectStore:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        url_expiry_seconds: int = MAX_URL_EXPIRY_SECONDS,
        public_base_url: str | None = None,
        presign_client: S3Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        cached_urls: int = 16384,
    ) -> None:
        if not 1 <= url_expiry_seconds <= MAX_URL_EXPIRY_SECONDS:
            raise ValueError(f"url_expiry_seconds must be 1..{MAX_URL_EXPIRY_SECONDS}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url_expiry_seconds = url_expiry_seconds
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._client = client
        # Presigning is offline; a URL names the endpoint of the client that signs it.
        self._presigner = presign_client or client
        self._clock = clock
        self._cached_urls = cached_urls
        self._urls: dict[str, tuple[str, float]] = {}  # key -> (url, fresh until)
        self._lock = threading.Lock()
        self._transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD)
        sample = self.public_base_url or self._presign("origin")
        parts = urlsplit(sample)
        self._origin = f"{parts.scheme}://{parts.netloc}"

    def object_name(self, key: str) -> str:
        """The S3 key of ``key``: under the prefix, if there is one."""
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put_file(self, key: str, source: Path, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.upload_file,
            str(source),
            self.bucket,
            self.object_name(key),
            ExtraArgs={"ContentType": content_type, "CacheControl": IMMUTABLE},
            Config=self._transfer,
        )

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self.object_name(key),
            Body=data,
            ContentType=content_type,
            CacheControl=IMMUTABLE,
        )

    async def get_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def open_read(self, key: str) -> ObjectReader:
        response = await asyncio.to_thread(self._open, key)
        return ObjectReader(response["ContentLength"], _chunks(response["Body"]))

    async def delete(self, key: str) -> None:
        # S3 answers a delete of a missing key with success, which is what the protocol asks.
        await asyncio.to_thread(
            self._client.delete_object, Bucket=self.bucket, Key=self.object_name(key)
        )
        with self._lock:
            self._urls.pop(key, None)

    async def list_objects(self, prefix: str) -> AsyncIterator[list[StoredObject]]:
        pages = self._pages(prefix)
        while (page := await asyncio.to_thread(next, pages, None)) is not None:
            if page:
                yield page

    def _pages(self, prefix: str) -> Iterator[list[StoredObject]]:
        skip = len(self.object_name(""))  # the prefix and its slash
        paginator = self._client.get_paginator("list_objects_v2")
        for response in paginator.paginate(Bucket=self.bucket, Prefix=self.object_name(prefix)):
            yield [
                StoredObject(item["Key"][skip:], item["Size"], item["LastModified"])
                for item in response.get("Contents", [])
            ]

    async def check(self) -> None:
        await asyncio.to_thread(self._check_bucket)

    def signed_file(self, key: str, signature: str) -> Path | None:
        return None  # its URLs point at the bucket (or a CDN), never at the API

    def public_url(self, key: str) -> str:
        if self.public_base_url is not None:
            return f"{self.public_base_url}/{quote(self.object_name(key), safe='/')}"
        now = self._clock()
        # Status polls ask for the same URL again and again: it is reused until half of its
        # lifetime has passed, so poll bodies stay stable and every URL handed out stays
        # valid for at least half of url_expiry_seconds. Presigning costs a millisecond or
        # two; a hit is one dict lookup (no lock: a read of a dict is atomic).
        cached = self._urls.get(key)
        if cached is not None and now < cached[1]:
            return cached[0]
        url = self._presign(key)
        with self._lock:
            self._urls.pop(key, None)  # re-inserted last: the dict's order is signing order
            self._urls[key] = (url, now + self.url_expiry_seconds / 2)
            while len(self._urls) > self._cached_urls:
                del self._urls[next(iter(self._urls))]  # the oldest signature goes first
        return url

    def url_origin(self) -> str:
        return self._origin

    def _presign(self, key: str) -> str:
        url: str = self._presigner.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.object_name(key)},
            ExpiresIn=self.url_expiry_seconds,
        )
        return url

    def _open(self, key: str) -> GetObjectOutputTypeDef:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=self.object_name(key))
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise ObjectNotFound(key) from None
            raise

    def _get(self, key: str) -> bytes:
        body = self._open(key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def _check_bucket(self) -> None:
        where = f"the bucket {self.bucket!r} (OPENDANCE_STORAGE_URL)"
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = _error_code(exc)
            if code in ("404", "NoSuchBucket"):
                raise StorageUnavailable(f"{where} does not exist; create it first") from None
            if code in ("403", "AccessDenied"):
                # Least-privilege policies often grant object access without s3:ListBucket,
                # which HEAD on the bucket needs: not being allowed to look is no proof of harm.
                log.warning("%s: not allowed to check it (403); going on", where)
                return
            raise StorageUnavailable(f"{where} answered {code}: {_error_message(exc)}") from None
        except NoCredentialsError:
            raise StorageUnavailable(NO_CREDENTIALS) from None
        except BotoCoreError as exc:
            raise StorageUnavailable(f"{where} cannot be reached: {exc}") from None


async def _chunks(body: StreamingBody) -> AsyncIterator[bytes]:
    # The connection is returned to the pool only once the body is read or closed.
    try:
        while chunk := await asyncio.to_thread(body.read, READ_CHUNK_BYTES):
            yield chunk
    finally:
        body.close()


NO_CREDENTIALS = (
    "no S3 credentials found: set OPENDANCE_S3_ACCESS_KEY_ID and "
    "OPENDANCE_S3_SECRET_ACCESS_KEY, or provide them the AWS way (AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, a profile in ~/.aws, an instance or container role)"
)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or "no message"
