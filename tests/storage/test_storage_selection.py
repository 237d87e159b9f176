"""Which store the settings choose, what they refuse, and what serve passes on and prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from opendance.cli.server import _worker_env
from opendance.settings import Settings
from opendance.storage.base import StorageUnavailable
from opendance.storage.factory import S3Location, open_store, parse_storage_url
from opendance.storage.local import LocalObjectStore
from opendance.storage.s3 import S3ObjectStore
from tests.support.live import free_port
from tests.support.processes import opendance_env
from tests.support.s3 import SECRET_ACCESS_KEY, S3Server


async def test_without_a_storage_url_objects_stay_in_the_local_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="http://api.example:8000")
    store = await open_store(settings, secret=b"s")
    assert isinstance(store, LocalObjectStore)
    assert store.root == settings.objects_dir
    assert store.url_origin() == "http://api.example:8000"


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("s3://media", S3Location("media", "")),
        ("s3://media/", S3Location("media", "")),
        ("s3://media/opendance/prod/", S3Location("media", "opendance/prod")),
        ("s3://media//a//b", S3Location("media", "a/b")),
    ],
)
def test_storage_urls_name_a_bucket_and_an_optional_prefix(url: str, location: S3Location) -> None:
    assert parse_storage_url(url) == location


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("gs://media/videos", "gs:// is not supported"),
        ("file:///srv/objects", "file:// is not supported"),
        ("https://media.s3.amazonaws.com", "https:// is not supported"),
        ("/srv/objects", "'/srv/objects' is not supported"),
        ("s3://", "got 's3://'"),
        ("s3://media:9000/x", "got 's3://media:9000/x'"),
    ],
)
def test_other_storage_urls_are_refused_with_the_form_expected(url: str, shown: str) -> None:
    with pytest.raises(StorageUnavailable) as refused:
        parse_storage_url(url)
    assert "OPENDANCE_STORAGE_URL must be s3://BUCKET or s3://BUCKET/PREFIX" in str(refused.value)
    assert shown in str(refused.value)


def test_credentials_in_the_storage_url_are_refused_and_never_echoed() -> None:
    with pytest.raises(StorageUnavailable) as refused:
        parse_storage_url("s3://AKIAX:hunter2secret@media/prefix")
    assert "hunter2secret" not in str(refused.value) and "AKIAX" not in str(refused.value)
    assert "OPENDANCE_S3_SECRET_ACCESS_KEY" in str(refused.value)


async def test_half_given_credentials_are_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, storage_url="s3://media", s3_access_key_id="AKIAX")
    with pytest.raises(StorageUnavailable, match="both OPENDANCE_S3_ACCESS_KEY_ID and"):
        await open_store(settings, secret=b"s")


async def test_without_explicit_keys_the_aws_credential_chain_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHEENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-environment")
    settings = Settings(data_dir=tmp_path, storage_url="s3://media", s3_region="eu-west-1")
    store = await open_store(settings, secret=b"s")
    assert isinstance(store, S3ObjectStore)
    assert "AKIAFROMTHEENVIRONMENT%2F" in store.public_url("videos/t.mp4")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("s3_url_expiry_seconds", 0),
        ("s3_url_expiry_seconds", 604801),
        ("s3_addressing_style", "dns"),
        ("s3_public_base_url", "cdn.example.com/videos"),
    ],
)
def test_bad_s3_settings_are_refused(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(data_dir=tmp_path, **{field: value})  # type: ignore[arg-type]


def test_the_s3_settings_read_their_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "STORAGE_URL": "s3://media/p",
        "S3_ENDPOINT_URL": "http://minio.internal:9000",
        "S3_REGION": "eu-central-1",
        "S3_ACCESS_KEY_ID": "AKIAX",
        "S3_SECRET_ACCESS_KEY": "very-secret",
        "S3_URL_EXPIRY_SECONDS": "3600",
        "S3_ADDRESSING_STYLE": "path",
        "S3_PUBLIC_BASE_URL": "https://cdn.example.com/",
    }.items():
        monkeypatch.setenv(f"OPENDANCE_{name}", value)
    settings = Settings(data_dir=tmp_path)
    assert settings.storage_url == "s3://media/p"
    assert settings.s3_endpoint_url == "http://minio.internal:9000"
    assert settings.s3_region == "eu-central-1"
    assert (settings.s3_access_key_id, settings.s3_secret_access_key) == ("AKIAX", "very-secret")
    assert settings.s3_url_expiry_seconds == 3600
    assert settings.s3_addressing_style == "path"
    assert settings.s3_public_base_url == "https://cdn.example.com"
    assert "very-secret" not in repr(settings)


def test_serve_hands_the_s3_settings_to_its_workers(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        storage_url="s3://media/p",
        s3_endpoint_url="http://minio.internal:9000",
        s3_access_key_id="AKIAX",
        s3_secret_access_key="very-secret",
        s3_url_expiry_seconds=3600,
    )
    env = _worker_env(settings)
    assert env["OPENDANCE_STORAGE_URL"] == "s3://media/p"
    assert env["OPENDANCE_S3_ENDPOINT_URL"] == "http://minio.internal:9000"
    assert env["OPENDANCE_S3_SECRET_ACCESS_KEY"] == "very-secret"
    assert env["OPENDANCE_S3_URL_EXPIRY_SECONDS"] == "3600"
    assert env["OPENDANCE_S3_ADDRESSING_STYLE"] == "auto"


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opendance", "serve", "--port", str(free_port()), "--no-demo"],
        env=opendance_env(tmp_path / "data", **env),
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_serve_refuses_another_storage_scheme_with_one_clear_line(tmp_path: Path) -> None:
    result = _serve(tmp_path, OPENDANCE_STORAGE_URL="gs://media/videos")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: OPENDANCE_STORAGE_URL must be s3://BUCKET or s3://BUCKET/PREFIX "
        "(unset: the local objects directory); gs:// is not supported"
    )
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_missing_bucket_before_it_listens(
    tmp_path: Path, s3_server: S3Server
) -> None:
    result = _serve(tmp_path, **s3_server.env_for("opendance-never-created"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the bucket 'opendance-never-created' (OPENDANCE_STORAGE_URL) does not exist; "
        "create it first"
    )
    assert "listening" not in result.stdout
    assert SECRET_ACCESS_KEY not in result.stdout + result.stderr
