"""Loading a pipeline from a local diffusers directory, and only from there.

An operator points ``OPENDANCE_MODEL_PATH`` at a directory written by ``save_pretrained`` (or a
downloaded model repository). Before torch is even imported, the directory's
``model_index.json`` must exist and name a pipeline class this engine can run, so a typo or the
wrong model gets a message that says what to fix, not a stack trace. Loading itself runs with
``local_files_only``: nothing is ever fetched from a hub at run time.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opendance.engines.diffusers.runtime import ModelConfigError, Runtime, place_pipeline

if TYPE_CHECKING:
    from opendance.engines.diffusers.recipes import Recipe

log = logging.getLogger("opendance.engines.diffusers")


def pipeline_index(path: Path | None, *, setting: str) -> dict[str, Any]:
    """The parsed ``model_index.json`` of a pipeline directory (raises ``ModelConfigError``)."""
    if path is None:
        raise ModelConfigError(f"{setting} is not set: point it at a local diffusers directory")
    if not path.is_dir():
        raise ModelConfigError(f"{setting}: {path} is not a directory")
    index = path / "model_index.json"
    if not index.is_file():
        raise ModelConfigError(
            f"{setting}: {path} is not a diffusers pipeline (no model_index.json); "
            "use a directory written by save_pretrained or a downloaded model repository"
        )
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelConfigError(f"{setting}: {index} is not readable JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("_class_name"), str):
        raise ModelConfigError(f"{setting}: {index} names no pipeline class")
    return data


def require_pipeline(path: Path | None, expected: tuple[str, ...], *, setting: str) -> str:
    """The pipeline class named by the directory, if it is one of ``expected``."""
    name = str(pipeline_index(path, setting=setting)["_class_name"])
    if name not in expected:
        raise ModelConfigError(
            f"{setting}: {path} holds a {name}, expected {' or '.join(expected)}"
        )
    return name


def load_pipeline(
    path: Path, class_name: str, runtime: Runtime, recipe: Recipe | None = None
) -> Any:
    """Instantiate the pipeline class from ``path`` on the runtime's device; with a ``recipe``
    (the video model, not the soundtrack's), its quantization, LoRA, cache and compile too."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces with local_files_only
    import diffusers

    from opendance.engines.diffusers.acceleration import apply_recipe, quantization_config

    cls = getattr(diffusers, class_name)
    log.info("loading %s from %s (%s, %s)", class_name, path, runtime.device, runtime.dtype_name)
    options: dict[str, Any] = {"dtype": runtime.dtype, "local_files_only": True}
    quantization = quantization_config(recipe, runtime) if recipe is not None else None
    if quantization is not None:
        options["quantization_config"] = quantization
    try:
        pipe = cls.from_pretrained(str(path), **options)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelConfigError(f"cannot load {class_name} from {path}: {exc}") from exc
    place_pipeline(pipe, runtime)
    if recipe is not None:
        apply_recipe(pipe, recipe)
    return pipe
