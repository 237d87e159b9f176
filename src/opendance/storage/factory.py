"""The object store the settings choose: the local directory (default) or an S3 bucket."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opendance.settings import Settings
from opendance.storage.base import ObjectStore, StorageUnavailable
from opendance.storage.local import LocalObjectStore

if TYPE_CHECKING:
    from opendance.storage.s3 import S3ObjectStore

STORAGE_URL_FORM = "OPENDANCE_STORAGE_URL must be s3://BUCKET or s3://BUCKET/PREFIX"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_storage_url(url: str) -> S3Location:
    """``s3://bucket/some/prefix`` -> bucket and prefix; anything else is refused."""
    parts = urlsplit(url.strip())
    if parts.scheme != "s3":
        shown = f"{parts.scheme}://" if parts.scheme else repr(url)
        raise StorageUnavailable(
            f"{STORAGE_URL_FORM} (unset: the local objects directory); {shown} is not supported"
        )
    if "@" in parts.netloc:
        # never echoed: whatever precedes the @ may be a secret
        raise StorageUnavailable(
            f"{STORAGE_URL_FORM}, without credentials in it (use OPENDANCE_S3_ACCESS_KEY_ID "
            "and OPENDANCE_S3_SECRET_ACCESS_KEY)"
        )
    bucket = parts.netloc
    if not bucket or ":" in bucket or parts.query or parts.fragment:
        raise StorageUnavailable(f"{STORAGE_URL_FORM}; got {url!r}")
    prefix = "/".join(segment for segment in parts.path.split("/") if segment)
    return S3Location(bucket, prefix)


async def open_store(settings: Settings, *, secret: bytes) -> ObjectStore:
    if not settings.storage_url:
        return LocalObjectStore(
            settings.objects_dir, public_base_url=settings.resolved_public_url, secret=secret
        )
    location = parse_storage_url(settings.storage_url)
    # Building the client loads botocore's service model and resolves the credentials (the
    # chain may ask an instance-metadata endpoint): seconds of blocking work, off the loop.
    return await asyncio.to_thread(open_s3_store, settings, location)


def open_s3_store(settings: Settings, location: S3Location) -> S3ObjectStore:
    import boto3  # only where S3 is chosen: the local store starts without it
    from botocore.config import Config

    from opendance.storage.s3 import NO_CREDENTIALS, S3ObjectStore

    if bool(settings.s3_access_key_id) != bool(settings.s3_secret_access_key):
        raise StorageUnavailable(
            "set both OPENDANCE_S3_ACCESS_KEY_ID and OPENDANCE_S3_SECRET_ACCESS_KEY, or neither "
            "(then boto3's credential chain applies)"
        )
    session = boto3.session.Session(
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        region_name=settings.s3_region,
    )
    if session.get_credentials() is None:
        raise StorageUnavailable(NO_CREDENTIALS)
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": settings.s3_addressing_style},
        retries={"mode": "standard", "total_max_attempts": 5},
        connect_timeout=10,
        read_timeout=60,
        # Checksums only where S3 requires them: several S3-compatible services refuse the
        # extra checksum headers newer botocore sends by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client = _client(session, config, settings.s3_endpoint_url, "OPENDANCE_S3_ENDPOINT_URL")
    presign_client = None
    if settings.s3_public_endpoint_url:
        presign_client = _client(
            session, config, settings.s3_public_endpoint_url, "OPENDANCE_S3_PUBLIC_ENDPOINT_URL"
        )
    return S3ObjectStore(
        client,
        location.bucket,
        location.prefix,
        url_expiry_seconds=settings.s3_url_expiry_seconds,
        public_base_url=settings.s3_public_base_url,
        presign_client=presign_client,
    )


def _client(session: Any, config: Any, endpoint_url: str | None, setting: str) -> Any:
    try:
        return session.client("s3", endpoint_url=endpoint_url, config=config)
    except ValueError as exc:  # botocore's word for a malformed endpoint URL
        raise StorageUnavailable(f"{setting}: {exc}") from None
