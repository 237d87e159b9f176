"""``opendance serve`` and ``opendance worker``: the API in this process, workers as children."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import typer
import uvicorn
from starlette.types import ASGIApp

from opendance import __version__
from opendance.api.app import create_app
from opendance.bootstrap import open_context
from opendance.engines.diffusers.parallel_plan import check_workers
from opendance.engines.registry import preflight
from opendance.services.admin import DEMO_CREDITS, ensure_demo_account
from opendance.services.context import AppContext
from opendance.services.webhook_dispatch import Dispatcher
from opendance.settings import Settings
from opendance.storage.factory import parse_storage_url
from opendance.worker.host import check_concurrency, create_host
from opendance.worker.runner import Worker

log = logging.getLogger("opendance.server")


async def run_server(settings: Settings, *, workers: int, demo: bool) -> None:
    if workers:
        # a wrong model path or device list stops here, not in N restarting workers
        preflight(settings)
        check_concurrency(settings)
        check_workers(settings, workers)
    ctx = await open_checked_context(settings)
    supervisor = WorkerSupervisor(settings, workers)
    try:
        server = uvicorn.Server(server_config(create_app(ctx), settings))
        # uvicorn handles SIGINT/SIGTERM while it serves and re-raises them when it is done;
        # with these handlers in place the re-raised signal lands here instead of killing the
        # process before the workers are drained below.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _note_shutdown_signal)
        started = asyncio.create_task(_once_listening(server, ctx, supervisor, workers, demo))
        try:
            await server.serve()
        finally:
            started.cancel()
    finally:
        await asyncio.to_thread(supervisor.stop)
        await ctx.close()


def server_config(app: ASGIApp, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """How the API is served (the tests' live servers too, with their own ``overrides``)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        # A cap on open connections: beyond it uvicorn answers 503 at once, instead of the
        # process running out of file descriptors or memory. Trickling clients cannot hold
        # their places for long: the body deadline (BodyDeadlineMiddleware) cuts them off.
        "limit_concurrency": settings.limit_concurrency,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


async def open_checked_context(settings: Settings) -> AppContext:
    """The context, once its object store proved usable: a missing bucket or no credentials
    is one clear error at start-up, not a failure of every task."""
    ctx = await open_context(settings)
    try:
        await ctx.store.check()
    except BaseException:
        await ctx.close()
        raise
    return ctx


async def _once_listening(
    server: uvicorn.Server,
    ctx: AppContext,
    supervisor: WorkerSupervisor,
    workers: int,
    demo: bool,
) -> None:
    """Only once the port is ours: make the demo account (its key is shown once, so never
    before a bind that could fail), start the workers, print the banner, supervise."""
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.02)
    demo_key = await ensure_demo_account(ctx) if demo else None
    supervisor.start()
    _banner(ctx.settings, workers, demo_key.secret if demo_key else None)
    await supervisor.watch()


async def run_worker(settings: Settings) -> None:
    preflight(settings)
    host = create_host(settings)  # before the database: wrong settings stop here
    ctx = await open_checked_context(settings)
    worker = Worker(ctx, host)
    loop = asyncio.get_running_loop()
    drain_timer: asyncio.TimerHandle | None = None

    def on_signal(signum: int) -> None:
        nonlocal drain_timer
        if worker.stopping.is_set():
            log.warning("second signal: handing the tasks in hand back now")
            worker.abort()
            return
        log.info("signal %d: finishing the tasks in hand, then stopping", signum)
        worker.stop()
        drain_timer = loop.call_later(settings.drain_seconds, worker.abort)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    orphan_watch = asyncio.create_task(_stop_when_orphaned(worker, settings.supervisor_pid))
    # Every worker process also sends webhooks; claims keep several dispatchers apart.
    dispatcher = Dispatcher(ctx, owner=worker.id)
    worker.on_terminal = dispatcher.wake
    dispatching = asyncio.create_task(dispatcher.run(worker.stopping))
    try:
        await worker.run()
        await dispatching
    finally:
        dispatching.cancel()
        orphan_watch.cancel()
        if drain_timer:
            drain_timer.cancel()
        await ctx.close()


