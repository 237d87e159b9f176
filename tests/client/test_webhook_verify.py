"""opendance.client.webhooks.verify, as a receiver uses it: against the server's own signer and the
public standardwebhooks package, and against tampering, replays and rotated secrets."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from opendance.client.webhooks import WebhookVerificationError, verify
from opendance.domain.webhook_signing import new_secret, signed_headers

BODY = json.dumps(
    {"code": 200, "message": "success", "data": {"task_id": "task_1", "status": "SUCCESS"}}
).encode()


def _server_signed(secrets: list[str], at: int | None = None) -> dict[str, str]:
    return signed_headers(secrets, "msg_1", int(time.time()) if at is None else at, BODY)


def test_a_message_signed_by_the_server_verifies_and_returns_the_body() -> None:
    secret = new_secret()
    event = verify(BODY, _server_signed([secret]), secret)
    assert event["data"]["task_id"] == "task_1"
    assert verify(BODY.decode(), _server_signed([secret]), secret) == event


def test_a_message_signed_by_standardwebhooks_verifies() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    signature = Webhook(secret).sign("msg_7", now, BODY.decode())
    headers = {
        "Webhook-Id": "msg_7",  # any letter case
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": signature,
    }
    assert verify(BODY, headers, secret)["code"] == 200
    assert verify(BODY, headers, secret.removeprefix("whsec_"))["code"] == 200
    key = base64.b64decode(secret.removeprefix("whsec_"))
    assert verify(BODY, headers, key)["code"] == 200


def test_standardwebhooks_and_verify_agree_on_the_same_headers() -> None:
    secret = new_secret()
    headers = _server_signed([secret])
    assert Webhook(secret).verify(BODY, headers) == verify(BODY, headers, secret)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, h: (body.replace(b"SUCCESS", b"FAILED"), h),
        lambda body, h: (body + b" ", h),
        lambda body, h: (body, {**h, "webhook-id": "msg_2"}),
        lambda body, h: (body, {**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}),
        lambda body, h: (body, {**h, "webhook-signature": "v1," + "A" * 44}),
        lambda body, h: (body, {**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}),
        lambda body, h: (body, {**h, "webhook-signature": "v1,not base64!"}),
        lambda body, h: (body, {k: v for k, v in h.items() if k != "webhook-signature"}),
        lambda body, h: (body, {k: v for k, v in h.items() if k != "webhook-id"}),
        lambda body, h: (body, {**h, "webhook-timestamp": "soon"}),
    ],
    ids=[
        "body-changed",
        "body-extended",
        "other-id",
        "other-timestamp",
        "forged-signature",
        "unknown-version",
        "garbage-signature",
        "no-signature",
        "no-id",
        "bad-timestamp",
    ],
)
def test_tampered_messages_are_rejected(tamper: object) -> None:
    secret = new_secret()
    body, headers = tamper(BODY, _server_signed([secret]))  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError):
        verify(body, headers, secret)


def test_a_wrong_secret_is_rejected() -> None:
    headers = _server_signed([new_secret()])
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(BODY, headers, new_secret())


def test_stale_and_future_timestamps_are_rejected_outside_the_tolerance() -> None:
    secret = new_secret()
    now = 1_800_000_000
    clock = lambda: float(now)  # noqa: E731
    for offset in (-301, 301):
        headers = _server_signed([secret], at=now + offset)
        with pytest.raises(WebhookVerificationError, match=r"too old|future"):
            verify(BODY, headers, secret, now=clock)
    for offset in (-300, 0, 300):
        assert verify(BODY, _server_signed([secret], at=now + offset), secret, now=clock)
    old = _server_signed([secret], at=now - 3600)
    assert verify(BODY, old, secret, now=clock, tolerance=7200)


def test_during_a_server_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = _server_signed([new, old])  # the server signs with both for a day
    assert len(headers["webhook-signature"].split()) == 2
    assert verify(BODY, headers, old) and verify(BODY, headers, new)


def test_a_receiver_rotating_its_secret_accepts_either() -> None:
    old, new = new_secret(), new_secret()
    assert verify(BODY, _server_signed([old]), [new, old])
    assert verify(BODY, _server_signed([new]), [new, old])
    with pytest.raises(WebhookVerificationError):
        verify(BODY, _server_signed([new_secret()]), [new, old])


def test_an_unusable_secret_is_a_configuration_error_not_a_bad_message() -> None:
    headers = _server_signed([new_secret()])
    for bad in ("whsec_", [], b""):
        with pytest.raises(ValueError, match="secret") as caught:
            verify(BODY, headers, bad)
        assert not isinstance(caught.value, WebhookVerificationError)
