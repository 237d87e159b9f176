"""A real S3-compatible server on loopback: moto's server mode, reached through boto3 over HTTP.

``s3_server`` (one per test session) starts it on a free port; ``s3_bucket`` gives each test a
fresh empty bucket with its own name. Without moto the S3 tests skip with the reason, unless
``CI`` is set: there a missing server is a failure. Test modules use the fixtures by importing
them (``from tests.support.s3 import s3_bucket, s3_server``).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# moto accepts any credentials; these only have to look like real ones to boto3
ACCESS_KEY_ID = "AKIAOPENDANCETEST"
SECRET_ACCESS_KEY = "opendance-test-secret-access-key-0123456789"
REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint_url: str
    _client: S3Client | None = None

    def client(self) -> S3Client:
        """The test's own view of the server (one client: building one takes a while)."""
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self) -> S3Client:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def create_bucket(self) -> str:
        name = f"opendance-test-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings_for(self, bucket: str, prefix: str = "") -> dict[str, Any]:
        """Settings overrides that put a server's objects into ``bucket``."""
        return {
            "storage_url": f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}",
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY_ID,
            "s3_secret_access_key": SECRET_ACCESS_KEY,
        }

    def env_for(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The same as ``OPENDANCE_*`` variables, for spawned ``opendance`` processes."""
        return {
            f"OPENDANCE_{name.upper()}": str(value)
            for name, value in self.settings_for(bucket, prefix).items()
        }

    def object_names(self, bucket: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))


def _moto_server() -> Any:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        reason = f"moto's server mode is not installed ({exc}); pip install 'moto[server]'"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set: the S3 tests must run)")
        pytest.skip(reason)
    return ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = _moto_server()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket()
