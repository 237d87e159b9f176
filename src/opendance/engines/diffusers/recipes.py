"""Acceleration recipes: which speed-ups a model engine runs with, resolved once per worker.

A recipe is a named preset per model (``quality``, ``balanced``, ``fast``) whose parts any
explicit setting overrides: the step cache and its parameters, regional or full
``torch.compile``, a distilled checkpoint or few-step LoRA with the schedule it was trained
for, and weight quantization. Resolution is pure (no torch): the API process, ``opendance
models check`` and the tests read the same table the engines run. The parts' effects are
explained in docs/performance.md; ``acceleration`` applies them to a loaded pipeline.

Why these presets:

* ``quality``   the model's full schedule and guidance, nothing skipped (today's behaviour).
* ``balanced``  a step cache that skips transformer work where consecutive steps barely differ
  (Wan: first-block cache; LTX-2: TaylorSeer, the one cache diffusers 0.42 runs on its
  audio-video blocks) and, on CUDA, regional compile.
* ``fast``      with distilled weights (``distilled`` or ``lora_path``), their few-step
  schedule with guidance off: one transformer pass per step instead of two (Wan's CFG) or four
  (LTX-2's CFG, STG and modality guidance); no cache, since a few-step schedule has no
  redundant steps to skip. Without distilled weights, a bolder cache. Regional compile on CUDA.

Compile is only in the presets on CUDA: on a CPU or MPS its warm-up costs more than it saves
for one worker's tasks; an operator can still ask for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from opendance.engines.diffusers.runtime import ModelConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from opendance.settings import Settings

PRESETS: Final = ("quality", "balanced", "fast")


@dataclass(frozen=True)
class StepCache:
    """One of diffusers' step caches (``CacheMixin.enable_cache``) and its parameters."""

    kind: str  # first-block, mag, taylorseer, sea
    threshold: float | None = None  # first-block, mag, sea; None: the cache's own default
    interval: int | None = None  # taylorseer: a full computation every ``interval`` steps
    mag_ratios: tuple[float, ...] | None = None  # mag: the model's calibrated ratios

    def describe(self) -> str:
        parts = [self.kind]
        if self.threshold is not None:
            parts.append(f"threshold {self.threshold:g}")
        if self.interval is not None:
            parts.append(f"interval {self.interval}")
        if self.mag_ratios is not None:
            parts.append(f"{len(self.mag_ratios)} ratios")
        return ", ".join(parts)


@dataclass(frozen=True)
class PresetParts:
    cache: StepCache | None  # with the model's full schedule
    distilled_cache: StepCache | None = None  # with a distilled few-step schedule
    compile_on_cuda: str = "none"


@dataclass(frozen=True)
class ModelProfile:
    """What a model runs by default and which recipe parts diffusers supports for it."""

    name: str
    steps: int
    distilled_steps: int
    caches: tuple[str, ...]
    presets: dict[str, PresetParts] = field(default_factory=dict)


# The step caches each transformer runs in diffusers 0.42. first-block, mag and sea need the
# block layout registered in diffusers' TransformerBlockRegistry, which has Wan's block but not
# LTX-2's (it returns video and audio states); TaylorSeer hooks attention and feed-forward
# modules by name and works on both. FasterCache is left out: its hooks fail on both
# pipelines (Wan and LTX-2 call their transformer once per guidance branch, not batched as it
# expects).
LTX2: Final = ModelProfile(
    name="ltx2",
    steps=40,
    distilled_steps=8,  # LTX-2 distilled's sigma schedule has eight values
    caches=("taylorseer",),
    presets={
        "quality": PresetParts(cache=None),
        "balanced": PresetParts(
            cache=StepCache("taylorseer", interval=2), compile_on_cuda="regional"
        ),
        "fast": PresetParts(cache=StepCache("taylorseer", interval=3), compile_on_cuda="regional"),
    },
)
WAN: Final = ModelProfile(
    name="wan",
    steps=50,
    distilled_steps=4,  # FastWan, CausVid and lightx2v LoRAs run 3-4 steps without guidance
    caches=("first-block", "mag", "taylorseer", "sea"),
    presets={
        "quality": PresetParts(cache=None),
        "balanced": PresetParts(
            cache=StepCache("first-block", threshold=0.05), compile_on_cuda="regional"
        ),
        "fast": PresetParts(
            cache=StepCache("first-block", threshold=0.1), compile_on_cuda="regional"
        ),
    },
)
PROFILES: Final = {profile.name: profile for profile in (LTX2, WAN)}
GUIDANCE_OFF: Final = 1.0  # a guidance scale of 1 runs the conditional branch alone


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a model engine's speed, as resolved for one worker."""

    model: str
    preset: str
    steps: int
    guidance_scale: float | None  # None: the pipeline's own default
    distilled: bool
    guidance_off: bool  # distilled schedule without an explicit guidance scale
    cache: StepCache | None
    compile: str  # none, regional, full
    quantization: str  # none, int8, fp8, nf4
    lora_path: Path | None
    lora_scale: float
    attention_backend: str | None
    overridden: tuple[str, ...] = ()  # settings that replaced a part of the preset

    def describe(self) -> dict[str, Any]:
        """What ``opendance models check`` and the benchmark show."""
        return {
            "preset": self.preset,
            "steps": self.steps,
            "guidance": "off"
            if self.guidance_off
            else ("default" if self.guidance_scale is None else self.guidance_scale),
            "distilled": "lora" if self.lora_path is not None else self.distilled,
            "step_cache": self.cache.describe() if self.cache is not None else "none",
            "compile": self.compile,
            "quantization": self.quantization,
            "attention": self.attention_backend or "default",
            "overridden": list(self.overridden),
        }

    def summary(self) -> str:
        shown = self.describe()
        overrides = shown.pop("overridden")
        text = ", ".join(f"{key} {value}" for key, value in shown.items())
        if overrides:
            text += f" (set explicitly: {', '.join(overrides)})"
        return text


