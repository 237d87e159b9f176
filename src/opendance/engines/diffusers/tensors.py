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


def video_as_uint8(frames: Any) -> npt.NDArray[np.uint8]:
    """The first video of a pipeline's ``output_type='pt'`` output, (batch, frames, 3, H, W) in
    [0, 1], as RGB uint8 (frames, H, W, 3) in host memory.

    Converted frame by frame on the model's device: a 12 s 720p video is 3 GB as float32 in
    host memory and 0.75 GB as uint8, and only one float frame is ever copied at a time.
    """
    if not hasattr(frames, "detach"):  # already numpy (frames, H, W, 3) in [0, 1]
        array = np.asarray(frames[0], dtype=np.float32)
        converted: npt.NDArray[np.uint8] = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return converted
    video = frames[0].detach()
    out = np.empty((video.shape[0], video.shape[2], video.shape[3], 3), dtype=np.uint8)
    for index in range(video.shape[0]):
        frame = video[index].float().mul_(255.0).add_(0.5).clamp_(0.0, 255.0)
        out[index] = frame.to(dtype=_torch_uint8()).permute(1, 2, 0).cpu().numpy()
    return out


def _torch_uint8() -> Any:
    import torch

    return torch.uint8
