"""Refusing a model directory that cannot work, before torch is imported; runtime defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendance.cli.main import app
from opendance.engines.diffusers.loading import require_pipeline
from opendance.engines.diffusers.runtime import ModelConfigError, resolve_runtime
from opendance.engines.diffusers.wan import wan_capabilities
from opendance.settings import Settings
from tests.models.conftest import require_model_stack

LTX = ("LTX2Pipeline", "LTX2ImageToVideoPipeline")


def test_an_unset_model_path_says_which_setting_to_set() -> None:
    with pytest.raises(ModelConfigError, match="OPENDANCE_MODEL_PATH is not set"):
        require_pipeline(None, LTX, setting="OPENDANCE_MODEL_PATH")


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="is not a directory"):
        require_pipeline(tmp_path / "nope", LTX, setting="OPENDANCE_MODEL_PATH")


def test_a_directory_without_model_index_is_not_a_pipeline(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelConfigError, match=r"no model_index\.json"):
        require_pipeline(tmp_path, LTX, setting="OPENDANCE_MODEL_PATH")


def test_broken_or_foreign_model_index_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text("{not json")
    with pytest.raises(ModelConfigError, match="not readable JSON"):
        require_pipeline(tmp_path, LTX, setting="OPENDANCE_MODEL_PATH")
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    with pytest.raises(ModelConfigError, match="holds a FluxPipeline, expected LTX2Pipeline"):
        require_pipeline(tmp_path, LTX, setting="OPENDANCE_MODEL_PATH")
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "LTX2Pipeline"}))
    assert require_pipeline(tmp_path, LTX, setting="OPENDANCE_MODEL_PATH") == "LTX2Pipeline"


def test_wan_capabilities_follow_the_configured_models(tmp_path: Path) -> None:
    ti2v = tmp_path / "ti2v"
    ti2v.mkdir()
    (ti2v / "model_index.json").write_text(
        json.dumps({"_class_name": "WanPipeline", "expand_timesteps": True})
    )
    t2v = tmp_path / "t2v"
    t2v.mkdir()
    (t2v / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    plain = wan_capabilities(Settings(engine="wan", model_path=t2v))
    assert (plain.audio, plain.image_to_video) == (False, False)
    both = wan_capabilities(
        Settings(engine="wan", model_path=t2v, image_model_path=t2v, audio_model_path=t2v)
    )
    assert (both.audio, both.image_to_video) == (True, True)
    assert wan_capabilities(Settings(engine="wan", model_path=ti2v)).image_to_video


def test_runtime_defaults_on_a_cpu_machine_and_refusals() -> None:
    require_model_stack()
    import torch

    if torch.cuda.is_available():
        pytest.skip("checks the CPU defaults")
    runtime = resolve_runtime(Settings())
    assert (runtime.device, runtime.dtype_name, runtime.vae_tiling) == ("cpu", "fp32", False)
    assert resolve_runtime(Settings(dtype="bf16", vae_tiling=True)).dtype == torch.bfloat16
    with pytest.raises(ModelConfigError, match="no usable CUDA device"):
        resolve_runtime(Settings(device="cuda:0"))
    with pytest.raises(ModelConfigError, match="use auto, cpu, cuda"):
        resolve_runtime(Settings(device="tpu"))
    with pytest.raises(ModelConfigError, match="cpu_offload needs a GPU"):
        resolve_runtime(Settings(device="cpu", cpu_offload=True))


def test_make_tiny_and_check_through_the_cli(tmp_path: Path) -> None:
    require_model_stack()
    runner = CliRunner()
    made = runner.invoke(app, ["models", "make-tiny", "ltx2", str(tmp_path / "m"), "--json"])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "m" / "model_index.json").is_file()
    checked = runner.invoke(
        app,
        ["--data-dir", str(tmp_path / "d"), "models", "check", "--engine", "ltx2",
         "--model", str(tmp_path / "m"), "--json"],
    )  # fmt: skip
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.output[checked.output.index("{") :])
    assert report["engine"] == "ltx2" and report["audio"] and report["image_to_video"]
    wrong = runner.invoke(app, ["models", "check", "--engine", "ltx2", "--model", str(tmp_path)])
    assert wrong.exit_code == 1 and "no model_index.json" in wrong.output
    unknown = runner.invoke(app, ["models", "make-tiny", "sora", str(tmp_path / "x")])
    assert unknown.exit_code == 2


def test_serve_and_worker_refuse_a_wrong_model_directory_before_starting(
    tmp_path: Path,
) -> None:
    """Checked without torch: the operator sees the reason at once, not restarting workers."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model_index.json").write_text(json.dumps({"_class_name": "LTX2Pipeline"}))
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "d")]
    missing = runner.invoke(
        app, [*data, "serve", "--engine", "ltx2", "--model", str(tmp_path / "x")]
    )
    assert missing.exit_code == 1 and "is not a directory" in missing.output
    wrong = runner.invoke(app, [*data, "worker", "--engine", "wan", "--model", str(tmp_path / "m")])
    assert wrong.exit_code == 1
    assert "holds a LTX2Pipeline, expected WanPipeline" in wrong.output
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    audio = runner.invoke(
        app,
        [*data, "worker", "--engine", "wan", "--model", str(tmp_path / "w"),
         "--audio-model", str(tmp_path / "m")],
    )  # fmt: skip
    assert audio.exit_code == 1
    assert (
        "OPENDANCE_AUDIO_MODEL_PATH" in audio.output
        and "expected StableAudioPipeline" in audio.output
    )


def test_pt_and_np_outputs_give_the_same_uint8_frames() -> None:
    require_model_stack()
    import numpy as np
    import torch

    from opendance.engines.diffusers.tensors import first_video
    from opendance.engines.diffusers.timing import to_uint8

    torch.manual_seed(0)
    pt = torch.rand(1, 11, 3, 8, 12)  # (batch, frames, channels, height, width)
    np_out = pt.permute(0, 1, 3, 4, 2).numpy()
    on_device = first_video(pt, chunk=4)
    lazily = np.stack([to_uint8(frame) for frame in first_video(np_out)])
    assert on_device.dtype == np.uint8 and on_device.shape == (11, 8, 12, 3)
    assert np.array_equal(on_device, lazily)
