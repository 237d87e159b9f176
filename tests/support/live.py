"""A real server on loopback: uvicorn in a background thread with its own event loop, over a
real SQLite file; optionally a worker on the same loop (rendering still runs in a thread)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import uvicorn

from opendance.api.app import create_app
from opendance.bootstrap import open_context
from opendance.cli.server import server_config
from opendance.net.addresses import AddressPolicy
from opendance.net.resolver import Resolver
from opendance.services import admin
from opendance.services.context import AppContext
from opendance.services.webhook_dispatch import Dispatcher
from opendance.settings import Settings
from opendance.worker.host import create_host
from opendance.worker.runner import Worker

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    settings: Settings
    with_worker: bool = True
    resolver: Resolver | None = None
    policy: AddressPolicy | None = None
    ctx: AppContext | None = None
    worker: Worker | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def start(self) -> LiveServer:
        self._thread = threading.Thread(target=self._run, name="live-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("server did not start")
        if self._error:
            raise self._error
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("server did not answer /healthz")

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
            self.ctx = await open_context(self.settings, resolver=self.resolver, policy=self.policy)
            # the production configuration (connection cap included), on loopback
            config = server_config(
                create_app(self.ctx), self.settings, host="127.0.0.1", lifespan="off"
            )
            self._server = uvicorn.Server(config)
            worker_task = dispatch_task = None
            if self.with_worker:
                # the operator's path: model engines get their child process, the others a thread
                self.worker = Worker(self.ctx, create_host(self.settings))
                worker_task = asyncio.create_task(self.worker.run())
                dispatcher = Dispatcher(self.ctx, owner=self.worker.id)
                self.worker.on_terminal = dispatcher.wake
                dispatch_task = asyncio.create_task(
                    dispatcher.run(self.worker.stopping, poll_seconds=0.05)
                )
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise
        self._ready.set()
        try:
            await self._server.serve()
        finally:
            if self.worker and worker_task and dispatch_task:
                self.worker.abort()
                await worker_task
                await dispatch_task
            await self.ctx.close()

    def call(self, fn: Callable[[AppContext], Awaitable[T]], timeout: float = 30) -> T:
        """Run ``fn(ctx)`` on the server's loop (database checks, admin actions)."""
        assert self._loop is not None and self.ctx is not None
        ctx = self.ctx
        return asyncio.run_coroutine_threadsafe(fn(ctx), self._loop).result(timeout)

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
        if self._thread:
            self._thread.join(30)

    # conveniences for tests
    def create_account(self, name: str, credits: int = 1000) -> str:
        """Create an account with a key; returns the key."""

        async def make(ctx: AppContext) -> str:
            await admin.create_account(ctx, name, credits)
            return (await admin.create_key(ctx, name)).secret

        return self.call(make)

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


def generate(client: httpx.Client, **body: Any) -> str:
    """POST /v1/generate with ``body`` as it stands; the task id of the accepted task."""
    response = client.post("/v1/generate", json=body)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"]["task_id"]
    return task_id


def wait_for_status(
    client: httpx.Client,
    task_id: str,
    *,
    timeout: float = 120,
    want: tuple[str, ...] = ("SUCCESS", "FAILED"),
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get("/v1/status", params={"task_id": task_id}).json()
        data: dict[str, Any] = body["data"]
        if data["status"] in want:
            return data
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} still {data['status']} after {timeout}s")
        time.sleep(0.1)
