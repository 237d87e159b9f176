"""Which devices one video is spread over (``OPENDANCE_PARALLEL_DEVICES``), checked at start.

A worker given ``cuda:0,cuda:1`` runs every task over both GPUs with context parallelism: the
video's token sequence is split between one process per device and the transformer's attention
exchanges the pieces (see ``parallel``). Every configuration that cannot work is refused here,
before anything loads and without torch, with one message that says what to change; what only
torch can tell (whether the CUDA devices exist) is checked when the engine process starts.

Ulysses (the default) needs the attention heads to divide among the devices; ring attention
needs a backend that returns the softmax's log-sum-exp, which diffusers' only CPU backend
(``native``) does not, so ring is refused on CPU devices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from opendance.engines.diffusers.runtime import ModelConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from opendance.settings import Settings

SETTING: Final = "OPENDANCE_PARALLEL_DEVICES"
KINDS: Final = ("ulysses", "ring")
# The attention of every transformer that the diffusers engines run: Wan has one (or two, for
# the A14B experts); LTX-2 also has an audio stream whose heads are split as well.
HEAD_FIELDS: Final = ("num_attention_heads", "audio_num_attention_heads")

# Tried on CPU with diffusers 0.42.1: LTX-2's ``_cp_plan`` splits the rotary embedding as a
# (batch, tokens, dim) tensor, but the "split" layout is (batch, heads, tokens, dim/2), so the
# split is skipped and the rotation no longer matches the query's share of the tokens
# (``apply_split_rotary_emb``: "The size of tensor a (2) must match the size of tensor b (4)");
# the audio-to-video cross-attention's rotary embedding is not in the plan either.
UNSUPPORTED_ENGINES: Final = {
    "ltx2": "diffusers' context-parallel plan for LTX-2 does not cover its rotary "
    "embeddings (the 'split' layout and the audio-video cross-attention), so the devices' "
    "shares would not match; run LTX-2 on one device per copy (OPENDANCE_DEVICE)",
}


@dataclass(frozen=True)
class ParallelPlan:
    devices: tuple[str, ...]
    kind: str
    """``ulysses`` or ``ring``: how the attention exchanges the sequence's pieces."""

    @property
    def world_size(self) -> int:
        return len(self.devices)

    @property
    def device_type(self) -> str:
        return self.devices[0].split(":", 1)[0]

    @property
    def backend(self) -> str:
        """The torch.distributed backend: NCCL between GPUs, gloo between CPU processes."""
        return "nccl" if self.device_type == "cuda" else "gloo"


def parallel_devices(settings: Settings) -> tuple[str, ...]:
    raw = settings.parallel_devices or ""
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def is_parallel(settings: Settings) -> bool:
    return bool(parallel_devices(settings))


def parallel_plan(settings: Settings) -> ParallelPlan:
    """The checked plan of a worker whose settings name parallel devices."""
    from opendance.engines.registry import loads_model, runs_in_child_process

    devices = parallel_devices(settings)
    prefix = f"{SETTING}={settings.parallel_devices}"
    if len(devices) < 2:
        raise ModelConfigError(f"{prefix}: name at least two devices, e.g. cuda:0,cuda:1")
    if not loads_model(settings):
        raise ModelConfigError(
            f"{prefix}: the {settings.engine} engine runs no model to spread over devices; "
            "use a model engine (ltx2, wan) or unset it"
        )
    if settings.engine in UNSUPPORTED_ENGINES:
        raise ModelConfigError(f"{prefix}: {UNSUPPORTED_ENGINES[settings.engine]}")
    kinds = {name.split(":", 1)[0] for name in devices}
    if len(kinds) > 1 or not kinds <= {"cpu", "cuda"}:
        raise ModelConfigError(
            f"{prefix}: all devices must be CUDA GPUs (cuda:N), or all cpu to try it out"
        )
    kind = next(iter(kinds))
    if kind == "cuda" and len(set(devices)) < len(devices):
        raise ModelConfigError(f"{prefix}: each GPU can hold one part of the video only once")
    if kind == "cuda" and any(name == "cuda" for name in devices):
        raise ModelConfigError(f"{prefix}: name each GPU with its index (cuda:0,cuda:1)")
    if settings.device not in ("auto", devices[0]):
        raise ModelConfigError(
            f"{prefix} already says where the model runs; unset OPENDANCE_DEVICE "
            f"({settings.device})"
        )
    if settings.cpu_offload:
        raise ModelConfigError(
            f"{prefix}: context parallelism keeps the transformer on every device, which "
            "cpu_offload moves off it; turn OPENDANCE_CPU_OFFLOAD off"
        )
    if settings.worker_concurrency != 1:
        raise ModelConfigError(
            f"{prefix}: the devices make one video at a time together; run one task per "
            f"worker (OPENDANCE_WORKER_CONCURRENCY=1, not {settings.worker_concurrency})"
        )
    if not runs_in_child_process(settings):
        raise ModelConfigError(
            f"{prefix}: the processes of the devices are run by the engine's child process; "
            "OPENDANCE_ENGINE_PROCESS must be auto or process"
        )
    if settings.parallel_attention not in KINDS:
        raise ModelConfigError(
            f"OPENDANCE_PARALLEL_ATTENTION={settings.parallel_attention}: use ulysses or ring"
        )
    if settings.parallel_attention == "ring" and kind == "cpu":
        raise ModelConfigError(
            "ring attention needs a GPU: diffusers' ring merges partial attentions by their "
            "log-sum-exp, which its only CPU attention backend (native) does not return; "
            "use OPENDANCE_PARALLEL_ATTENTION=ulysses on CPU devices"
        )
    plan = ParallelPlan(devices=devices, kind=settings.parallel_attention)
    if plan.kind == "ulysses" and settings.model_path is not None:
        check_heads_divide(settings.model_path, plan.world_size)
    return plan


def check_workers(settings: Settings, workers: int) -> None:
    """``serve --workers N`` starts N workers with the same settings: each would start its own
    group on every one of the parallel devices (N copies of the model on each GPU). One
    worker drives them all."""
    if workers > 1 and is_parallel(settings):
        raise ModelConfigError(
            f"{SETTING}={settings.parallel_devices}: each worker runs its own group on all of "
            f"these devices, so {workers} workers would hold {workers} copies of the model on "
            "each; start one (--workers 1), or give other workers other devices"
        )


def check_heads_divide(model_path: Path, world_size: int) -> None:
    """Ulysses gives each device whole attention heads: their count must divide evenly."""
    for name in ("transformer", "transformer_2"):
        config = model_path / name / "config.json"
        if not config.is_file():
            continue
        try:
            values = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelConfigError(f"{config} is not readable JSON ({exc})") from exc
        for field in HEAD_FIELDS:
            heads = values.get(field)
            if isinstance(heads, int) and heads % world_size:
                raise ModelConfigError(
                    f"{SETTING}: {world_size} devices cannot share the {heads} attention heads "
                    f"of {model_path.name}/{name} ({field}); use a number of devices that "
                    "divides it"
                )
