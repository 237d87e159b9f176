"""Engines by name. The API asks only for capabilities (no heavy imports: an API process never
loads torch); workers build the engine. Each entry imports its engine module only when used."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opendance.engines.base import Engine, EngineCapabilities
from opendance.errors import OpendanceError

if TYPE_CHECKING:
    from opendance.settings import Settings


class UnknownEngine(OpendanceError):
    """No engine of this name is available."""


@dataclass(frozen=True)
class EngineEntry:
    capabilities: Callable[[Settings], EngineCapabilities]
    create: Callable[[Settings], Engine]
    loads_model: bool = False
    """Holds a model in memory: run it in a child process (a crash fails one task, not the
    worker), load it once and reuse it for every task."""
    preflight: Callable[[Settings], None] = lambda _settings: None
    """Checks the engine's settings without loading anything heavy (no torch): raises an
    ``OpendanceError`` that tells the operator what to fix."""


def _preview_capabilities(settings: Settings) -> EngineCapabilities:
    # The preview engine can do everything; an operator may offer less, so that preview
    # workers stand in for model workers when a mixed fleet is tried out.
    return EngineCapabilities(
        audio=settings.preview_audio, image_to_video=settings.preview_image_to_video
    )


def _create_preview(settings: Settings) -> Engine:
    from opendance.engines.preview import PreviewEngine

    engine = PreviewEngine()
    engine.capabilities = _preview_capabilities(settings)
    return engine


def _upstream_capabilities(settings: Settings) -> EngineCapabilities:
    from opendance.engines.upstream import upstream_capabilities

    return upstream_capabilities(settings)


def _create_upstream(settings: Settings) -> Engine:
    from opendance.engines.upstream import UpstreamEngine

    return UpstreamEngine.from_settings(settings)


def _upstream_preflight(settings: Settings) -> None:
    from opendance.engines.upstream.config import UpstreamConfig

    UpstreamConfig.from_settings(settings)


def _ltx2_preflight(settings: Settings) -> None:
    from opendance.engines.diffusers.acceleration import preflight_recipe
    from opendance.engines.diffusers.loading import require_pipeline
    from opendance.engines.diffusers.ltx2 import PIPELINE_CLASSES

    require_pipeline(settings.model_path, PIPELINE_CLASSES, setting="OPENDANCE_MODEL_PATH")
    preflight_recipe(settings, "ltx2")


def _wan_preflight(settings: Settings) -> None:
    from opendance.engines.diffusers.acceleration import preflight_recipe
    from opendance.engines.diffusers.wan import check_model_directories

    check_model_directories(settings)
    preflight_recipe(settings, "wan")


def _ltx2_capabilities(settings: Settings) -> EngineCapabilities:
    from opendance.engines.diffusers.ltx2 import ltx2_capabilities

    return ltx2_capabilities(settings)


def _create_ltx2(settings: Settings) -> Engine:
    from opendance.engines.diffusers.ltx2 import LTX2Engine

    return LTX2Engine(settings)


def _wan_capabilities(settings: Settings) -> EngineCapabilities:
    from opendance.engines.diffusers.wan import wan_capabilities

    return wan_capabilities(settings)


def _create_wan(settings: Settings) -> Engine:
    from opendance.engines.diffusers.wan import WanEngine

    return WanEngine(settings)


ENGINES: dict[str, EngineEntry] = {
    "preview": EngineEntry(_preview_capabilities, _create_preview),
    "upstream": EngineEntry(
        _upstream_capabilities, _create_upstream, preflight=_upstream_preflight
    ),
    "ltx2": EngineEntry(
        _ltx2_capabilities, _create_ltx2, loads_model=True, preflight=_ltx2_preflight
    ),
    "wan": EngineEntry(_wan_capabilities, _create_wan, loads_model=True, preflight=_wan_preflight),
}


def engine_names() -> list[str]:
    return sorted(ENGINES)


def _entry(name: str) -> EngineEntry:
    try:
        return ENGINES[name]
    except KeyError:
        raise UnknownEngine(
            f"unknown engine {name!r}; available: {', '.join(engine_names())}"
        ) from None


def capabilities_for(settings: Settings) -> EngineCapabilities:
    """What the configured engine can do, without loading it."""
    return _entry(settings.engine).capabilities(settings)


def preflight(settings: Settings) -> None:
    """Fail fast, before a server or worker starts, on settings the engine cannot work with."""
    _entry(settings.engine).preflight(settings)
    if settings.parallel_devices:
        from opendance.engines.diffusers.parallel_plan import parallel_plan

        parallel_plan(settings)


def model_label(settings: Settings) -> str | None:
    """The model a worker of these settings runs, as its row and its tasks record it: the name
    of the model directory (engines without one, like preview and upstream, have none)."""
    if _entry(settings.engine).loads_model and settings.model_path is not None:
        return settings.model_path.name
    return None


def loads_model(settings: Settings) -> bool:
    """The configured engine holds a model: one render at a time per loaded copy."""
    return _entry(settings.engine).loads_model


def runs_in_child_process(settings: Settings) -> bool:
    """Where the worker runs the configured engine (``OPENDANCE_ENGINE_PROCESS``)."""
    if settings.engine_process == "auto":
        return _entry(settings.engine).loads_model
    return settings.engine_process == "process"


def create_engine(settings: Settings) -> Engine:
    """Build the configured engine (for a worker; may load a model), spread over several
    devices when ``OPENDANCE_PARALLEL_DEVICES`` names them."""
    entry = _entry(settings.engine)
    if settings.parallel_devices:
        from opendance.engines.diffusers.parallel import create_parallel_engine

        return create_parallel_engine(settings, entry.create)
    return entry.create(settings)
