"""Acceleration recipes: presets resolve to the documented combinations, explicit settings
override their parts, and whatever this machine cannot run is refused when a worker starts,
with one message that names the fix."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendance.cli.main import app
from opendance.engines.diffusers.acceleration import check_packages, check_recipe
from opendance.engines.diffusers.recipes import StepCache, preset_table, resolve_recipe
from opendance.engines.diffusers.runtime import ModelConfigError, Runtime
from opendance.engines.registry import preflight
from opendance.settings import Settings
from tests.models.conftest import require_model_stack
from tests.support.doc_blocks import block

CPU = Runtime("cpu", "fp32", False, False, False, None)


def _parts(
    model: str, device_kind: str, *, distilled: bool = False
) -> dict[str, tuple[object, ...]]:
    table = preset_table(model, device_kind=device_kind, distilled=distilled)
    return {
        name: (r.steps, r.guidance_off, r.cache, r.compile, r.quantization)
        for name, r in table.items()
    }


def test_presets_resolve_to_the_documented_combinations() -> None:
    """The table in docs/performance.md, row by row."""
    assert _parts("wan", "cuda") == {
        "quality": (50, False, None, "none", "none"),
        "balanced": (50, False, StepCache("first-block", threshold=0.05), "regional", "none"),
        "fast": (50, False, StepCache("first-block", threshold=0.1), "regional", "none"),
    }
    assert _parts("ltx2", "cuda") == {
        "quality": (40, False, None, "none", "none"),
        "balanced": (40, False, StepCache("taylorseer", interval=2), "regional", "none"),
        "fast": (40, False, StepCache("taylorseer", interval=3), "regional", "none"),
    }
    # Compile only pays on CUDA: elsewhere the presets leave it off.
    assert {r[3] for r in _parts("wan", "cpu").values()} == {"none"}
    assert {r[3] for r in _parts("ltx2", "mps").values()} == {"none"}
    # Distilled weights carry their schedule: few steps, guidance off, nothing cached.
    assert _parts("ltx2", "cuda", distilled=True) == {
        "quality": (8, True, None, "none", "none"),
        "balanced": (8, True, None, "regional", "none"),
        "fast": (8, True, None, "regional", "none"),
    }
    assert {r[:3] for r in _parts("wan", "cpu", distilled=True).values()} == {(4, True, None)}


def test_explicit_settings_override_the_presets_parts() -> None:
    base = {"engine": "wan", "recipe": "balanced"}
    no_cache = resolve_recipe(Settings(**base, step_cache="none"), "wan", device_kind="cuda")
    assert no_cache.cache is None and no_cache.compile == "regional"
    assert no_cache.overridden == ("step_cache",)
    sea = resolve_recipe(
        Settings(**base, step_cache="sea", cache_threshold=0.3), "wan", device_kind="cuda"
    )
    assert sea.cache == StepCache("sea", threshold=0.3)
    looser = resolve_recipe(Settings(**base, cache_threshold=0.2), "wan", device_kind="cuda")
    assert looser.cache == StepCache("first-block", threshold=0.2)
    compiled = resolve_recipe(Settings(**base, compile="full"), "wan", device_kind="cpu")
    assert compiled.compile == "full"
    steps = resolve_recipe(
        Settings(engine="ltx2", recipe="fast", inference_steps=12, cache_interval=4),
        "ltx2",
        device_kind="cpu",
    )
    assert (steps.steps, steps.cache) == (12, StepCache("taylorseer", interval=4))
    # A distilled model with an explicit guidance scale runs that scale.
    guided = resolve_recipe(
        Settings(engine="wan", distilled=True, guidance_scale=2.0), "wan", device_kind="cpu"
    )
    assert (guided.steps, guided.guidance_off, guided.guidance_scale) == (4, False, 2.0)
    lora = resolve_recipe(Settings(engine="wan", lora_path=Path("/x")), "wan", device_kind="cpu")
    assert (lora.distilled, lora.steps, lora.guidance_scale) == (True, 4, 1.0)
    assert lora.describe()["distilled"] == "lora"


def test_the_older_compile_transformer_setting_still_compiles_the_whole_model() -> None:
    old = resolve_recipe(Settings(compile_transformer=True), "wan", device_kind="cpu")
    assert old.compile == "full" and old.overridden == ("compile",)
    newer = Settings(compile_transformer=True, compile="regional")
    assert resolve_recipe(newer, "wan", device_kind="cpu").compile == "regional"


def test_a_cache_the_model_cannot_run_is_refused() -> None:
    with pytest.raises(ModelConfigError, match=r"'first-block' does not run on ltx2.*taylorseer"):
        resolve_recipe(Settings(step_cache="first-block"), "ltx2", device_kind="cuda")
    with pytest.raises(ModelConfigError, match="needs the model's magnitude ratios"):
        resolve_recipe(Settings(step_cache="mag"), "wan", device_kind="cuda")
    with pytest.raises(ModelConfigError, match="not a comma-separated list"):
        resolve_recipe(
            Settings(step_cache="mag", cache_mag_ratios="1.0,x"), "wan", device_kind="cuda"
        )
    mag = resolve_recipe(
        Settings(step_cache="mag", cache_mag_ratios="1.0, 0.99,0.98"), "wan", device_kind="cuda"
    )
    assert mag.cache == StepCache("mag", mag_ratios=(1.0, 0.99, 0.98))
    with pytest.raises(ValueError, match="step_cache must be"):
        Settings(step_cache="faster")


@pytest.mark.skipif(importlib.util.find_spec("torchao") is not None, reason="torchao installed")
def test_int8_quantization_without_torchao_is_refused_naming_the_package() -> None:
    recipe = resolve_recipe(Settings(quantization="int8"), "wan", device_kind="cpu")
    with pytest.raises(ModelConfigError, match=r"'int8' needs the torchao package.*pip install"):
        check_packages(recipe)


@pytest.mark.skipif(importlib.util.find_spec("peft") is not None, reason="peft installed")
def test_a_lora_without_peft_is_refused_naming_the_package(tmp_path: Path) -> None:
    recipe = resolve_recipe(Settings(lora_path=tmp_path), "ltx2", device_kind="cpu")
    with pytest.raises(ModelConfigError, match="needs the peft package"):
        check_packages(recipe)


def test_device_bound_recipes_are_refused_on_the_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_model_stack()
    for quantization in ("fp8", "nf4"):
        recipe = resolve_recipe(Settings(quantization=quantization), "wan", device_kind="cpu")
        with pytest.raises(ModelConfigError, match=f"'{quantization}' needs a CUDA device"):
            check_recipe(recipe, CPU)
    regional = resolve_recipe(Settings(compile="regional"), "wan", device_kind="cpu")
    check_recipe(regional, CPU)  # this machine has a C++ compiler
    monkeypatch.setenv("PATH", str(tmp_path))  # ... and one without any
    with pytest.raises(ModelConfigError, match="needs a C\\+\\+ compiler"):
        check_recipe(regional, CPU)


def test_serve_and_worker_refuse_a_recipe_before_starting(tmp_path: Path) -> None:
    """Without torch, like a wrong model directory: one line, exit 1, nothing started."""
    model = tmp_path / "m"
    model.mkdir()
    (model / "model_index.json").write_text(json.dumps({"_class_name": "LTX2Pipeline"}))
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "d")]
    cache = runner.invoke(
        app,
        [*data, "worker", "--engine", "ltx2", "--model", str(model), "--step-cache", "sea"],
    )
    assert cache.exit_code == 1, cache.output
    assert "step_cache 'sea' does not run on ltx2" in cache.output
    unknown = runner.invoke(app, [*data, "serve", "--recipe", "fastest"])
    assert unknown.exit_code == 2 and "'fastest' is not one of" in unknown.output
    with pytest.raises(ModelConfigError, match="'sea' does not run on ltx2"):
        preflight(Settings(engine="ltx2", model_path=model, step_cache="sea"))


def test_models_check_shows_the_active_recipe(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    # the command docs/performance.md shows (its tiny model made once for this module)
    shown = "opendance models check --engine wan --model ./tiny-wan --recipe balanced"
    assert shown in block("docs/performance.md", "models check").body
    runner = CliRunner()
    checked = runner.invoke(
        app,
        ["--data-dir", str(tmp_path / "d"), "models", "check", "--engine", "wan",
         "--model", str(tiny_models["wan"]), "--recipe", "balanced"],
        env={"OPENDANCE_DEVICE": "cpu", "OPENDANCE_CACHE_THRESHOLD": "0.08"},
    )  # fmt: skip
    assert checked.exit_code == 0, checked.output
    line = next(x for x in checked.output.splitlines() if x.startswith("recipe: "))
    assert line == (
        "recipe: preset balanced, steps 50, guidance default, distilled False, "
        "step_cache first-block, threshold 0.08, compile none, quantization none, "
        "attention default (set explicitly: cache_threshold)"
    )
    as_json = runner.invoke(
        app,
        ["--data-dir", str(tmp_path / "d"), "models", "check", "--engine", "ltx2",
         "--model", str(tiny_models["ltx2"]), "--json"],
        env={"OPENDANCE_DEVICE": "cpu", "OPENDANCE_DISTILLED": "true"},
    )  # fmt: skip
    assert as_json.exit_code == 0, as_json.output
    recipe = json.loads(as_json.output[as_json.output.index("{") :])["recipe"]
    assert recipe == {
        "preset": "quality", "steps": 8, "guidance": "off", "distilled": True,
        "step_cache": "none", "compile": "none", "quantization": "none",
        "attention": "default", "overridden": [],
    }  # fmt: skip
