"""Model-engine tests: tiny random-weight pipelines built here, once per session, and loaded
through the operator's code path. Without the model stack (torch, diffusers) they skip with
the reason; in CI (CI=true) they fail instead, because CI installs it."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendance.settings import Settings
from tests.conftest import make_settings
from tests.support.live import LiveServer

MODEL_STACK = ("torch", "diffusers", "transformers", "torchsde", "ftfy")


def require_model_stack() -> None:
    missing = [name for name in MODEL_STACK if importlib.util.find_spec(name) is None]
    if not missing:
        return
    reason = f"the model stack is not installed ({', '.join(missing)}): pip install '.[models]'"
    if os.environ.get("CI"):
        pytest.fail(reason + " -- CI must install it")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """kind -> directory of a saved tiny pipeline (ltx2, wan, wan-i2v, stable-audio)."""
    require_model_stack()
    from opendance.engines.diffusers.tiny import BUILDERS, make_tiny

    root = tmp_path_factory.mktemp("tiny-models")
    return {kind: make_tiny(kind, root / kind) for kind in BUILDERS}


def model_settings(tmp_path: Path, **overrides: object) -> Settings:
    # Two denoising steps: the tiny models make noise at any step count; the test is the path.
    values: dict[str, object] = {"inference_steps": 2, "lease_seconds": 60.0}
    values.update(overrides)
    return make_settings(tmp_path, **values)


@pytest.fixture
def ltx2_server(tmp_path: Path, tiny_models: dict[str, Path]) -> Iterator[LiveServer]:
    live = LiveServer(model_settings(tmp_path, engine="ltx2", model_path=tiny_models["ltx2"]))
    yield live.start()
    live.stop()
