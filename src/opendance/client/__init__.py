"""The Python SDK of the Opendance / Seedance 2.0 API.

    from opendance.client import Client

    with Client("http://127.0.0.1:8000", api_key="od_...") as client:
        task = client.generate_and_wait("mountains at sunrise", resolution="480p", duration=4)
        if task.succeeded:
            client.download(task.task_id, "sunrise.mp4")

``client.list()`` iterates over the account's tasks, newest first, page by page;
``client.cancel(task_id)`` cancels a queued or running task and refunds it.
``AsyncClient`` offers the same methods to ``await`` (and ``async for`` over ``list``). Errors
are in ``opendance.client.errors`` and re-exported here; webhook verification is
``opendance.client.webhooks.verify``.
"""

from __future__ import annotations

from opendance.client.aio import AsyncClient
from opendance.client.config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL, GenerateOptions
from opendance.client.errors import (
    ApiError,
    BadRequest,
    ConfigurationError,
    Conflict,
    IdempotencyConflict,
    InsufficientCredits,
    InternalError,
    InvalidApiKey,
    InvalidAspectRatio,
    InvalidCallbackUrl,
    InvalidDuration,
    InvalidImageUrl,
    InvalidMetricsToken,
    InvalidPrompt,
    InvalidRequest,
    InvalidResolution,
    MethodNotAllowed,
    NotFound,
    NotReady,
    OpendanceClientError,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    ServerBusy,
    TaskNotCancellable,
    TaskNotFinished,
    TaskNotFound,
    TooManyImages,
    TransportError,
    UnexpectedResponse,
    UnsupportedOption,
    VideoNotReady,
    WaitTimeout,
)
from opendance.client.images import image_url
from opendance.client.models import (
    AspectRatio,
    DownloadProgress,
    Duration,
    GenerateRequest,
    Resolution,
    Submitted,
    Task,
    TaskPage,
    TaskStatus,
)
from opendance.client.plans import PollPolicy, RetryPolicy
from opendance.client.sync import Client

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "ApiError",
    "AspectRatio",
    "AsyncClient",
    "BadRequest",
    "Client",
    "ConfigurationError",
    "Conflict",
    "DownloadProgress",
    "Duration",
    "GenerateOptions",
    "GenerateRequest",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InternalError",
    "InvalidApiKey",
    "InvalidAspectRatio",
    "InvalidCallbackUrl",
    "InvalidDuration",
    "InvalidImageUrl",
    "InvalidMetricsToken",
    "InvalidPrompt",
    "InvalidRequest",
    "InvalidResolution",
    "MethodNotAllowed",
    "NotFound",
    "NotReady",
    "OpendanceClientError",
    "PayloadTooLarge",
    "PollPolicy",
    "RateLimited",
    "RequestTimeout",
    "Resolution",
    "RetryPolicy",
    "ServerBusy",
    "Submitted",
    "Task",
    "TaskNotCancellable",
    "TaskNotFinished",
    "TaskNotFound",
    "TaskPage",
    "TaskStatus",
    "TooManyImages",
    "TransportError",
    "UnexpectedResponse",
    "UnsupportedOption",
    "VideoNotReady",
    "WaitTimeout",
    "image_url",
]
