"""Where and how a pipeline runs: device, dtype and memory options, with defaults per device.

Resolved once per worker process, in the process that owns the model (torch is imported here,
never in the API process).

How fast the transformer runs (step cache, compile, distillation, quantization) is the
``recipes`` module's; this one is only where and in what precision.

Defaults: ``device=auto`` picks CUDA, then Apple's MPS, then the CPU. ``dtype=auto`` is bf16 on
CUDA (what LTX-2 and Wan are released in), fp16 on MPS (bf16 kernels there are incomplete) and
fp32 on the CPU (half precision on CPUs is slow or unsupported). VAE tiling defaults to on for
CUDA, where decoding a 720p video in one piece is the peak of memory use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opendance.errors import OpendanceError

if TYPE_CHECKING:
    import torch

    from opendance.settings import Settings


class ModelConfigError(OpendanceError):
    """The operator's model settings cannot work (bad directory, unknown device or dtype).

    Raised when a worker starts, never for one task: the message names paths for the operator.
    """


@dataclass(frozen=True)
class Runtime:
    device: str
    dtype_name: str
    cpu_offload: bool
    vae_tiling: bool
    vae_slicing: bool
    attention_backend: str | None

    @property
    def dtype(self) -> torch.dtype:
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[
            self.dtype_name
        ]


def resolve_runtime(settings: Settings) -> Runtime:
    import torch

    device = settings.device
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    kind = device.split(":", 1)[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ModelConfigError(f"device {settings.device!r}: use auto, cpu, cuda, cuda:N or mps")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelConfigError(f"device {device!r}: this machine has no usable CUDA device")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ModelConfigError(f"device {device!r}: MPS is not available on this machine")
    dtype = settings.dtype
    if dtype == "auto":
        dtype = {"cuda": "bf16", "mps": "fp16"}.get(kind, "fp32")
    if settings.cpu_offload and kind == "cpu":
        raise ModelConfigError("cpu_offload needs a GPU device; the model already is on the CPU")
    tiling = settings.vae_tiling if settings.vae_tiling is not None else kind == "cuda"
    return Runtime(
        device=device,
        dtype_name=dtype,
        cpu_offload=settings.cpu_offload,
        vae_tiling=tiling,
        vae_slicing=settings.vae_slicing,
        attention_backend=settings.attention_backend,
    )


def place_pipeline(pipe: Any, runtime: Runtime) -> None:
    """Move ``pipe`` to its device and switch on the memory and speed options."""
    if runtime.cpu_offload:
        pipe.enable_model_cpu_offload(device=runtime.device)
    else:
        pipe.to(runtime.device)
    vae = getattr(pipe, "vae", None)
    if vae is not None:
        if runtime.vae_tiling and hasattr(vae, "enable_tiling"):
            vae.enable_tiling()
        if runtime.vae_slicing and hasattr(vae, "enable_slicing"):
            vae.enable_slicing()
    transformer = getattr(pipe, "transformer", None)
    if runtime.attention_backend and transformer is not None:
        try:
            transformer.set_attention_backend(runtime.attention_backend)
        except (ValueError, ImportError, RuntimeError) as exc:
            raise ModelConfigError(
                f"attention backend {runtime.attention_backend!r} is not usable here: {exc}"
            ) from exc
    pipe.set_progress_bar_config(disable=True)
