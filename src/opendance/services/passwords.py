"""Dashboard passwords: Argon2id hashes (argon2-cffi, its RFC 9106 defaults).

Hashing costs tens of milliseconds and 64 MiB on purpose; callers run it on the threads of
``password_pool``, so the event loop keeps serving API requests meanwhile.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from opendance.errors import AdminError

MIN_LENGTH = 8
MAX_LENGTH = 1024  # a bound on the work one sign-in can ask for

_hasher = PasswordHasher()


def check_new_password(password: str) -> None:
    """Raise ``AdminError`` saying what to change if ``password`` may not be set."""
    if len(password) < MIN_LENGTH:
        raise AdminError(f"the password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise AdminError(f"the password must be at most {MAX_LENGTH} characters")
    if password.strip() == "":
        raise AdminError("the password must not be only spaces")


def hash_password(password: str) -> str:
    check_new_password(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches. Without a hash (no such user, or no password set) the
    same work is done against a dummy hash, so the answer's timing does not tell which."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with older parameters than the library's current defaults."""
    return _hasher.check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not a password of anyone")
