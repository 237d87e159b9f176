"""Azure's platform address and the operator's own blocked ranges, refused at submit.

The server below has no worker and no webhook dispatcher, and the names resolve through the
fake resolver: a callback_url is only resolved and judged at submit, so nothing is ever sent
to the addresses under test (an accepted one included)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from opendance.net import AddressPolicy, StaticResolver
from opendance.settings import Settings
from tests.api.test_generate_validation import assert_error
from tests.conftest import make_settings
from tests.support.live import LiveServer, free_port
from tests.support.processes import opendance_env

OPERATOR_RANGES = "203.0.114.0/24, 2a00:1450:4001::/48"


@pytest.fixture
def submit_only(tmp_path: Path) -> Iterator[LiveServer]:
    """The production policy built from the settings (no carve-out), names from a table."""
    resolver = StaticResolver(
        {
            "wireserver.test": ["168.63.129.16"],
            "corp-v4.test": ["203.0.114.7"],
            "corp-v6.test": ["2a00:1450:4001::1"],
            "corp-mapped.test": ["::ffff:203.0.114.7"],
            "elsewhere.test": ["203.0.115.9"],  # public, outside the operator's ranges
        }
    )
    settings = make_settings(tmp_path, blocked_networks=OPERATOR_RANGES)
    live = LiveServer(settings, with_worker=False, resolver=resolver).start()
    yield live
    live.stop()


def _submit(client: httpx.Client, callback_url: str) -> httpx.Response:
    body = {"prompt": "x", "duration": 4, "resolution": "480p", "callback_url": callback_url}
    return client.post("/v1/generate", json=body)


def test_azure_platform_address_is_blocked_by_default() -> None:
    reason = AddressPolicy.default().blocked_reason(ip_address("168.63.129.16"))
    assert reason == "a cloud metadata address (168.63.129.16)"


@pytest.mark.parametrize(
    "url",
    [
        "http://wireserver.test/machine?comp=goalstate",
        "http://168.63.129.16/metadata/instance",
        "http://corp-v4.test/hook",
        "http://203.0.114.200/hook",
        "http://corp-v6.test/hook",
        "http://corp-mapped.test/hook",
    ],
)
def test_callback_urls_into_blocked_ranges_are_refused_at_submit(
    submit_only: LiveServer, url: str
) -> None:
    key = submit_only.create_account("hooker", 100)
    with submit_only.client(key) as client:
        refused = _submit(client, url)
    assert_error(refused, 400, "INVALID_CALLBACK_URL")
    assert refused.json()["message"].startswith("callback_url is not publicly reachable")


def test_a_public_address_outside_the_operator_ranges_is_accepted(
    submit_only: LiveServer,
) -> None:
    key = submit_only.create_account("fine", 100)
    with submit_only.client(key) as client:
        assert _submit(client, "http://elsewhere.test/hook").status_code == 200


def test_operator_ranges_are_parsed_and_named() -> None:
    ranges = Settings(blocked_networks=OPERATOR_RANGES).extra_blocked
    policy = AddressPolicy.default(also_block=ranges)
    reason = policy.blocked_reason(ip_address("203.0.114.7"))
    assert reason == "a network blocked by the operator (203.0.114.7)"
    assert policy.is_allowed(ip_address("203.0.115.9"))
    # the operator's ranges hold even where private addresses are allowed (local development)
    relaxed = AddressPolicy.allow_all_private(also_block=policy.operator_blocked)
    assert not relaxed.is_allowed(ip_address("203.0.114.7"))
    assert relaxed.is_allowed(ip_address("10.0.0.1"))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("10.0.0.0/33", "'10.0.0.0/33' is not a CIDR network"),
        ("10.0.0.1/8", "'10.0.0.1/8' has host bits set (did you mean 10.0.0.0/8?)"),
        ("10.0.0.0/8,,", "an empty entry"),
        ("corp.internal", "'corp.internal' is not a CIDR network"),
    ],
)
def test_a_bad_range_is_refused_with_a_clear_error(value: str, problem: str) -> None:
    with pytest.raises(ValidationError, match="blocked_networks") as caught:
        Settings(blocked_networks=value)
    assert problem in str(caught.value)


def test_serve_stops_at_start_on_a_bad_range(tmp_path: Path) -> None:
    env = opendance_env(tmp_path / "data", OPENDANCE_BLOCKED_NETWORKS="10.0.0.1/8")
    result = subprocess.run(
        [sys.executable, "-m", "opendance", "serve", "--workers", "0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: OPENDANCE_BLOCKED_NETWORKS: "), result.stderr
    assert "did you mean 10.0.0.0/8?" in result.stderr
