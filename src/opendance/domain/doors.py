"""The doors a task can come through: one API dialect each, over the one task store."""

from __future__ import annotations

from enum import StrEnum


class Door(StrEnum):
    SEEDANCE = "seedance"  # POST /v1/generate, GET /v1/status (the contract)
    OPENAI = "openai"  # /v1/videos, the OpenAI Videos API
    ARK = "ark"  # /api/v3/contents/generations/tasks, ByteDance's Ark task API
