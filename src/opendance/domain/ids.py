"""Opaque, URL-safe, unguessable identifiers and API keys."""

from __future__ import annotations

import hashlib
import secrets

API_KEY_PREFIX = "od_"


def new_task_id() -> str:
    # 128 random bits: unguessable, and short enough to read in logs.
    return "task_" + secrets.token_urlsafe(16)


def new_account_id() -> str:
    return "acc_" + secrets.token_urlsafe(12)


def new_key_id() -> str:
    return "key_" + secrets.token_urlsafe(12)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_seed() -> int:
    return secrets.randbelow(2**32)
