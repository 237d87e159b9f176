"""How close one video's frames are to another's: PSNR and SSIM, in numpy alone.

PSNR (dB) is the pixel error over all channels (identical frames: infinity). SSIM is Wang et
al.'s structural similarity on luma (BT.601), with their constants: an 11-tap Gaussian window of
sigma 1.5, K1 = 0.01, K2 = 0.03, averaged over the valid part of each frame and then over the
frames; 1.0 means identical. scikit-image is not a dependency; this matches its
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` on
the luma channel up to the border handling (here: only where the window fits).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

WINDOW: Final = 11
SIGMA: Final = 1.5
K1: Final = 0.01
K2: Final = 0.03
PEAK: Final = 255.0

Frame = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float64]


def psnr(reference: Sequence[Frame], other: Sequence[Frame]) -> float:
    """Peak signal-to-noise ratio of ``other`` against ``reference`` over all their frames."""
    _same_shapes(reference, other)
    squared = [
        np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
        for a, b in zip(reference, other, strict=True)
    ]
    mse = float(np.mean(squared))
    return float("inf") if mse == 0 else float(10 * np.log10(PEAK**2 / mse))


def ssim(reference: Sequence[Frame], other: Sequence[Frame]) -> float:
    """Mean structural similarity of ``other`` against ``reference`` (1.0: identical)."""
    _same_shapes(reference, other)
    scores = [_ssim_frame(_luma(a), _luma(b)) for a, b in zip(reference, other, strict=True)]
    return float(np.mean(scores))


def _same_shapes(reference: Sequence[Frame], other: Sequence[Frame]) -> None:
    if len(reference) != len(other) or not reference:
        raise ValueError(f"frame counts differ or are zero: {len(reference)} and {len(other)}")
    if any(a.shape != b.shape for a, b in zip(reference, other, strict=True)):
        raise ValueError("frame sizes differ")


def _luma(frame: Frame) -> Floats:
    rgb = frame.astype(np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def _gaussian() -> Floats:
    offsets = np.arange(WINDOW) - WINDOW // 2
    weights = np.exp(-(offsets**2) / (2 * SIGMA**2))
    return weights / weights.sum()


def _blur(image: Floats) -> Floats:
    """The Gaussian window's weighted mean at every position where it fits (separable)."""
    weights = _gaussian()
    rows = image.shape[0] - WINDOW + 1
    cols = image.shape[1] - WINDOW + 1
    across = sum(weights[k] * image[:, k : k + cols] for k in range(WINDOW))
    return np.asarray(sum(weights[k] * across[k : k + rows, :] for k in range(WINDOW)))


def _ssim_frame(x: Floats, y: Floats) -> float:
    if min(x.shape) < WINDOW:
        raise ValueError(f"frames must be at least {WINDOW} pixels on each side")
    c1 = (K1 * PEAK) ** 2
    c2 = (K2 * PEAK) ** 2
    mu_x, mu_y = _blur(x), _blur(y)
    var_x = _blur(x * x) - mu_x**2
    var_y = _blur(y * y) - mu_y**2
    cov = _blur(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return float(np.mean(numerator / denominator))