def _mag_ratios(text: str) -> tuple[float, ...]:
    try:
        ratios = tuple(float(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ModelConfigError(
            f"OPENDANCE_CACHE_MAG_RATIOS: {text!r} is not a comma-separated list of numbers"
        ) from None
    if not ratios:
        raise ModelConfigError("OPENDANCE_CACHE_MAG_RATIOS is empty")
    return ratios


def _cache(settings: Settings, profile: ModelProfile, preset: StepCache | None) -> StepCache | None:
    kind = settings.step_cache or (preset.kind if preset is not None else "none")
    if kind == "none":
        return None
    if kind not in profile.caches:
        raise ModelConfigError(
            f"step_cache {kind!r} does not run on {profile.name} in diffusers 0.42; "
            f"use {' or '.join(profile.caches)} (or none)"
        )
    same = preset if preset is not None and preset.kind == kind else StepCache(kind)
    threshold, interval = settings.cache_threshold, settings.cache_interval
    ratios = None
    if kind == "mag":
        if not settings.cache_mag_ratios:
            raise ModelConfigError(
                "step_cache 'mag' needs the model's magnitude ratios in "
                "OPENDANCE_CACHE_MAG_RATIOS (one per step; a calibration run with "
                "diffusers' MagCacheConfig(calibrate=True) prints them)"
            )
        ratios = _mag_ratios(settings.cache_mag_ratios)
    return StepCache(
        kind,
        threshold=threshold if threshold is not None else same.threshold,
        interval=(interval if interval is not None else same.interval or 2)
        if kind == "taylorseer"
        else None,
        mag_ratios=ratios,
    )


def resolve_recipe(settings: Settings, model: str, *, device_kind: str) -> Recipe:
    """The recipe of ``settings`` for ``model`` on a ``device_kind`` (cpu, cuda, mps) device:
    the preset's parts, each replaced by its explicit setting where there is one."""
    profile = PROFILES[model]
    parts = profile.presets[settings.recipe]
    distilled = settings.distilled or settings.lora_path is not None
    overridden = [
        name
        for name, value in (
            ("step_cache", settings.step_cache),
            ("cache_threshold", settings.cache_threshold),
            ("cache_interval", settings.cache_interval),
            ("compile", settings.compile or (settings.compile_transformer or None)),
            ("inference_steps", settings.inference_steps),
            ("guidance_scale", settings.guidance_scale),
        )
        if value is not None
    ]
    cache_preset = parts.distilled_cache if distilled else parts.cache
    if settings.compile is not None:
        compile_mode = settings.compile
    elif settings.compile_transformer:
        compile_mode = "full"  # the older boolean setting meant whole-model torch.compile
    else:
        compile_mode = parts.compile_on_cuda if device_kind == "cuda" else "none"
    default_steps = profile.distilled_steps if distilled else profile.steps
    guidance_off = distilled and settings.guidance_scale is None
    return Recipe(
        model=model,
        preset=settings.recipe,
        steps=settings.inference_steps or default_steps,
        guidance_scale=GUIDANCE_OFF if guidance_off else settings.guidance_scale,
        distilled=distilled,
        guidance_off=guidance_off,
        cache=_cache(settings, profile, cache_preset),
        compile=compile_mode,
        quantization=settings.quantization,
        lora_path=settings.lora_path,
        lora_scale=settings.lora_scale,
        attention_backend=settings.attention_backend,
        overridden=tuple(overridden),
    )


def preset_table(model: str, *, device_kind: str, distilled: bool = False) -> dict[str, Recipe]:
    """Every preset of ``model`` as it resolves with no explicit override (the documented
    table): built without reading the environment, whatever ``OPENDANCE_*`` is set."""
    from opendance.settings import Settings

    table = {}
    for name in PRESETS:
        bare = Settings.model_construct(engine=model, recipe=name, distilled=distilled)
        table[name] = resolve_recipe(bare, model, device_kind=device_kind)
    return table
