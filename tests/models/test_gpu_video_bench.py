"""The GPU benchmark's dry run (``--tiny``: tiny random weights on the CPU), run as
docs/performance.md shows it, compares every recipe with the ``quality`` one, and its frame
metrics (PSNR, SSIM) are right."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.models.conftest import require_model_stack
from tests.support.doc_blocks import block, shell_lines

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _video_quality() -> ModuleType:
    spec = importlib.util.spec_from_file_location("video_quality", BENCH / "video_quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_psnr_and_ssim_of_known_frames() -> None:
    vq = _video_quality()
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    assert vq.psnr([frame], [frame]) == float("inf")
    assert vq.ssim([frame], [frame]) == pytest.approx(1.0)
    # A uniform offset of d: PSNR is 20 log10(255 / d).
    shifted = (frame.astype(np.int16) // 2 + 10).astype(np.uint8)
    lifted = shifted + 4
    assert vq.psnr([shifted], [lifted]) == pytest.approx(20 * np.log10(255 / 4))
    # Flat frames of levels a and b: SSIM is (2ab + C1) / (a^2 + b^2 + C1).
    a, b = np.full((32, 32, 3), 100, np.uint8), np.full((32, 32, 3), 150, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert vq.ssim([a], [b]) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1))
    # More noise, less similarity.
    noisy = [
        np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8)
        for sigma in (5, 20, 60)
    ]
    scores = [vq.ssim([frame], [n]) for n in noisy]
    assert scores == sorted(scores, reverse=True) and scores[-1] < 0.9
    with pytest.raises(ValueError, match="frame counts differ"):
        vq.ssim([frame], [])


@pytest.mark.slow
def test_tiny_dry_run_compares_the_recipes(tmp_path: Path) -> None:
    require_model_stack()
    shown = ".venv/bin/python bench/gpu_video_bench.py --engine ltx2 --tiny"
    assert shown in shell_lines(block("docs/performance.md", "--tiny").body)
    out = tmp_path / "bench.json"
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(BENCH / "gpu_video_bench.py"), *shown.split()[2:],
         "--json", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert list(report["recipes"]) == ["quality", "balanced", "fast"]
    rows = {name: data["results"][0] for name, data in report["recipes"].items()}
    assert rows["quality"]["psnr_db"] is None and rows["quality"]["speedup_vs_quality"] == 1.0
    for name in ("balanced", "fast"):
        row = rows[name]
        assert row["seconds_per_video"] > 0 and row["compared_frames"] == 16
        assert 0.0 < row["ssim"] <= 1.0
        assert row["psnr_db"] is None or row["psnr_db"] > 10
    assert report["recipes"]["fast"]["recipe"]["step_cache"] == "taylorseer, interval 3"
    table = done.stdout[done.stdout.index("recipe    video") :]
    assert [line.split()[0] for line in table.splitlines()[1:4]] == [
        "quality", "balanced", "fast",
    ]  # fmt: skip
