"""LTX-2: text-to-video and image-to-video with the model's own audio, in one pass.

One checkpoint serves both modes: ``LTX2Pipeline`` is loaded from the model directory and
``LTX2ImageToVideoPipeline`` is built from the very same components (no second copy in
memory). LTX-2 always denoises an audio track jointly with the video; with
``generate_audio`` it is muxed into the MP4 at the vocoder's sample rate, without it the track
is dropped.

Mapping (see ``timing``): generated at the contract's frame size (multiples of 32, LTX-2's
grid) and at 24 fps natively, ``8k + 1`` frames covering the duration (97, 193, 289), of which
the first ``24 x duration`` are published.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from opendance.engines.base import (
    AudioTrack,
    EngineCapabilities,
    GenerationResult,
    ProgressCallback,
)
from opendance.engines.diffusers.acceleration import prepare_recipe, run_pipeline
from opendance.engines.diffusers.camera import conditioned_prompts
from opendance.engines.diffusers.loading import load_pipeline, require_pipeline
from opendance.engines.diffusers.results import contract_result
from opendance.engines.diffusers.runtime import Runtime, resolve_runtime
from opendance.engines.diffusers.steps import step_reporter
from opendance.engines.diffusers.tensors import as_float32, first_video, output_type_for
from opendance.engines.diffusers.timing import frames_to_generate

if TYPE_CHECKING:
    from opendance.domain.spec import GenerationSpec
    from opendance.settings import Settings

log = logging.getLogger("opendance.engines.ltx2")

PIPELINE_CLASSES: Final = ("LTX2Pipeline", "LTX2ImageToVideoPipeline")
NATIVE_FPS: Final = 24.0
FRAME_MULTIPLE: Final = 8
# Guidance off, as a distilled checkpoint runs: one transformer pass per step instead of four
# (classifier-free guidance batched as two, spatio-temporal guidance, modality isolation).
GUIDANCE_OFF: Final = {
    "guidance_scale": 1.0, "audio_guidance_scale": 1.0, "stg_scale": 0.0,
    "audio_stg_scale": 0.0, "modality_scale": 1.0, "audio_modality_scale": 1.0,
}  # fmt: skip
# Spatio-temporal guidance perturbs one transformer block; diffusers' LTX-2.3 default is block
# 28. A transformer with fewer blocks (distilled or test models) runs without STG.
STG_BLOCK: Final = 28
NEGATIVE_PROMPT: Final = (
    "worst quality, inconsistent motion, blurry, jittery, distorted, watermark, text"
)
DENOISE_SHARE: Final = 0.9  # of the engine's work; the VAE decode and the vocoder follow
CAPABILITIES: Final = EngineCapabilities(audio=True, image_to_video=True)


def ltx2_capabilities(_settings: Settings) -> EngineCapabilities:
    return CAPABILITIES


class LTX2Engine:
    name = "ltx2"
    capabilities = CAPABILITIES

    def __init__(self, settings: Settings) -> None:
        class_name = require_pipeline(
            settings.model_path, PIPELINE_CLASSES, setting="OPENDANCE_MODEL_PATH"
        )
        assert settings.model_path is not None
        self.runtime: Runtime = resolve_runtime(settings)
        self.recipe = prepare_recipe(settings, "ltx2", self.runtime)
        self.text_pipe = load_pipeline(settings.model_path, class_name, self.runtime, self.recipe)
        import diffusers

        components = {k: v for k, v in self.text_pipe.components.items() if v is not None}
        self.image_pipe = diffusers.LTX2ImageToVideoPipeline(**components)
        self.image_pipe.set_progress_bar_config(disable=True)
        self.steps = self.recipe.steps
        self.guidance_scale = self.recipe.guidance_scale
        layers = int(self.text_pipe.transformer.config.num_layers)
        self.stg_blocks = [STG_BLOCK] if layers > STG_BLOCK else None
        self.sample_rate = int(self.text_pipe.vocoder.config.output_sampling_rate)

    def call_arguments(self, spec: GenerationSpec, on_progress: ProgressCallback) -> dict[str, Any]:
        """Everything the pipeline is called with for ``spec`` (the benchmark calls the
        pipeline directly with these same arguments)."""
        import torch

        prompt, negative = conditioned_prompts(
            spec.prompt, NEGATIVE_PROMPT, fixed_lens=spec.fixed_lens
        )
        args: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": negative,
            "height": spec.height,
            "width": spec.width,
            "num_frames": frames_to_generate(spec.duration, NATIVE_FPS, FRAME_MULTIPLE),
            "frame_rate": NATIVE_FPS,
            "num_inference_steps": self.steps,
            "generator": torch.Generator(device="cpu").manual_seed(spec.seed),
            "output_type": output_type_for(self.runtime.device),
            "callback_on_step_end": step_reporter(
                on_progress, self.steps, start=0.0, end=DENOISE_SHARE
            ),
        }
        if self.guidance_scale is not None:
            args["guidance_scale"] = self.guidance_scale
        if self.stg_blocks is None:
            args.update(stg_scale=0.0, audio_stg_scale=0.0, spatio_temporal_guidance_blocks=None)
        if self.recipe.guidance_off:
            args.update(GUIDANCE_OFF)
        if self.recipe.distilled:
            from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES

            # the sigmas the distilled model was trained on, when its step count is run
            if self.steps == len(DISTILLED_SIGMA_VALUES):
                args["sigmas"] = list(DISTILLED_SIGMA_VALUES)
        if spec.first_frame is not None:
            from PIL import Image

            args["image"] = Image.fromarray(spec.first_frame, mode="RGB")
        return args

    def generate(self, spec: GenerationSpec, on_progress: ProgressCallback) -> GenerationResult:
        on_progress(0.0)
        args = self.call_arguments(spec, on_progress)
        pipe = self.image_pipe if spec.first_frame is not None else self.text_pipe
        output = run_pipeline(pipe, args)
        on_progress(1.0)
        video = first_video(output.frames)
        audio = None
        if spec.generate_audio:
            audio = AudioTrack(samples=as_float32(output.audio[0]), sample_rate=self.sample_rate)
        return contract_result(video, source_fps=NATIVE_FPS, spec=spec, audio=audio)
