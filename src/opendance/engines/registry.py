"""Engines by name. The API asks only for capabilities (no heavy imports); workers build one."""

from __future__ import annotations

from opendance.engines.base import Engine, EngineCapabilities
from opendance.engines.preview import PreviewEngine
from opendance.errors import OpendanceError

CAPABILITIES: dict[str, EngineCapabilities] = {
    "preview": PreviewEngine.capabilities,
}


class UnknownEngine(OpendanceError):
    """No engine of this name is available."""


def capabilities_for(name: str) -> EngineCapabilities:
    try:
        return CAPABILITIES[name]
    except KeyError:
        raise UnknownEngine(
            f"unknown engine {name!r}; available: {', '.join(sorted(CAPABILITIES))}"
        ) from None


def create_engine(name: str) -> Engine:
    capabilities_for(name)
    return PreviewEngine()
