"""Applying a ``Recipe`` to a pipeline: quantized loading, a few-step LoRA, the step cache and
``torch.compile``; and refusing, when a worker starts, a part this machine cannot run.

Everything a recipe needs is checked in ``check_recipe`` before any weight is loaded, so an
operator gets one message naming the missing package or the unsuitable device, not a stack
trace from deep inside diffusers on the first task.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from typing import TYPE_CHECKING, Any

from opendance.engines.diffusers.runtime import ModelConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from opendance.engines.diffusers.recipes import Recipe, StepCache
    from opendance.engines.diffusers.runtime import Runtime
    from opendance.settings import Settings

log = logging.getLogger("opendance.engines.diffusers")

# The package each quantization needs, and why it cannot run elsewhere.
QUANT_PACKAGES = {"int8": "torchao", "fp8": "torchao", "nf4": "bitsandbytes"}
FP8_CAPABILITY = (8, 9)  # fp8 matmuls: Ada and Hopper and newer
# TaylorSeer predicts the outputs of these modules in each transformer block (diffusers' own
# default patterns match none of Wan's or LTX-2's module names).
TAYLORSEER_MODULES = (
    r"blocks\.\d+\.(attn1|attn2|ffn)",  # Wan
    # LTX-2: video and audio self-, cross- and cross-modal attention, both feed-forwards
    r"transformer_blocks\.\d+\.(attn1|attn2|ff|audio_(attn1|attn2|ff)|"
    r"audio_to_video_attn|video_to_audio_attn)",
)
HOOKED_RECOMPILE_LIMIT = 64
TAYLORSEER_WARMUP = 3  # full steps before the first prediction (its derivatives need them)


def _has(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _has_cxx_compiler() -> bool:
    return any(shutil.which(name) is not None for name in ("c++", "g++", "clang++"))


def check_packages(recipe: Recipe) -> None:
    """The packages the recipe needs are installed (no torch needed to tell)."""
    package = QUANT_PACKAGES.get(recipe.quantization)
    if package is not None and not _has(package):
        raise ModelConfigError(
            f"quantization {recipe.quantization!r} needs the {package} package, which is not "
            f"installed: pip install {package}, or set OPENDANCE_QUANTIZATION=none"
        )
    if recipe.lora_path is not None:
        if not _has("peft"):
            raise ModelConfigError(
                "OPENDANCE_LORA_PATH needs the peft package (diffusers loads LoRAs with it), "
                "which is not installed: pip install peft"
            )
        check_lora_directory(recipe.lora_path)


def check_lora_directory(path: Path) -> None:
    if not path.is_dir():
        raise ModelConfigError(f"OPENDANCE_LORA_PATH: {path} is not a directory")
    if not any(path.glob("*.safetensors")):
        raise ModelConfigError(
            f"OPENDANCE_LORA_PATH: {path} holds no .safetensors file (a LoRA saved by "
            "diffusers or downloaded as pytorch_lora_weights.safetensors)"
        )


def check_recipe(recipe: Recipe, runtime: Runtime) -> None:
    """Refuse, before loading, any part of ``recipe`` that cannot run on ``runtime``'s device."""
    import torch

    kind = runtime.device.split(":", 1)[0]
    if recipe.quantization in ("fp8", "nf4") and kind != "cuda":
        raise ModelConfigError(
            f"quantization {recipe.quantization!r} needs a CUDA device (this worker runs on "
            f"{runtime.device}); use int8 or none"
        )
    if recipe.quantization == "fp8":
        capability = torch.cuda.get_device_capability(runtime.device)
        if capability < FP8_CAPABILITY:
            raise ModelConfigError(
                f"quantization 'fp8' needs compute capability 8.9 or newer; {runtime.device} "
                f"has {capability[0]}.{capability[1]}: use int8"
            )
    if recipe.compile != "none" and kind == "cpu" and not _has_cxx_compiler():
        raise ModelConfigError(
            f"compile {recipe.compile!r} on the CPU needs a C++ compiler (torch.compile's "
            "inductor builds its kernels with one); install g++ or set OPENDANCE_COMPILE=none"
        )
    check_packages(recipe)  # after the device: no package makes fp8 run on a CPU


def quantization_config(recipe: Recipe, runtime: Runtime) -> Any:
    """The ``quantization_config`` for ``from_pretrained`` (the transformer only), or None."""
    if recipe.quantization == "none":
        return None
    from diffusers import PipelineQuantizationConfig

    config: Any
    if recipe.quantization == "nf4":
        from diffusers import BitsAndBytesConfig

        config = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=runtime.dtype
        )
    else:
        from diffusers import TorchAoConfig
        from torchao.quantization import (  # type: ignore[import-not-found]
            Float8DynamicActivationFloat8WeightConfig,
            Int8WeightOnlyConfig,
        )

        kind = (
            Int8WeightOnlyConfig()
            if recipe.quantization == "int8"
            else Float8DynamicActivationFloat8WeightConfig()
        )
        config = TorchAoConfig(kind)
    # Wan 2.2 A14B has a second transformer for the low-noise steps; quantize it alike.
    return PipelineQuantizationConfig(
        quant_mapping={"transformer": config, "transformer_2": config}
    )


