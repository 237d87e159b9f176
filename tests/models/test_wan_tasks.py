"""Wan through the whole service on tiny pipelines: the Wan 2.2 TI2V layout (one model for
text- and image-to-video) with a Stable Audio soundtrack, and the refusal of sound when no
audio model is configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.models.conftest import model_settings
from tests.models.tasks import assert_contract_video, image_data_url, run_task
from tests.support.db import balance
from tests.support.live import LiveServer


@pytest.fixture
def wan_server(tmp_path: Path, tiny_models: dict[str, Path]) -> Iterator[LiveServer]:
    settings = model_settings(
        tmp_path,
        engine="wan",
        model_path=tiny_models["wan"],
        audio_model_path=tiny_models["stable-audio"],
    )
    live = LiveServer(settings).start()
    yield live
    live.stop()


def test_wan_text_to_video_with_a_stable_audio_soundtrack(
    wan_server: LiveServer, tmp_path: Path
) -> None:
    key = wan_server.create_account("wan", 100)
    data, _, probe, _ = run_task(
        wan_server,
        key,
        tmp_path,
        prompt="Rain on a window at night",
        aspect_ratio="16:9",
        resolution="480p",
        duration=4,
        generate_audio=True,
        fixed_lens=True,
    )
    # the TI2V model's 97 frames at 24 fps became exactly 96; the soundtrack lasts the video
    assert_contract_video(probe, aspect="16:9", duration=4, audio=True)
    assert data["consumed_credits"] == 14


def test_wan_image_to_video_from_the_same_ti2v_model(
    wan_server: LiveServer, tmp_path: Path
) -> None:
    key = wan_server.create_account("wan-i2v", 100)
    _, _, probe, _ = run_task(
        wan_server,
        key,
        tmp_path,
        prompt="The sail fills with wind",
        aspect_ratio="1:1",
        resolution="480p",
        duration=4,
        image_urls=[image_data_url()],
    )
    assert_contract_video(probe, aspect="1:1", duration=4, audio=False)


def test_wan_without_an_audio_model_refuses_sound_at_submit_and_charges_nothing(
    tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    settings = model_settings(tmp_path, engine="wan", model_path=tiny_models["wan"])
    live = LiveServer(settings, with_worker=False).start()
    try:
        key = live.create_account("quiet", 100)
        with live.client(key) as client:
            response = client.post(
                "/v1/generate", json={"prompt": "a bell", "generate_audio": True}
            )
        assert response.status_code == 400
        assert response.json()["error"] == "UNSUPPORTED_OPTION"
        assert "generate_audio" in response.json()["message"]
        assert live.call(lambda c: balance(c, "quiet")) == 100
    finally:
        live.stop()


def test_wan_image_to_video_from_a_separate_wan21_image_model(
    tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    """Wan 2.1 / A14B: image-to-video is its own checkpoint (CLIP image encoder, image latents
    concatenated to the noise), given in OPENDANCE_IMAGE_MODEL_PATH."""
    settings = model_settings(
        tmp_path,
        engine="wan",
        model_path=tiny_models["wan"],
        image_model_path=tiny_models["wan-i2v"],
    )
    live = LiveServer(settings).start()
    try:
        key = live.create_account("wan21", 100)
        _, _, probe, _ = run_task(
            live,
            key,
            tmp_path,
            prompt="Leaves falling",
            aspect_ratio="16:9",
            resolution="480p",
            duration=4,
            image_urls=[image_data_url((30, 120, 60))],
        )
        # 65 frames at Wan 2.1's 16 fps became exactly 96 at 24 fps
        assert_contract_video(probe, aspect="16:9", duration=4, audio=False)
        with live.client(key) as client:  # no audio model: sound is refused, not faked
            refused = client.post("/v1/generate", json={"prompt": "x", "generate_audio": True})
        assert refused.json()["error"] == "UNSUPPORTED_OPTION"
    finally:
        live.stop()
