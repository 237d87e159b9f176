"""One video over several devices: a group of processes, one per device, denoising together.

The engine's child process of the worker is rank 0. It starts one process per other device
(ranks 1..N-1), each loads the same engine on its own device, then all join a
``torch.distributed`` group (NCCL between GPUs, gloo between CPU processes) and switch on
diffusers' context parallelism on their transformers: the video's token sequence is split
between the ranks and the attention exchanges the pieces (Ulysses or ring).

For each task rank 0 sends the spec to every rank, and every rank runs the engine's
``generate`` with it: the same seed gives every rank the same noise, text embeddings and
scheduler steps, and the transformer's output is gathered on every rank after each step, so
the ranks stay in lock-step. Rank 0 returns the frames; the others drop theirs.

Cancel: the ranks must leave the denoising loop at the same step, or the ones left behind wait
in a collective forever. So at each progress report (once per step) all ranks agree over the
group whether rank 0's task is cancelled, and all stop together.

Failure: the group is only as good as its weakest member. If any rank dies or fails a task,
rank 0 logs why and exits at once; the worker's crash handling then fails the task with a
refund and starts a new engine process, with a new group, for the next task. A rank whose
rank 0 is gone exits on its own.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, Final, NoReturn

from opendance.engines.base import EngineError
from opendance.engines.diffusers.parallel_plan import ParallelPlan, parallel_plan
from opendance.engines.diffusers.runtime import ModelConfigError
from opendance.worker.control import RenderCancelled

if TYPE_CHECKING:
    from collections.abc import Callable

    from opendance.domain.spec import GenerationSpec
    from opendance.engines.base import (
        EncodedVideo,
        Engine,
        EngineCapabilities,
        GenerationResult,
        ProgressCallback,
    )
    from opendance.settings import Settings

log = logging.getLogger("opendance.engines.parallel")

RANK_FAILED_EXIT: Final = 70
"""Exit code of an engine process whose group lost a rank (the worker restarts it)."""
# Between two collectives a rank waits at most for the slowest rank's step; past this the
# group is broken (a hung GPU), and the collective raises instead of waiting forever.
COLLECTIVE_TIMEOUT: Final = timedelta(minutes=10)
PIPELINE_ATTRIBUTES: Final = ("text_pipe", "image_pipe", "pipe")
TRANSFORMER_COMPONENTS: Final = ("transformer", "transformer_2")


# What rank 0 and the other ranks say over their pipes.
@dataclass(frozen=True)
class Loaded:
    pass


@dataclass(frozen=True)
class Join:
    """Join the group (all ranks loaded)."""

    port: int


@dataclass(frozen=True)
class Joined:
    pass


@dataclass(frozen=True)
class Job:
    spec: GenerationSpec


@dataclass(frozen=True)
class JobEnded:
    outcome: str  # done, cancelled, refused (an EngineError) or failed
    message: str = ""


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class RankFailed:
    message: str


def create_parallel_engine(settings: Settings, create: Callable[[Settings], Engine]) -> Engine:
    """The engine of ``settings`` spread over its parallel devices (rank 0 of the group)."""
    return ParallelEngine(settings, parallel_plan(settings), create)


def rank_settings(settings: Settings, device: str) -> Settings:
    return settings.model_copy(update={"device": device, "parallel_devices": None})


class ParallelEngine:
    """Rank 0: owns the other ranks' processes and runs its own share of every task."""

    def __init__(
        self, settings: Settings, plan: ParallelPlan, create: Callable[[Settings], Engine]
    ) -> None:
        check_devices_exist(plan)
        self.plan = plan
        self._closing = threading.Event()
        self._lock = threading.Lock()
        context = multiprocessing.get_context("spawn")  # no forked CUDA or threads
        self._ranks: list[tuple[BaseProcess, Connection]] = []
        try:
            for rank, device in enumerate(plan.devices[1:], start=1):
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=rank_main,
                    args=(rank_settings(settings, device), plan, rank, theirs),
                    name=f"opendance-rank{rank}",
                    daemon=True,
                )
                process.start()
                theirs.close()
                self._ranks.append((process, ours))
            # every rank loads at once (each on its own device); joining the group needs all
            self.engine = create(rank_settings(settings, plan.devices[0]))
            self._collect(Loaded, "loading")
            port = free_port()
            for _, conn in self._ranks:
                conn.send(Join(port))
            join_group(plan, 0, port)
            enable_context_parallel(self.engine, plan)
            self._collect(Joined, "joining the group")
        except BaseException:
            self._kill_ranks()
            raise
        self.name: str = self.engine.name
        self.capabilities: EngineCapabilities = self.engine.capabilities
        self._monitor = threading.Thread(target=self._watch_ranks, name="ranks", daemon=True)
        self._monitor.start()
        atexit.register(self.close)  # before multiprocessing's own exit hook joins the ranks
        log.info("context parallelism (%s) over %s", plan.kind, ", ".join(plan.devices))

    def generate(
        self, spec: GenerationSpec, on_progress: ProgressCallback
    ) -> GenerationResult | EncodedVideo:
        check_even_split(self.engine, spec, self.plan)
        with self._lock:
            for _, conn in self._ranks:
                conn.send(Job(spec))
            try:
                result = self.engine.generate(spec, GroupProgress(on_progress))
            except RenderCancelled:
                self._job_ended("cancelled")
                raise
            except EngineError:
                # The engine's own refusal (a check on the spec) is the same on every rank,
                # made before the denoising: the group is still in step.
                self._job_ended("refused")
                raise
            except Exception as exc:
                # The other ranks may wait in a collective that rank 0 will never reach.
                log.exception("rank 0 failed a task")
                self._group_lost(f"rank 0 ({self.plan.devices[0]}) failed the task: {exc}")
            self._job_ended("done")
            return result

    def _job_ended(self, outcome: str) -> None:
        """Every rank ended the job as rank 0 did, or the group is out of step and goes down."""
        for rank, (process, conn) in enumerate(self._ranks, start=1):
            message = self._receive(process, conn, f"rank {rank} finishing the task")
            if not (isinstance(message, JobEnded) and message.outcome == outcome):
                device = self.plan.devices[rank]
                self._group_lost(f"rank {rank} ({device}) ended the task otherwise: {message}")

    def _collect(self, expected: type, stage: str) -> None:
        for rank, (process, conn) in enumerate(self._ranks, start=1):
            message = self._receive(process, conn, f"rank {rank} {stage}")
            if isinstance(message, RankFailed):
                raise ModelConfigError(
                    f"device {self.plan.devices[rank]} (rank {rank}): {message.message}"
                )
            if not isinstance(message, expected):
                raise ModelConfigError(f"rank {rank} sent {message!r} while {stage}")

    def _receive(self, process: BaseProcess, conn: Connection, what: str) -> object:
        while not conn.poll(0.2):
            if not process.is_alive():
                self._group_lost(f"{what}: the process exited ({process.exitcode})")
        try:
            message: object = conn.recv()
        except (EOFError, OSError):
            self._group_lost(f"{what}: its pipe closed")
        return message

    def _group_lost(self, why: str) -> NoReturn:
        if self._closing.is_set():
            raise RenderCancelled("the engine is stopping")
        if not hasattr(self, "_monitor"):
            raise ModelConfigError(f"the device group could not start: {why}")
        log.error("the device group is broken (%s); the engine process exits", why)
        self._kill_ranks()
        os._exit(RANK_FAILED_EXIT)

    def _watch_ranks(self) -> None:
        sentinels = {process.sentinel: rank for rank, (process, _) in enumerate(self._ranks, 1)}
        ready = wait(list(sentinels))
        if self._closing.is_set():
            return
        rank = sentinels[ready[0]]  # type: ignore[index]
        process = self._ranks[rank - 1][0]
        process.join(timeout=1)
        self._group_lost(
            f"rank {rank} ({self.plan.devices[rank]}) died (exit code {process.exitcode})"
        )

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        for _, conn in self._ranks:
            with contextlib.suppress(OSError):
                conn.send(Quit())
        for process, _ in self._ranks:
            process.join(timeout=10)
        self._kill_ranks()

    def _kill_ranks(self) -> None:
        self._closing.set()
        for process, conn in self._ranks:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)
            conn.close()