def transformers_of(pipe: Any) -> list[Any]:
    return [
        module
        for name in ("transformer", "transformer_2")
        if (module := getattr(pipe, name, None)) is not None
    ]


def cache_config(cache: StepCache, steps: int) -> Any:
    """diffusers' config object for ``cache`` on a schedule of ``steps`` steps."""
    import torch
    from diffusers.hooks import (
        FirstBlockCacheConfig,
        MagCacheConfig,
        SeaCacheConfig,
        TaylorSeerCacheConfig,
    )

    if cache.kind == "first-block":
        return FirstBlockCacheConfig(
            **({} if cache.threshold is None else {"threshold": cache.threshold})
        )
    if cache.kind == "sea":
        return SeaCacheConfig(**({} if cache.threshold is None else {"threshold": cache.threshold}))
    if cache.kind == "mag":
        assert cache.mag_ratios is not None
        extra = {} if cache.threshold is None else {"threshold": cache.threshold}
        return MagCacheConfig(mag_ratios=list(cache.mag_ratios), num_inference_steps=steps, **extra)
    assert cache.kind == "taylorseer"
    return TaylorSeerCacheConfig(
        cache_interval=cache.interval or 2,
        # short schedules (tests, distilled) start predicting earlier
        disable_cache_before_step=min(TAYLORSEER_WARMUP, max(1, steps // 5)),
        taylor_factors_dtype=torch.float32,
        cache_identifiers=list(TAYLORSEER_MODULES),
    )


def load_lora(pipe: Any, recipe: Recipe) -> None:
    """Load the few-step LoRA and fuse it into the weights: no per-step adapter overhead."""
    assert recipe.lora_path is not None
    try:
        pipe.load_lora_weights(str(recipe.lora_path), adapter_name="few_step")
        pipe.fuse_lora(lora_scale=recipe.lora_scale)
        pipe.unload_lora_weights()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelConfigError(
            f"OPENDANCE_LORA_PATH: cannot load the LoRA in {recipe.lora_path}: {exc}"
        ) from exc


def apply_recipe(pipe: Any, recipe: Recipe) -> None:
    """LoRA, step cache and compile on a placed pipeline, in that order: the LoRA changes the
    weights that are compiled, and the cache's hooks must be in the compiled blocks."""
    if recipe.lora_path is not None:
        load_lora(pipe, recipe)
    if recipe.cache is not None and recipe.compile != "none":
        import torch._dynamo

        # The cache's hooks share one forward function across every hooked module; dynamo
        # compiles it once per call signature (LTX-2's attentions have several) and, past its
        # default limit of 8, silently runs the rest uncompiled.
        config = torch._dynamo.config
        config.recompile_limit = max(config.recompile_limit, HOOKED_RECOMPILE_LIMIT)
    for transformer in transformers_of(pipe):
        if recipe.cache is not None:
            try:
                transformer.enable_cache(cache_config(recipe.cache, recipe.steps))
            except (ValueError, TypeError) as exc:
                raise ModelConfigError(
                    f"step_cache {recipe.cache.kind!r} cannot run on "
                    f"{type(transformer).__name__}: {exc}"
                ) from exc
        if recipe.compile == "regional":
            transformer.compile_repeated_blocks(fullgraph=False)
        elif recipe.compile == "full":
            transformer.compile()


def prepare_recipe(settings: Settings, model: str, runtime: Runtime) -> Recipe:
    """The worker's recipe for ``model``, refused here if this machine cannot run it."""
    from opendance.engines.diffusers.recipes import resolve_recipe

    recipe = resolve_recipe(settings, model, device_kind=runtime.device.split(":", 1)[0])
    check_recipe(recipe, runtime)
    log.info("%s recipe: %s", model, recipe.summary())
    return recipe


def preflight_recipe(settings: Settings, model: str) -> None:
    """What can be refused without torch or a device: the cache kind for this model, its
    parameters, the packages a part needs. The device's own checks follow at load."""
    from opendance.engines.diffusers.recipes import resolve_recipe

    check_packages(resolve_recipe(settings, model, device_kind="cuda"))


def run_pipeline(pipe: Any, args: dict[str, Any]) -> Any:
    """Call ``pipe`` with fresh step-cache state. The pipeline resets its caches when a call
    ends, but a cancelled render leaves by an exception mid-schedule: without this, the next
    task would start from that task's cached residuals and step counters."""
    for transformer in transformers_of(pipe):
        if getattr(transformer, "is_cache_enabled", False):
            transformer._reset_stateful_cache()
    return pipe(**args)
