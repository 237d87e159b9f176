"""Argon2 password hashing of dashboard users."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from opendance.errors import AdminError
from opendance.services.passwords import (
    MAX_LENGTH,
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_a_hash_is_argon2id_salted_and_verifies_only_its_password() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("$argon2id$") and first != second  # a new salt each time
    assert verify_password(first, "correct horse")
    assert not verify_password(first, "correct horsE")
    assert not verify_password(first, "")


def test_no_hash_or_a_broken_one_never_verifies() -> None:
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "anything")


def test_passwords_that_may_not_be_set_say_why() -> None:
    for bad, why in [("short", "at least 8"), (" " * 12, "only spaces"), ("x" * 2000, "at most")]:
        with pytest.raises(AdminError, match=why):
            check_new_password(bad)


def test_an_overlong_password_is_refused_without_hashing_it() -> None:
    stored = hash_password("correct horse")
    assert not verify_password(stored, "x" * (MAX_LENGTH + 1))


def test_hashes_made_with_weaker_parameters_are_upgraded() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse")
    assert needs_rehash(weak) and verify_password(weak, "correct horse")
    assert not needs_rehash(hash_password("correct horse"))