async def _stop_when_orphaned(worker: Worker, supervisor_pid: int | None) -> None:
    """A worker of 'opendance serve' must not outlive it (e.g. serve was SIGKILLed): when its
    parent is no longer the supervisor, it finishes its tasks and stops."""
    if supervisor_pid is None:
        return
    while os.getppid() == supervisor_pid:  # noqa: ASYNC110 - polling a pid, no event exists
        await asyncio.sleep(1.0)
    log.warning("the supervising 'opendance serve' (pid %d) is gone; stopping", supervisor_pid)
    worker.stop()


class WorkerSupervisor:
    """Keeps N ``opendance worker`` children alive; restarts any that dies (a crashed worker's
    task comes back to the queue when its lease expires)."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []
        self._stopping = False

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]

    def _spawn(self) -> subprocess.Popen[bytes]:
        # A session of their own: a Ctrl-C or a service manager's SIGTERM to serve's process
        # group must not reach the workers directly, or the supervisor's own SIGTERM would be
        # their second signal ("hand the task back now") instead of a drain.
        return subprocess.Popen(
            [sys.executable, "-m", "opendance", "worker"],
            env=_worker_env(self.settings),
            start_new_session=True,
        )

    async def watch(self) -> None:
        restarts: list[float] = []
        while not self._stopping:
            await asyncio.sleep(0.5)
            for i, proc in enumerate(self.procs):
                if proc.poll() is None or self._stopping:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > 10 * max(1, self.count):
                    log.error("workers keep dying; waiting before the next restart")
                    await asyncio.sleep(5)
                log.warning("worker pid %d exited with %s; restarting", proc.pid, proc.returncode)
                self.procs[i] = self._spawn()

    def stop(self) -> None:
        """SIGTERM every worker (they finish their task), wait for the drain, then kill."""
        self._stopping = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_seconds + 10
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _note_shutdown_signal(signum: int, _frame: object) -> None:
    log.info("signal %d: stopping; workers finish their tasks first", signum)


def _worker_env(settings: Settings) -> dict[str, str]:
    """The parent's resolved settings, so children use the same database, files and URLs."""
    env = dict(os.environ)
    values = settings.model_dump()
    values["data_dir"] = str(settings.data_dir.resolve())
    values["database_url"] = settings.resolved_database_url
    values["public_url"] = settings.resolved_public_url
    values["supervisor_pid"] = os.getpid()
    for name, value in values.items():
        if value is not None:
            env[f"OPENDANCE_{name.upper()}"] = str(value)
    return env


def _banner(settings: Settings, workers: int, demo_key: str | None) -> None:
    base = settings.resolved_public_url
    concurrency = settings.worker_concurrency
    each = f" running {concurrency} tasks each" if concurrency > 1 else ""
    lines = [
        f"Opendance {__version__} listening on http://{settings.host}:{settings.port}",
        f"  public URL {base}, engine {settings.engine}, {workers} worker(s){each}, "
        f"data in {settings.data_dir.resolve()}",
    ]
    if settings.storage_url:
        lines.append(f"  objects in {_storage_shown(settings)}")
    if demo_key:
        lines += [
            "",
            f"Created the 'demo' account with {DEMO_CREDITS} credits. Its API key (shown once):",
            f"  {demo_key}",
            "",
            "Try it:",
            f"  curl -X POST '{base}/v1/generate' -H 'Authorization: Bearer {demo_key}' \\",
            "    -H 'Content-Type: application/json' \\",
            '    -d \'{"prompt": "A cinematic shot of mountains at sunrise", '
            '"aspect_ratio": "16:9", "resolution": "720p", "duration": "8"}\'',
            f"  curl '{base}/v1/status?task_id=TASK_ID' -H 'Authorization: Bearer {demo_key}'",
        ]
    typer.echo("\n".join(lines), err=False)


def _storage_shown(settings: Settings) -> str:
    """Where the objects go, for the banner: the bucket and the endpoint's host, no secrets."""
    assert settings.storage_url
    shown = str(parse_storage_url(settings.storage_url))
    if settings.s3_endpoint_url:
        endpoint = urlsplit(settings.s3_endpoint_url)
        shown += f" at {endpoint.scheme}://{endpoint.hostname}"
        if endpoint.port:
            shown += f":{endpoint.port}"
    return shown
