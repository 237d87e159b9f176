"""Our signatures verify with the public ``standardwebhooks`` package (not our own code)."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from opendance.domain.webhook_signing import (
    InvalidSecret,
    new_secret,
    parse_retry_schedule,
    secret_key,
    signed_headers,
)

BODY = json.dumps({"code": 200, "message": "success", "data": {"task_id": "t"}}).encode()


def test_signed_message_verifies_with_standardwebhooks() -> None:
    secret = new_secret()
    headers = signed_headers([secret], "msg_1", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_tampered_body_wrong_secret_and_old_timestamp_are_rejected() -> None:
    secret = new_secret()
    now = int(time.time())
    headers = signed_headers([secret], "msg_1", now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"success", b"failure"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
    stale = signed_headers([secret], "msg_1", now - 3600, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, stale)


def test_during_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = signed_headers([new, old], "msg_2", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(BODY, headers)
    assert Webhook(new).verify(BODY, headers)


def test_secrets_are_random_and_long_enough() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(len(secret_key(s)) >= 24 for s in secrets)
    for bad in ("nope", "whsec_!!!", "whsec_" + "QUJD"):
        with pytest.raises(InvalidSecret):
            secret_key(bad)


def test_retry_schedule_parsing() -> None:
    assert parse_retry_schedule("5s,5m,30m,2h,5h,10h,10h") == [
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        36000,
    ]
    assert parse_retry_schedule("1s, 1s,2s") == [1, 1, 2]
    assert parse_retry_schedule("250ms") == [0.25]
    with pytest.raises(ValueError, match="bad retry delay"):
        parse_retry_schedule("5 minutes")
