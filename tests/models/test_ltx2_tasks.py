"""LTX-2 through the whole service: API -> queue -> worker -> child process -> diffusers ->
MP4, on a tiny random-weight pipeline saved to disk and loaded like an operator's model."""

from __future__ import annotations

from pathlib import Path

from opendance.worker.host import ProcessHost
from tests.models.tasks import assert_contract_video, image_data_url, run_task
from tests.support.db import balance, ledger_consistent
from tests.support.live import LiveServer
from tests.support.media import decoded_frames, psnr


def test_ltx2_text_to_video_with_its_own_audio_and_a_fixed_lens(
    ltx2_server: LiveServer, tmp_path: Path
) -> None:
    key = ltx2_server.create_account("ltx", 100)
    data, _, probe, progress = run_task(
        ltx2_server,
        key,
        tmp_path,
        prompt="A red fox trotting through fresh snow",
        aspect_ratio="16:9",
        resolution="480p",
        duration="4",
        generate_audio=True,
        fixed_lens=True,
        seed=11,
    )
    assert_contract_video(probe, aspect="16:9", duration=4, audio=True)
    assert probe.audio_codec == "aac" and abs((probe.audio_duration or 0) - 4.0) < 0.03
    assert data["consumed_credits"] == 14 and data["progress"] == 100
    assert any(0 < p < 100 for p in progress), progress  # denoising steps reached /v1/status
    assert ltx2_server.call(lambda c: balance(c, "ltx")) == 86


def test_ltx2_image_to_video_without_audio_on_a_warm_worker(
    ltx2_server: LiveServer, tmp_path: Path
) -> None:
    key = ltx2_server.create_account("ltx-i2v", 100)
    _, _, first, _ = run_task(
        ltx2_server, key, tmp_path, prompt="warm up", resolution="480p", duration=4
    )
    _, _, probe, _ = run_task(
        ltx2_server,
        key,
        tmp_path,
        prompt="The painting comes alive",
        aspect_ratio="9:16",
        resolution="480p",
        duration=4,
        image_urls=[image_data_url()],
    )
    assert_contract_video(first, aspect="1:1", duration=4, audio=False)
    assert_contract_video(probe, aspect="9:16", duration=4, audio=False)
    host = ltx2_server.worker.host if ltx2_server.worker else None
    assert isinstance(host, ProcessHost) and host.starts == 1  # loaded once, reused
    assert ltx2_server.call(ledger_consistent)


def test_ltx2_same_seed_same_video(ltx2_server: LiveServer, tmp_path: Path) -> None:
    key = ltx2_server.create_account("ltx-seed", 100)
    body = {"prompt": "Waves at dusk", "resolution": "480p", "duration": 4, "seed": 5}
    for name in "abc":
        (tmp_path / name).mkdir()
    _, a, _, _ = run_task(ltx2_server, key, tmp_path / "a", **body)
    _, b, _, _ = run_task(ltx2_server, key, tmp_path / "b", **body)
    _, c, _, _ = run_task(ltx2_server, key, tmp_path / "c", **{**body, "seed": 6})
    frames_a, frames_b, frames_c = decoded_frames(a), decoded_frames(b), decoded_frames(c)
    assert min(psnr(x, y) for x, y in zip(frames_a, frames_b, strict=True)) > 40
    assert psnr(frames_a[48], frames_c[48]) < 30  # another seed is another video


def test_ltx2_renders_720p_extremes_to_the_exact_contract_geometry(
    tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    from opendance.domain.spec import GenerationSpec
    from opendance.engines.registry import create_engine
    from opendance.media.probe import check_output, probe_mp4
    from opendance.settings import Settings
    from opendance.worker.control import RunControl
    from opendance.worker.render import render_to_file

    engine = create_engine(
        Settings(
            data_dir=tmp_path, engine="ltx2", model_path=tiny_models["ltx2"], inference_steps=1
        )
    )
    for aspect, size in (("21:9", (1504, 640)), ("9:16", (704, 1248))):
        spec = GenerationSpec(
            prompt="wide", aspect_ratio=aspect, resolution="720p", duration=4,
            generate_audio=True, fixed_lens=False, seed=3,
        )  # fmt: skip
        out = tmp_path / f"{aspect.replace(':', 'x')}.mp4"
        rendered = render_to_file(engine, spec, out, RunControl())
        probe = probe_mp4(rendered.video_path)
        assert (
            check_output(probe, width=size[0], height=size[1], fps=24, frame_count=96, audio=True)
            == []
        )
        assert rendered.stills.poster[:3] == b"\xff\xd8\xff"
