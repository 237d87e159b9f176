"""A soundtrack for engines whose model makes video only: a text-to-audio diffusion model
(``StableAudioPipeline``, e.g. Stable Audio Open) conditioned on the same prompt and seed,
exactly as long as the video."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from opendance.engines.base import AudioTrack, EngineError, ProgressCallback
from opendance.engines.diffusers.loading import load_pipeline, require_pipeline
from opendance.engines.diffusers.tensors import as_float32

if TYPE_CHECKING:
    from pathlib import Path

    from opendance.engines.diffusers.runtime import Runtime

PIPELINE_CLASSES: Final = ("StableAudioPipeline",)
DEFAULT_STEPS: Final = 100
NEGATIVE_PROMPT: Final = "low quality, noise, distortion, clipping"


class Soundtrack:
    def __init__(self, path: Path | None, runtime: Runtime, *, steps: int | None) -> None:
        class_name = require_pipeline(path, PIPELINE_CLASSES, setting="OPENDANCE_AUDIO_MODEL_PATH")
        assert path is not None
        self.pipe = load_pipeline(path, class_name, runtime)
        self.steps = steps or DEFAULT_STEPS
        config = self.pipe.transformer.config
        self.sample_rate = int(self.pipe.vae.config.sampling_rate)
        self.max_seconds = (
            int(config.sample_size) * int(self.pipe.vae.hop_length) / self.sample_rate
        )

    def call_arguments(
        self,
        prompt: str,
        seconds: float,
        seed: int,
        on_progress: ProgressCallback,
        share: tuple[float, float],
    ) -> dict[str, Any]:
        import torch

        start, end = share

        def callback(step: int, _timestep: Any, _latents: Any) -> None:
            on_progress(start + (end - start) * (step + 1) / self.steps)

        return {
            "prompt": prompt,
            "negative_prompt": NEGATIVE_PROMPT,
            "audio_end_in_s": float(seconds),
            "num_inference_steps": self.steps,
            "generator": torch.Generator(device="cpu").manual_seed(seed),
            "callback": callback,
            "callback_steps": 1,
        }

    def make(
        self,
        prompt: str,
        seconds: float,
        seed: int,
        on_progress: ProgressCallback,
        share: tuple[float, float] = (0.0, 1.0),
    ) -> AudioTrack:
        if seconds > self.max_seconds:
            raise EngineError(
                f"the audio model makes at most {self.max_seconds:g} s of sound; "
                f"{seconds:g} s were asked for"
            )
        output = self.pipe(**self.call_arguments(prompt, seconds, seed, on_progress, share))
        samples = as_float32(output.audios[0])
        return AudioTrack(samples=samples, sample_rate=self.sample_rate)
