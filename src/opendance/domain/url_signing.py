"""URL signatures for stored objects: the URL itself is the credential, like a CDN link."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: bytes, key: str) -> str:
    digest = hmac.new(secret, key.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode("ascii")


def verify(secret: bytes, key: str, signature: str) -> bool:
    # bytes, not str: compare_digest refuses non-ASCII strings, and a URL may carry anything
    return hmac.compare_digest(sign(secret, key).encode(), signature.encode("utf-8", "replace"))
