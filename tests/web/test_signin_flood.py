"""Sign-ins sent all at once, over real HTTP: the limit holds for the passwords actually checked,
and hashing keeps to threads of its own."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from argon2 import PasswordHasher
from tests.support.live import LiveServer
from tests.support.web import PASSWORD, add_user, csrf_of

from opendance.services import passwords
from opendance.settings import Settings


class CountingHasher(PasswordHasher):
    """The real Argon2 hasher, counting the passwords it checks and the threads it runs on."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.checks += 1
            self.threads.add(threading.current_thread().name)
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(passwords, "_hasher", counting)
    return counting


def test_a_flood_of_sign_ins_checks_at_most_the_limit_and_the_right_password_stays_out(
    api_only_server: LiveServer, settings: Settings, hasher: CountingHasher
) -> None:
    limit = settings.signin_attempts_per_15_minutes
    assert limit == 10  # the documented default
    add_user(api_only_server, "alice")

    async def flood() -> tuple[list[httpx.Response], httpx.Response]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(
            base_url=api_only_server.url, timeout=120, limits=limits
        ) as client:
            token = csrf_of(await client.get("/dashboard/signin"))

            async def attempt(password: str) -> httpx.Response:
                fields = {"csrf_token": token, "identifier": "alice", "password": password}
                return await client.post("/dashboard/signin", data=fields)

            first = [asyncio.create_task(attempt(f"guess number {n}")) for n in range(60)]
            # the right password goes in once the limit's worth of passwords are being checked
            # (or every earlier attempt has its answer), while the flood is still going on
            while hasher.checks < limit:
                _done, pending = await asyncio.wait(first, timeout=0.002)
                if not pending:
                    break
            right = asyncio.create_task(attempt(PASSWORD))
            rest = [asyncio.create_task(attempt(f"guess number {n}")) for n in range(61, 100)]
            wrong = await asyncio.gather(*first, *rest)
            return wrong, await right

    wrong, right = asyncio.run(flood())
    assert hasher.checks <= limit
    assert right.status_code == 429, right.status_code
    assert "od_session" not in right.headers.get("set-cookie", "")
    assert {answer.status_code for answer in wrong} <= {401, 429, 503}
    assert sum(answer.status_code == 401 for answer in wrong) <= limit
    # Argon2 ran on the threads kept for it, not on the loop's default executor, which the
    # rest of the server (file reads, uploads) shares
    assert hasher.threads and all(name.startswith("opendance-passwords") for name in hasher.threads)