def video_tokens(engine: Any, spec: GenerationSpec) -> int | None:
    """The length of the token sequence the transformer sees for ``spec`` (Wan), if known."""
    from opendance.engines.diffusers.timing import frames_to_generate, generation_size

    pipes = getattr(engine, "image_pipe", None), getattr(engine, "text_pipe", None)
    pipe = pipes[0] if spec.first_frame is not None else pipes[1]
    if pipe is None or not hasattr(engine, "native_fps"):
        return None
    spatial = int(pipe.vae_scale_factor_spatial)
    temporal = int(pipe.vae_scale_factor_temporal)
    patch = pipe.transformer.config.patch_size
    width, height = generation_size(spec.width, spec.height, spatial * int(patch[1]))
    frames = frames_to_generate(spec.duration, engine.native_fps(pipe), temporal)
    latent_frames = (frames - 1) // temporal + 1
    per_frame = (height // spatial // int(patch[1])) * (width // spatial // int(patch[2]))
    return (latent_frames // int(patch[0])) * per_frame


def check_even_split(engine: Any, spec: GenerationSpec, plan: ParallelPlan) -> None:
    """Refuse, before any rank starts, a video whose tokens do not split evenly: diffusers'
    sharder asserts on it (and its "anything" mode gathers unequal pieces, which gloo
    cannot)."""
    tokens = video_tokens(engine, spec)
    if tokens is not None and tokens % plan.world_size:
        raise EngineError(
            f"this video's size and duration ({tokens} tokens) do not split evenly over the "
            f"worker's {plan.world_size} devices; credits refunded (another aspect ratio or "
            "duration may)"
        )


class GroupProgress:
    """The progress callback of one rank: all ranks agree, at each report, whether to stop.

    Every rank runs the same code, so each makes the same reports in the same order: each
    report is one small all-reduce (a 1 if rank 0's task is cancelled), and the ranks raise
    ``RenderCancelled`` together, at the same step."""

    def __init__(self, report: ProgressCallback | None) -> None:
        self.report = report

    def __call__(self, fraction: float) -> None:
        import torch
        import torch.distributed as dist

        cancelled: RenderCancelled | None = None
        if self.report is not None:
            try:
                self.report(fraction)
            except RenderCancelled as exc:
                cancelled = exc
        flag = torch.tensor([1 if cancelled else 0], device=_group_device())
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if int(flag.item()):
            raise cancelled or RenderCancelled("cancelled on rank 0")


def _group_device() -> Any:
    import torch

    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def rank_main(settings: Settings, plan: ParallelPlan, rank: int, conn: Connection) -> None:
    """A rank other than 0: load, join the group, then run rank 0's jobs until told to quit."""
    # As the engine process does: the worker decides when to stop (it drains the task first),
    # so the terminal's Ctrl-C and a service manager's SIGTERM are ignored; rank 0 says quit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from opendance.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    _exit_with_parent()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from opendance.engines.registry import ENGINES

    try:
        engine = ENGINES[settings.engine].create(settings)
    except Exception as exc:
        log.exception("rank %d could not load the engine", rank)
        conn.send(RankFailed(f"{type(exc).__name__}: {exc}"))
        return
    conn.send(Loaded())
    message = _receive_or_quit(conn)
    if not isinstance(message, Join):
        return
    try:
        join_group(plan, rank, message.port)
        enable_context_parallel(engine, plan)
    except Exception as exc:
        log.exception("rank %d could not join the group", rank)
        conn.send(RankFailed(f"{type(exc).__name__}: {exc}"))
        return
    conn.send(Joined())
    while isinstance(job := _receive_or_quit(conn), Job):
        try:
            engine.generate(job.spec, GroupProgress(None))
        except RenderCancelled as exc:
            conn.send(JobEnded("cancelled", str(exc)))
            continue
        except EngineError as exc:
            conn.send(JobEnded("refused", str(exc)))
            continue
        except Exception as exc:
            # Rank 0 may wait in a collective this rank will never reach: the group is over.
            log.exception("rank %d failed a task", rank)
            conn.send(JobEnded("failed", f"{type(exc).__name__}: {exc}"))
            return
        conn.send(JobEnded("done"))


def _receive_or_quit(conn: Connection) -> object:
    try:
        message: object = conn.recv()
    except (EOFError, OSError):
        return Quit()
    return message


def _exit_with_parent() -> None:
    """A rank never outlives rank 0 (killed, crashed or restarted by the worker)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="parent", daemon=True).start()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def join_group(plan: ParallelPlan, rank: int, port: int) -> None:
    """Join the group whose rendezvous rank 0 holds on ``port``; all on loopback only."""
    import torch
    import torch.distributed as dist

    if plan.device_type == "cuda":
        torch.cuda.set_device(torch.device(plan.devices[rank]))
    _links_on_loopback()
    listener = None
    if rank == 0:
        # torch's rendezvous store listens on every interface whatever the address it is
        # given: anyone on the network could join the group or unsettle it. Handed a socket
        # bound to loopback, it listens there only.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", port))
            listener.listen()
        except BaseException:
            listener.close()
            raise
    # every rank passes the store itself: init_method would name its keys otherwise
    store = dist.TCPStore(
        "127.0.0.1",
        port,
        plan.world_size,
        is_master=rank == 0,
        timeout=COLLECTIVE_TIMEOUT,
        master_listen_fd=listener.detach() if listener is not None else None,  # now the store's
    )
    dist.init_process_group(
        plan.backend,
        store=store,
        rank=rank,
        world_size=plan.world_size,
        timeout=COLLECTIVE_TIMEOUT,
    )


def _links_on_loopback() -> None:
    """The ranks' own links (gloo's pairs, NCCL's bootstrap) on the loopback interface: by
    default gloo listens on the address of the host's name and NCCL on a network interface.
    An operator's own choice (the variables already set) stands."""
    loopback = next((name for _, name in socket.if_nameindex() if name.startswith("lo")), None)
    if loopback is not None:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", loopback)
        os.environ.setdefault("NCCL_SOCKET_IFNAME", loopback)


def check_devices_exist(plan: ParallelPlan) -> None:
    if plan.device_type != "cuda":
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [name for name in plan.devices if int(name.split(":", 1)[1]) >= count]
    if missing:
        raise ModelConfigError(
            f"OPENDANCE_PARALLEL_DEVICES: {', '.join(missing)} not found; this machine has "
            f"{count} CUDA device(s)"
        )


def transformers_of(engine: Engine) -> list[Any]:
    """The engine's denoising transformers, each once (pipelines share their components)."""
    found: dict[int, Any] = {}
    for attribute in PIPELINE_ATTRIBUTES:
        pipe = getattr(engine, attribute, None)
        components = getattr(pipe, "components", None) or {}
        for name in TRANSFORMER_COMPONENTS:
            module = components.get(name)
            if module is not None and getattr(module, "_cp_plan", None) is not None:
                found[id(module)] = module
    return list(found.values())


def enable_context_parallel(engine: Engine, plan: ParallelPlan) -> None:
    """Switch on diffusers' context parallelism on each of the engine's transformers."""
    import torch
    from diffusers import ContextParallelConfig

    modules = transformers_of(engine)
    if not modules:
        raise ModelConfigError(
            f"the {engine.name} engine has no transformer that diffusers "
            "can run with context parallelism"
        )
    device = torch.device(plan.devices[torch.distributed.get_rank()])
    for module in modules:
        degree = {f"{plan.kind}_degree": plan.world_size}
        config = ContextParallelConfig(**degree)
        _resolve_on(module, device)
        try:
            module.enable_parallelism(config=config)
        except (ValueError, RuntimeError, NotImplementedError) as exc:
            raise ModelConfigError(f"context parallelism cannot run here: {exc}") from exc


def _resolve_on(module: Any, device: Any) -> None:
    """Make ``enable_parallelism`` use this rank's own device.

    diffusers 0.42 derives it as ``torch.device(accelerator, rank % device_count())``
    (``ModelMixin._resolve_parallel_config``): on a CPU, with no accelerator, that divides by
    zero, and on GPUs it picks cuda:RANK rather than the device the operator named (cuda:2 for
    rank 0 of ``cuda:2,cuda:3``). The same steps with our device instead; the mesh is built
    from the config exactly as diffusers builds it."""
    import torch
    from diffusers.models._modeling_parallel import ContextParallelConfig, ParallelConfig

    def resolve(config: Any) -> Any:
        if isinstance(config, ContextParallelConfig):
            config = ParallelConfig(context_parallel_config=config)
        cp_config = config.context_parallel_config
        mesh = cp_config.mesh or torch.distributed.device_mesh.init_device_mesh(
            device_type=device.type,
            mesh_shape=cp_config.mesh_shape,
            mesh_dim_names=cp_config.mesh_dim_names,
        )
        rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
        config.setup(rank, world_size, device, mesh=mesh)
        module._parallel_config = config
        return config

    module._resolve_parallel_config = resolve
