"""Pipeline outputs (torch tensors or numpy arrays, any float dtype) as float32 numpy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt


def as_float32(value: Any) -> npt.NDArray[np.float32]:
    if hasattr(value, "detach"):  # a torch tensor, possibly bf16 on a GPU
        value = value.detach().float().cpu().numpy()
    return np.ascontiguousarray(np.asarray(value, dtype=np.float32))


def first_video(frames: Any, *, chunk: int = 8) -> npt.NDArray[Any]:
    """The first video of a pipeline's output as (frames, H, W, 3) in host memory.

    From ``output_type='np'`` ((batch, frames, H, W, 3) floats in [0, 1]) it is that float
    array as is: frames are converted to uint8 lazily, one at a time, as they are encoded.
    From ``'pt'`` ((batch, frames, 3, H, W) tensors) it is converted to uint8 on the model's
    device a few frames at a time: a 12 s 720p video is 3 GB as float32 in host memory and
    0.75 GB as uint8, and no more than ``chunk`` float frames are copied at once.
    """
    if not hasattr(frames, "detach"):
        return np.asarray(frames[0])
    import torch

    video = frames[0].detach()
    out = np.empty((video.shape[0], video.shape[2], video.shape[3], 3), dtype=np.uint8)
    for start in range(0, video.shape[0], chunk):
        # out of place first: .float() of a float32 tensor is the pipeline's tensor itself
        part = (video[start : start + chunk].float() * 255.0 + 0.5).clamp_(0.0, 255.0)
        out[start : start + chunk] = part.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return out


def output_type_for(device: str) -> str:
    """'pt' on accelerators (convert to uint8 there, copy a quarter of the bytes); 'np' on the
    CPU, where diffusers' own numpy conversion is the cheapest path."""
    return "np" if device.split(":", 1)[0] == "cpu" else "pt"
