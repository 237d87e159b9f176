"""Wan 2.1 / 2.2: text-to-video and image-to-video; sound from an optional audio model.

Layouts:

* **Wan 2.2 TI2V** (one transformer, ``expand_timesteps``): the model directory does both
  modes; ``WanImageToVideoPipeline`` is built from the same components for image-to-video.
* **Wan 2.1 / 2.2 A14B**: ``OPENDANCE_MODEL_PATH`` is the text-to-video ``WanPipeline``;
  image-to-video needs its own checkpoint, a ``WanImageToVideoPipeline`` directory in
  ``OPENDANCE_IMAGE_MODEL_PATH``. Without one, image requests are refused at submit.

Wan makes video only. With ``OPENDANCE_AUDIO_MODEL_PATH`` (a ``StableAudioPipeline``) a
soundtrack is generated from the prompt and seed; without one, ``generate_audio`` is refused
at submit with ``UNSUPPORTED_OPTION``.

Mapping (see ``timing``): Wan's grid is its VAE's spatial factor times the transformer's patch
(16 for Wan 2.1, 32 for Wan 2.2 TI2V), so the contract sizes are generated exactly. Each model
runs at its native frame rate with ``4k + 1`` frames covering the duration: Wan 2.2 TI2V at
24 fps (97, 193, 289 frames; the surplus frame is dropped), Wan 2.1 and 2.2 A14B at 16 fps
(65, 129, 193), shown at 24 fps by timestamp: each generated frame for 1 or 2 output frames.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Final

from opendance.engines.base import (
    EngineCapabilities,
    EngineError,
    GenerationResult,
    ProgressCallback,
)
from opendance.engines.diffusers.acceleration import prepare_recipe, run_pipeline
from opendance.engines.diffusers.camera import conditioned_prompts
from opendance.engines.diffusers.loading import load_pipeline, require_pipeline
from opendance.engines.diffusers.results import contract_result
from opendance.engines.diffusers.runtime import Runtime, resolve_runtime
from opendance.engines.diffusers.soundtrack import PIPELINE_CLASSES as AUDIO_PIPELINE
from opendance.engines.diffusers.soundtrack import Soundtrack
from opendance.engines.diffusers.steps import step_reporter
from opendance.engines.diffusers.tensors import first_video, output_type_for
from opendance.engines.diffusers.timing import frames_to_generate, generation_size

if TYPE_CHECKING:
    from pathlib import Path

    from opendance.domain.spec import GenerationSpec
    from opendance.settings import Settings

log = logging.getLogger("opendance.engines.wan")

TEXT_PIPELINE: Final = ("WanPipeline",)
IMAGE_PIPELINE: Final = ("WanImageToVideoPipeline",)
# Wan 2.1 and Wan 2.2 A14B were trained on 16 fps video, Wan 2.2 TI2V on 24 fps.
WAN21_FPS: Final = 16.0
TI2V_FPS: Final = 24.0
NEGATIVE_PROMPT: Final = (
    "overexposed, static, blurred details, subtitles, worst quality, low quality, JPEG "
    "artifacts, ugly, deformed, extra fingers, poorly drawn hands, poorly drawn face, "
    "messy background, walking backwards"
)


def _does_image_to_video(model_path: Path | None) -> bool:
    """A Wan 2.2 TI2V directory (``expand_timesteps``) conditions on images by itself.
    Read from ``model_index.json`` without torch, so the API can tell too."""
    if model_path is None:
        return False
    try:
        index = json.loads((model_path / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(index.get("expand_timesteps"))


def wan_capabilities(settings: Settings) -> EngineCapabilities:
    return EngineCapabilities(
        audio=settings.audio_model_path is not None,
        image_to_video=settings.image_model_path is not None
        or _does_image_to_video(settings.model_path),
    )


def check_model_directories(settings: Settings) -> None:
    """Every configured directory holds the pipeline it is for (no torch needed)."""
    require_pipeline(settings.model_path, TEXT_PIPELINE, setting="OPENDANCE_MODEL_PATH")
    if settings.image_model_path is not None:
        require_pipeline(
            settings.image_model_path, IMAGE_PIPELINE, setting="OPENDANCE_IMAGE_MODEL_PATH"
        )
    if settings.audio_model_path is not None:
        require_pipeline(
            settings.audio_model_path, AUDIO_PIPELINE, setting="OPENDANCE_AUDIO_MODEL_PATH"
        )


class WanEngine:
    name = "wan"

    def __init__(self, settings: Settings) -> None:
        check_model_directories(settings)
        assert settings.model_path is not None
        self.runtime: Runtime = resolve_runtime(settings)
        self.recipe = prepare_recipe(settings, "wan", self.runtime)
        self.capabilities = wan_capabilities(settings)
        self.text_pipe = load_pipeline(
            settings.model_path, TEXT_PIPELINE[0], self.runtime, self.recipe
        )
        self.image_pipe: Any = None
        if settings.image_model_path is not None:
            self.image_pipe = load_pipeline(
                settings.image_model_path, IMAGE_PIPELINE[0], self.runtime, self.recipe
            )
        elif self.capabilities.image_to_video:
            import diffusers

            self.image_pipe = diffusers.WanImageToVideoPipeline(
                **self.text_pipe.components,
                expand_timesteps=True,
                boundary_ratio=self.text_pipe.config.get("boundary_ratio"),
            )
            self.image_pipe.set_progress_bar_config(disable=True)
        self.soundtrack = (
            Soundtrack(settings.audio_model_path, self.runtime, steps=None)
            if settings.audio_model_path is not None
            else None
        )
        self.steps = self.recipe.steps
        self.guidance_scale = self.recipe.guidance_scale

    @staticmethod
    def native_fps(pipe: Any) -> float:
        return TI2V_FPS if pipe.config.get("expand_timesteps") else WAN21_FPS

    def _grid(self, pipe: Any) -> int:
        patch = pipe.transformer.config.patch_size
        return int(pipe.vae_scale_factor_spatial) * int(patch[1])

    def call_arguments(
        self, spec: GenerationSpec, on_progress: ProgressCallback, video_share: float
    ) -> dict[str, Any]:
        import torch

        pipe = self.image_pipe if spec.first_frame is not None else self.text_pipe
        width, height = generation_size(spec.width, spec.height, self._grid(pipe))
        fps = self.native_fps(pipe)
        prompt, negative = conditioned_prompts(
            spec.prompt, NEGATIVE_PROMPT, fixed_lens=spec.fixed_lens
        )
        args: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": negative,
            "height": height,
            "width": width,
            "num_frames": frames_to_generate(
                spec.duration, fps, int(pipe.vae_scale_factor_temporal)
            ),
            "num_inference_steps": self.steps,
            "generator": torch.Generator(device="cpu").manual_seed(spec.seed),
            "output_type": output_type_for(self.runtime.device),
            "callback_on_step_end": step_reporter(
                on_progress, self.steps, start=0.0, end=0.9 * video_share
            ),
        }
        if self.guidance_scale is not None:
            args["guidance_scale"] = self.guidance_scale
        if spec.first_frame is not None:
            from PIL import Image

            image = Image.fromarray(spec.first_frame, mode="RGB")
            args["image"] = image.resize((width, height), Image.Resampling.LANCZOS)
        return args

    def generate(self, spec: GenerationSpec, on_progress: ProgressCallback) -> GenerationResult:
        on_progress(0.0)
        # Refused at submit when the fleet lacks them; a worker configured differently from the
        # API still never publishes a video without what was paid for.
        if spec.generate_audio and self.soundtrack is None:
            raise EngineError("generate_audio is not available: this worker has no audio model")
        if spec.first_frame is not None and self.image_pipe is None:
            raise EngineError("image_urls is not available: this worker has no image model")
        with_audio = spec.generate_audio
        video_share = 0.8 if with_audio else 1.0
        args = self.call_arguments(spec, on_progress, video_share)
        pipe = self.image_pipe if spec.first_frame is not None else self.text_pipe
        output = run_pipeline(pipe, args)
        on_progress(video_share)
        video = first_video(output.frames)
        source_fps = self.native_fps(pipe)
        audio = None
        if with_audio:
            assert self.soundtrack is not None
            audio = self.soundtrack.make(
                spec.prompt, spec.duration, spec.seed, on_progress, share=(video_share, 1.0)
            )
        return contract_result(video, source_fps=source_fps, spec=spec, audio=audio)
