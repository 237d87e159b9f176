"""The upstream engine: forwards tasks to another Seedance-compatible API (resale, failover)."""

from __future__ import annotations

from opendance.engines.upstream.config import UpstreamNotConfigured, upstream_capabilities
from opendance.engines.upstream.engine import UpstreamEngine

__all__ = ["UpstreamEngine", "UpstreamNotConfigured", "upstream_capabilities"]
