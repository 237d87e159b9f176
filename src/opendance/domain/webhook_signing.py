"""Standard Webhooks signing (https://www.standardwebhooks.com/): what a receiver verifies.

A secret is ``whsec_`` + base64 of random bytes. A message is signed as
``v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>``; during a secret rotation every
message carries one signature per valid secret, separated by spaces, so receivers holding
either secret accept it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
SECRET_BYTES = 32  # the spec asks for 24 to 64
DEFAULT_RETRY_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class InvalidSecret(ValueError):
    """Not a ``whsec_`` secret of base64 bytes."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret("a webhook secret starts with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise InvalidSecret("a webhook secret is 'whsec_' followed by base64") from None
    if len(key) < 24:
        raise InvalidSecret("a webhook secret holds at least 24 random bytes")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of a message."""
    mac = digest(secret_key(secret), message_id, timestamp, body)
    return "v1," + base64.b64encode(mac).decode("ascii")


def digest(key: bytes, message_id: str, timestamp: int, body: bytes) -> bytes:
    """The raw HMAC-SHA256 of a message: what senders sign and receivers compare."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def signature_header(
    secrets_in_force: list[str], message_id: str, timestamp: int, body: bytes
) -> str:
    """The ``webhook-signature`` header value: one signature per secret in force."""
    return " ".join(signature(s, message_id, timestamp, body) for s in secrets_in_force)


def signed_headers(
    secrets_in_force: list[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_in_force, message_id, timestamp, body),
        "content-type": "application/json",
    }


def parse_retry_schedule(text: str) -> list[float]:
    """``"5s,5m,30m"`` → ``[5.0, 300.0, 1800.0]``: the waits before each retry."""
    waits = []
    for part in text.split(","):
        match = _DURATION.match(part)
        if not match:
            raise ValueError(f"bad retry delay {part.strip()!r}: use numbers with ms, s, m, h or d")
        waits.append(float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return waits
