"""Settings that cannot spread a video over devices are refused at start, with what to change,
before anything loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opendance.cli.server import run_server
from opendance.engines.diffusers.parallel_plan import ParallelPlan, parallel_plan
from opendance.engines.diffusers.runtime import ModelConfigError
from opendance.engines.registry import preflight
from opendance.settings import Settings


def _wan_dir(root: Path, heads: int = 2) -> Path:
    """A directory with what the checks read: the pipeline index and the transformer config."""
    (root / "transformer").mkdir(parents=True, exist_ok=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    config = {"_class_name": "WanTransformer3DModel", "num_attention_heads": heads}
    (root / "transformer" / "config.json").write_text(json.dumps(config))
    return root


def _settings(tmp_path: Path, **values: object) -> Settings:
    base: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "engine": "wan",
        "model_path": _wan_dir(tmp_path / "wan"),
    }
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


def test_two_gpus_make_a_ulysses_plan_over_nccl(tmp_path: Path) -> None:
    plan = parallel_plan(_settings(tmp_path, parallel_devices="cuda:0, cuda:1"))
    assert plan == ParallelPlan(devices=("cuda:0", "cuda:1"), kind="ulysses")
    assert plan.backend == "nccl" and plan.world_size == 2


def test_two_cpu_processes_use_gloo(tmp_path: Path) -> None:
    plan = parallel_plan(_settings(tmp_path, parallel_devices="cpu,cpu"))
    assert plan.backend == "gloo" and plan.device_type == "cpu"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"parallel_devices": "cuda:0"}, "at least two devices"),
        ({"parallel_devices": "cuda:0,cpu"}, "all devices must be CUDA GPUs"),
        ({"parallel_devices": "mps,mps"}, "all devices must be CUDA GPUs"),
        ({"parallel_devices": "cuda:1,cuda:1"}, "only once"),
        ({"parallel_devices": "cuda,cuda:1"}, "with its index"),
        ({"parallel_devices": "cuda:0,cuda:1", "cpu_offload": True}, "OPENDANCE_CPU_OFFLOAD"),
        ({"parallel_devices": "cuda:0,cuda:1", "device": "cuda:3"}, "unset OPENDANCE_DEVICE"),
        (
            {"parallel_devices": "cuda:0,cuda:1", "worker_concurrency": 2},
            "OPENDANCE_WORKER_CONCURRENCY=1",
        ),
        (
            {"parallel_devices": "cuda:0,cuda:1", "engine_process": "thread"},
            "OPENDANCE_ENGINE_PROCESS",
        ),
        ({"parallel_devices": "cpu,cpu", "parallel_attention": "ring"}, "ring attention needs"),
        ({"parallel_devices": "cpu,cpu", "engine": "preview"}, "runs no model"),
        ({"parallel_devices": "cpu,cpu", "engine": "ltx2"}, "rotary embeddings"),
        ({"parallel_devices": "cpu,cpu,cpu"}, "cannot share the 2 attention heads"),
    ],
)
def test_impossible_configurations_are_refused_with_what_to_change(
    tmp_path: Path, values: dict[str, object], message: str
) -> None:
    with pytest.raises(ModelConfigError, match=message):
        parallel_plan(_settings(tmp_path, **values))


def test_the_worker_preflight_refuses_them(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="cannot share the 2 attention heads"):
        preflight(_settings(tmp_path, parallel_devices="cpu,cpu,cpu"))
    preflight(_settings(tmp_path, parallel_devices="cpu,cpu"))  # a plan that works passes


def test_ring_on_gpus_is_planned(tmp_path: Path) -> None:
    settings = _settings(tmp_path, parallel_devices="cuda:0,cuda:1", parallel_attention="ring")
    assert parallel_plan(settings).kind == "ring"


async def test_serve_refuses_several_workers_over_the_same_parallel_devices(
    tmp_path: Path,
) -> None:
    """Each worker would start its own group on every one of those devices: N copies of the
    model per GPU, fighting over its memory. One worker drives the devices."""
    settings = _settings(tmp_path, parallel_devices="cpu,cpu")
    with pytest.raises(ModelConfigError, match="--workers 1"):
        await run_server(settings, workers=2, demo=False)
    assert not (tmp_path / "data").exists()  # refused before anything opened
