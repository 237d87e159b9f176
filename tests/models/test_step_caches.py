"""Recipes on tiny random-weight models, through the engines' own loading and call arguments:
each step cache does less transformer work per video and stays close to the uncached video;
distilled schedules run one transformer pass per step; regional compile runs on this CPU.

Work is counted where it is done: a forward pre-hook on every linear layer inside the
transformer's blocks fires only when a block really computes (a cache that skips a block, or
predicts an attention output, never calls them). The caches' thresholds here are set so that
they skip on random weights, whose residuals change far more from step to step than a trained
model's; the defaults are for trained models.

Tolerance: against the uncached video of the same seed (pixels in 0..1), a mean absolute
difference of at most 0.01 and a PSNR of at least 35 dB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from opendance.domain.spec import GenerationSpec
from opendance.engines.diffusers.acceleration import run_pipeline
from opendance.settings import Settings

STEPS = 6
MAX_MEAN_DIFFERENCE = 0.01
MIN_PSNR_DB = 35.0


class Cancelled(Exception):
    """What the engine's progress callback raises for a cancelled task."""


@dataclass
class Render:
    frames: np.ndarray
    block_work: int  # linear-layer calls inside the transformer blocks
    transformer_calls: int


def make_engine(kind: str, model: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {"inference_steps": STEPS} | overrides
    settings = Settings(engine=kind, model_path=model, device="cpu", **values)
    if kind == "ltx2":
        from opendance.engines.diffusers.ltx2 import LTX2Engine

        return LTX2Engine(settings)
    from opendance.engines.diffusers.wan import WanEngine

    return WanEngine(settings)


def render(
    engine: Any, seed: int = 7, *, stop_at_step: int | None = None, count: bool = True
) -> Render:
    """One small video with the engine's own call arguments (steps, guidance, sigmas)."""
    import torch

    spec = GenerationSpec(
        prompt="a fox in the snow", aspect_ratio="16:9", resolution="480p", duration=4,
        generate_audio=False, fixed_lens=False, seed=seed,
    )  # fmt: skip
    if engine.name == "wan":
        args = engine.call_arguments(spec, lambda _f: None, 1.0)
    else:
        args = engine.call_arguments(spec, lambda _f: None)
    args.update(height=64, width=64, num_frames=9, output_type="np")
    if stop_at_step is not None:
        args["callback_on_step_end"] = _stop_at(stop_at_step)
    transformer = engine.text_pipe.transformer
    blocks = getattr(transformer, "transformer_blocks", None) or transformer.blocks
    counts = {"work": 0, "calls": 0}

    def counter(key: str) -> Any:
        def hook(_module: Any, _args: Any) -> None:
            counts[key] += 1

        return hook

    handles = []
    if count:
        handles.append(transformer.register_forward_pre_hook(counter("calls")))
        handles += [
            module.register_forward_pre_hook(counter("work"))
            for block in blocks
            for module in block.modules()
            if isinstance(module, torch.nn.Linear)
        ]
    try:
        output = run_pipeline(engine.text_pipe, args)  # what the engines' generate calls
    finally:
        for handle in handles:
            handle.remove()
    frames = np.asarray(output.frames[0], dtype=np.float64)
    return Render(frames, counts["work"], counts["calls"])


def _stop_at(step: int) -> Any:
    """A step callback that cancels the render after ``step``, as a cancelled task does."""

    def callback(_pipe: Any, index: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if index == step:
            raise Cancelled("cancelled")
        return kwargs

    return callback


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def uncached(tiny_models: dict[str, Path]) -> dict[str, Render]:
    return {kind: render(make_engine(kind, tiny_models[kind])) for kind in ("wan", "ltx2")}


CACHES = [
    ("wan", {"step_cache": "first-block", "cache_threshold": 1.0}),
    ("wan", {"step_cache": "mag", "cache_mag_ratios": ",".join(["1.0"] * STEPS),
             "cache_threshold": 0.5}),
    ("wan", {"step_cache": "taylorseer", "cache_interval": 2}),
    ("wan", {"step_cache": "sea", "cache_threshold": 10.0}),
    ("ltx2", {"step_cache": "taylorseer", "cache_interval": 2}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "cache"), CACHES, ids=[f"{k}-{c['step_cache']}" for k, c in CACHES]
)
def test_each_step_cache_does_less_work_and_stays_close(
    kind: str, cache: dict[str, Any], tiny_models: dict[str, Path], uncached: dict[str, Render]
) -> None:
    engine = make_engine(kind, tiny_models[kind], **cache)
    assert engine.recipe.cache is not None and engine.recipe.cache.kind == cache["step_cache"]
    cached = render(engine)
    baseline = uncached[kind]
    # The cache works inside the transformer: the pipeline still calls it once per branch.
    assert cached.transformer_calls == baseline.transformer_calls
    assert cached.block_work < baseline.block_work, (cached.block_work, baseline.block_work)
    assert cached.frames.shape == baseline.frames.shape
    difference = float(np.mean(np.abs(cached.frames - baseline.frames)))
    assert difference <= MAX_MEAN_DIFFERENCE
    assert psnr(cached.frames, baseline.frames) >= MIN_PSNR_DB


@pytest.mark.parametrize("cache", ["mag", "taylorseer"])
def test_a_cancelled_render_leaves_no_cache_state_to_the_next(
    cache: str, tiny_models: dict[str, Path]
) -> None:
    """mag and TaylorSeer count steps: a render stopped mid-schedule must not shift the next."""
    settings = dict(next(c for k, c in CACHES if k == "wan" and c["step_cache"] == cache))
    fresh = render(make_engine("wan", tiny_models["wan"], **settings))
    engine = make_engine("wan", tiny_models["wan"], **settings)
    with pytest.raises(Cancelled):
        render(engine, stop_at_step=2)
    after_cancel = render(engine)
    assert after_cancel.block_work == fresh.block_work
    assert np.array_equal(after_cancel.frames, fresh.frames)


def test_distilled_schedules_run_one_transformer_pass_per_step(
    tiny_models: dict[str, Path],
) -> None:
    # Same step count both ways: what differs is the guidance passes per step.
    ltx_guided = render(make_engine("ltx2", tiny_models["ltx2"]))
    ltx = make_engine("ltx2", tiny_models["ltx2"], distilled=True, inference_steps=None)
    assert (ltx.steps, ltx.recipe.guidance_off, ltx.recipe.cache) == (8, True, None)
    assert "sigmas" in ltx.call_arguments(_spec(), lambda _f: None)
    distilled = render(ltx)
    assert distilled.transformer_calls == 8
    # CFG (batched) and modality guidance: two calls a step with the model's own guidance
    assert ltx_guided.transformer_calls == 2 * STEPS
    wan = make_engine("wan", tiny_models["wan"], distilled=True, inference_steps=None)
    assert (wan.steps, wan.guidance_scale) == (4, 1.0)
    assert render(wan).transformer_calls == 4
    wan_guided = make_engine("wan", tiny_models["wan"], inference_steps=4)
    assert render(wan_guided).transformer_calls == 8  # conditional and unconditional


def _spec() -> GenerationSpec:
    return GenerationSpec(
        prompt="a fox", aspect_ratio="16:9", resolution="480p", duration=4,
        generate_audio=False, fixed_lens=False, seed=1,
    )  # fmt: skip


@pytest.mark.slow
def test_regional_compile_with_a_step_cache_runs_on_this_cpu(tiny_models: dict[str, Path]) -> None:
    """torch.compile's inductor builds C++ kernels for each repeated block (a minute or so on
    two cores), with the cache's hooks inside the compiled blocks; the compiled engine renders
    what the eager one does. Work is not counted here: counting hooks would make dynamo
    recompile on every call."""
    import torch._dynamo

    cache = {"inference_steps": 2, "step_cache": "first-block", "cache_threshold": 1.0}
    eager = render(make_engine("wan", tiny_models["wan"], **cache), count=False)
    engine = make_engine("wan", tiny_models["wan"], compile="regional", **cache)
    blocks = engine.text_pipe.transformer.blocks
    assert all(block._compiled_call_impl is not None for block in blocks)
    assert torch._dynamo.config.recompile_limit >= 64
    compiled = render(engine, count=False)
    assert float(np.mean(np.abs(compiled.frames - eager.frames))) <= MAX_MEAN_DIFFERENCE
