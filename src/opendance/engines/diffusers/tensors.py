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
