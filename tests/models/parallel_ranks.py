"""Run the tiny Wan pipeline's denoising in one process or as one rank of a group; importable
by spawned processes (the equality test of context parallelism)."""

from __future__ import annotations

from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

# Small enough to denoise in seconds, and 18 tokens (3 latent frames x 2 x 3 patches), which
# split evenly over two ranks.
SIZE = {"height": 64, "width": 96, "num_frames": 9}
STEPS = 2
SEED = 7


def denoise(model_dir: Path, data_dir: Path, progress: Any) -> Any:
    """The Wan engine loaded here, and a call that returns the frames (float32, in [0, 1]) its
    pipeline makes for one prompt, reporting each step to ``progress``."""
    import torch

    from opendance.engines.diffusers.steps import step_reporter
    from opendance.engines.diffusers.wan import WanEngine
    from opendance.settings import Settings

    torch.set_num_threads(1)
    engine = WanEngine(Settings(data_dir=data_dir, engine="wan", model_path=model_dir))
    return engine, lambda: engine.text_pipe(
        prompt="a red fox in the snow",
        negative_prompt="blurred",
        num_inference_steps=STEPS,
        generator=torch.Generator(device="cpu").manual_seed(SEED),
        output_type="np",
        callback_on_step_end=step_reporter(progress, STEPS, start=0.0, end=1.0),
        **SIZE,
    ).frames[0]


def single(model_dir: Path, data_dir: Path) -> Any:
    _, run = denoise(model_dir, data_dir, lambda _fraction: None)
    return run()


def rank(model_dir: Path, data_dir: Path, rank: int, port: int, conn: Connection) -> None:
    """One of two ranks over gloo: load, join, enable context parallelism, denoise, send."""
    from opendance.engines.diffusers.parallel import (
        GroupProgress,
        enable_context_parallel,
        join_group,
    )
    from opendance.engines.diffusers.parallel_plan import ParallelPlan

    plan = ParallelPlan(devices=("cpu", "cpu"), kind="ulysses")
    engine, run = denoise(model_dir, data_dir, GroupProgress(None))
    join_group(plan, rank, port)
    enable_context_parallel(engine, plan)
    conn.send(run())
    conn.close()


def listening_addresses(port: int, conn: Connection) -> None:
    """Join a group of one as rank 0 and send the local addresses this process listens on
    (TCP, IPv4 and IPv6, from /proc)."""
    import os

    import torch.distributed as dist

    from opendance.engines.diffusers.parallel import join_group
    from opendance.engines.diffusers.parallel_plan import ParallelPlan

    join_group(ParallelPlan(devices=("cpu",), kind="ulysses"), 0, port)
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        target = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if target.startswith("socket:["):
            ours.add(target[len("socket:[") : -1])
    listening = []
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in ours:  # 0A: LISTEN
                listening.append(fields[1].split(":")[0])
    dist.destroy_process_group()
    conn.send(listening)
    conn.close()
