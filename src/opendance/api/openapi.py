"""The OpenAPI 3.1 document of every public route of the three doors, and ``GET /openapi.json``.

The document is built in code, once per process (``create_app`` calls ``document_bytes``,
which is cached): enums and limits come from the constants the validators use
(``domain/presets``, ``services/validation``, the page limits), and error codes from rendering
one error of every class through each door's renderer, so that the document cannot drift from
what the server does (``tests/api/test_openapi.py``). Nothing here runs on any other route.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from opendance import errors
from opendance.api.ark_errors import ark_error_response
from opendance.api.envelope import JsonResponse
from opendance.api.openai_errors import openai_error_response
from opendance.api.requests import MAX_IDEMPOTENCY_KEY
from opendance.domain import presets
from opendance.domain.output_sizes import supported_sizes
from opendance.domain.task_states import PUBLIC_STATUS_STATES, TaskState
from opendance.services import ark_params, ark_tasks, openai_fields, openai_videos, task_lists
from opendance.services.ark_errors import ArkMissingParameter, ArkParameterError
from opendance.services.ark_objects import EXPIRED
from opendance.services.openai_door import VARIANTS
from opendance.services.validation import MAX_SEED

Schema = dict[str, Any]

ARK_TASKS: Final = "/api/v3/contents/generations/tasks"
OPENAPI_PATH: Final = "/openapi.json"
DOCS_PATH: Final = "/docs"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _null_is_absent(schema: Schema) -> Schema:
    """A request body's schema where each optional field may be null: every door reads a
    field sent as null as a field not sent."""
    required = set(schema.get("required", ()))
    schema["properties"] = {
        name: prop if name in required else _nullable(prop)
        for name, prop in schema["properties"].items()
    }
    return schema


def _prompt() -> Schema:
    """The prompt, as every door checks it (``services.validation.check_prompt``)."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": presets.MAX_PROMPT_CHARS,
        "pattern": r"\S",
        "description": f"1 to {presets.MAX_PROMPT_CHARS} characters once trimmed; no NUL.",
    }


def _int_or_digits(schema: Schema, pattern: str = "^[0-9]{1,20}$") -> Schema:
    """An integer, or the same number written as a string (a form's spelling)."""
    return {"anyOf": [schema, {"type": "string", "pattern": pattern}]}


_FORM_BOOLEAN: Final = {
    "anyOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false"]}],
    "default": False,
}


def api_error_classes() -> list[type[errors.ApiError]]:
    """Every error class a client can see, in the order of the error tree."""
    found: list[type[errors.ApiError]] = []

    def walk(cls: type[errors.ApiError]) -> None:
        for sub in cls.__subclasses__():
            if sub.__module__ == errors.__name__ and sub not in found:
                found.append(sub)
            walk(sub)

    walk(errors.ApiError)
    return found


def sample_errors() -> list[errors.ApiError]:
    """One error of every class a client can see, the Ark door's own parameter errors too."""
    made: list[errors.ApiError] = []
    for cls in api_error_classes():
        if cls is errors.InsufficientCredits:
            made.append(errors.InsufficientCredits(price=2, balance=1))
        elif cls is errors.RateLimited:
            made.append(errors.RateLimited(1))
        else:
            made.append(cls())
    return [*made, ArkParameterError("ratio", "-"), ArkMissingParameter("model", "-")]


def seedance_error_codes() -> list[str]:
    return sorted({error.code for error in sample_errors()})


def _rendered(render: Callable[[errors.ApiError], Response]) -> tuple[tuple[int, str, str], ...]:
    """(status, type, code) of every error as a door renders it: what that door answers."""
    found = []
    for error in sample_errors():
        answer = render(error)
        body = orjson.loads(answer.body)["error"]
        found.append((answer.status_code, body["type"], body["code"]))
    return tuple(found)


@cache
def openai_errors() -> tuple[tuple[int, str, str], ...]:
    return _rendered(lambda error: openai_error_response(error, {}))


@cache
def ark_errors() -> tuple[tuple[int, str, str], ...]:
    return _rendered(ark_error_response)


# --- schemas -----------------------------------------------------------------------------


def _schemas() -> dict[str, Schema]:
    openai, ark = openai_errors(), ark_errors()
    durations = list(presets.DURATIONS)
    seedance_status = list(PUBLIC_STATUS_STATES)
    timestamp = {"type": "string", "format": "date-time", "examples": ["2026-02-07T10:30:00Z"]}
    return {
        # Seedance
        "GenerateRequest": _null_is_absent(
            {
                "type": "object",
                "required": ["prompt"],
                "properties": {
                    "prompt": _prompt(),
                    "aspect_ratio": {
                        "type": "string",
                        "enum": list(presets.ASPECT_RATIOS),
                        "default": "1:1",
                    },
                    "resolution": {
                        "type": "string",
                        "enum": list(presets.RESOLUTIONS),
                        "default": "720p",
                    },
                    "duration": {
                        "description": "Seconds, as a number or a string.",
                        "default": 8,
                        "oneOf": [
                            {"type": "integer", "enum": durations},
                            {"type": "string", "enum": [str(d) for d in durations]},
                        ],
                    },
                    "generate_audio": {"type": "boolean", "default": False},
                    "fixed_lens": {"type": "boolean", "default": False},
                    "image_urls": {
                        "type": "array",
                        "maxItems": presets.MAX_IMAGES,
                        "items": {
                            "type": "string",
                            "description": "An http(s) URL or a data:image/...;base64, URL.",
                        },
                    },
                    "callback_url": {
                        "type": "string",
                        "description": 'A publicly reachable http(s) URL; "" means none.',
                    },
                    "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
                },
            }
        ),
        "SeedanceEnvelope": {
            "type": "object",
            "required": ["code", "message", "data"],
            "properties": {
                "code": {"type": "integer", "const": 200},
                "message": {"type": "string", "const": "success"},
                "data": {},
            },
        },
        "SeedanceError": {
            "type": "object",
            "required": ["code", "message", "error", "data"],
            "properties": {
                "code": {"type": "integer", "description": "Equals the HTTP status."},
                "message": {"type": "string"},
                "error": {"type": "string", "enum": seedance_error_codes()},
                "data": {"type": "null"},
            },
        },
        "TaskEcho": {
            "type": "object",
            "required": [
                "prompt",
                "aspect_ratio",
                "resolution",
                "duration",
                "generate_audio",
                "fixed_lens",
                "image_urls",
                "seed",
            ],
            "properties": {
                "prompt": {"type": "string"},
                "aspect_ratio": {
                    "type": "string",
                    "enum": [*presets.ASPECT_RATIOS, presets.ADAPTIVE],
                },
                "resolution": {"type": "string", "enum": list(presets.RESOLUTIONS)},
                "duration": {"type": "string", "enum": [str(d) for d in durations]},
                "generate_audio": {"type": "boolean"},
                "fixed_lens": {"type": "boolean"},
                "image_urls": {"type": "array", "items": {"type": "string"}},
                "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
                "callback_url": {"type": "string"},
            },
        },
        "TaskStatus": {
            "type": "object",
            "required": [
                "task_id",
                "status",
                "consumed_credits",
                "created_at",
                "request",
                "response",
                "error_message",
                "progress",
                "updated_at",
                "poster_url",
            ],
            "properties": {
                "task_id": {"type": "string"},
                "status": {"type": "string", "enum": seedance_status},
                "consumed_credits": {"type": "integer"},
                "created_at": timestamp,
                "request": _ref("TaskEcho"),
                "response": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The video's URL once it succeeded.",
                },
                "error_message": _nullable({"type": "string"}),
                "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                "updated_at": timestamp,
                "poster_url": _nullable({"type": "string"}),
            },
        },
        "TaskPage": {
            "type": "object",
            "required": ["tasks", "has_more", "last_id"],
            "properties": {
                "tasks": {"type": "array", "items": _ref("TaskStatus")},
                "has_more": {"type": "boolean"},
                "last_id": _nullable({"type": "string"}),
            },
        },
        "Delivery": {
            "type": "object",
            "required": [
                "id",
                "task_id",
                "url",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
                "delivered_at",
            ],
            "properties": {
                "id": {"type": "string"},
                "task_id": {"type": "string"},
                "url": {"type": "string"},
                "status": {"type": "string"},
                "attempts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "attempt": {"type": "integer"},
                            "at": timestamp,
                            "duration_ms": _nullable({"type": "integer"}),
                            "status_code": _nullable({"type": "integer"}),
                            "error": _nullable({"type": "string"}),
                        },
                    },
                },
                "next_attempt_at": _nullable(timestamp),
                "created_at": timestamp,
                "delivered_at": _nullable(timestamp),
            },
        },
        # OpenAI Videos
        "VideoCreate": _null_is_absent(
            {
                "type": "object",
                "required": ["prompt"],
                "additionalProperties": False,
                "properties": {
                    "prompt": _prompt(),
                    "model": {
                        "type": "string",
                        "maxLength": openai_fields.MAX_MODEL_CHARS,
                        "default": openai_videos.DEFAULT_MODEL,
                    },
                    "seconds": {
                        "default": openai_fields.DEFAULT_SECONDS,
                        "oneOf": [
                            {"type": "string", "enum": [str(d) for d in durations]},
                            {"type": "integer", "enum": durations},
                        ],
                    },
                    "size": {
                        "type": "string",
                        "pattern": "^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$",
                        "default": openai_fields.DEFAULT_SIZE,
                        "examples": supported_sizes(),
                        "description": "WIDTHxHEIGHT near an offered frame.",
                    },
                    "input_reference": {
                        "description": "The first frame: an uploaded JPEG, PNG or WebP file (a "
                        'form), or {"image_url": http(s) or data: URL}.',
                        "oneOf": [
                            {"type": "string", "format": "binary"},
                            {
                                "type": "object",
                                "required": ["image_url"],
                                "properties": {"image_url": {"type": "string"}},
                            },
                        ],
                    },
                    "generate_audio": _FORM_BOOLEAN,
                    "fixed_lens": _FORM_BOOLEAN,
                    "seed": _int_or_digits({"type": "integer", "minimum": 0, "maximum": MAX_SEED}),
                    "callback_url": {"type": "string"},
                },
            }
        ),
        "VideoRemix": {
            "type": "object",
            "required": ["prompt"],
            "properties": {"prompt": _prompt()},
        },
        "Video": {
            "type": "object",
            "required": [
                "id",
                "object",
                "model",
                "status",
                "progress",
                "created_at",
                "completed_at",
                "expires_at",
                "error",
                "prompt",
                "seconds",
                "size",
                "remixed_from_video_id",
            ],
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string", "const": "video"},
                "model": {"type": "string"},
                "status": {
                    "type": "string",
                    "enum": sorted(set(openai_videos._STATUS.values())),
                },
                "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                "created_at": {"type": "integer"},
                "completed_at": _nullable({"type": "integer"}),
                "expires_at": _nullable({"type": "integer"}),
                "error": _nullable(
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {
                                "type": "string",
                                "enum": [openai_videos.CANCELLED_CODE, openai_videos.FAILED_CODE],
                            },
                            "message": {"type": "string"},
                        },
                    }
                ),
                "prompt": {"type": "string"},
                "seconds": {"type": "string", "enum": [str(d) for d in durations]},
                "size": {"type": "string"},
                "remixed_from_video_id": _nullable({"type": "string"}),
            },
        },
        "VideoList": {
            "type": "object",
            "required": ["object", "data", "first_id", "last_id", "has_more"],
            "properties": {
                "object": {"type": "string", "const": "list"},
                "data": {"type": "array", "items": _ref("Video")},
                "first_id": _nullable({"type": "string"}),
                "last_id": _nullable({"type": "string"}),
                "has_more": {"type": "boolean"},
            },
        },
        "VideoDeleted": {
            "type": "object",
            "required": ["id", "object", "deleted"],
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string", "const": "video.deleted"},
                "deleted": {"type": "boolean", "const": True},
            },
        },
        "OpenAIError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "type", "param", "code"],
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string", "enum": sorted({t for _s, t, _c in openai})},
                        "param": _nullable({"type": "string"}),
                        "code": _nullable(
                            {"type": "string", "enum": sorted({c for _s, _t, c in openai})}
                        ),
                    },
                }
            },
        },
        # Ark
        "ArkCreate": _null_is_absent(
            {
                "type": "object",
                "required": ["model", "content"],
                "properties": {
                    "model": {"type": "string", "maxLength": ark_params.MAX_MODEL_CHARS},
                    "content": {
                        "type": "array",
                        "description": "One text item (the prompt, optionally with --flags) and "
                        "at most one image_url item with role first_frame.",
                        "items": {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["type", "text"],
                                    "properties": {
                                        "type": {"type": "string", "const": "text"},
                                        "text": {"type": "string"},
                                    },
                                },
                                {
                                    "type": "object",
                                    "required": ["type", "image_url"],
                                    "properties": {
                                        "type": {"type": "string", "const": "image_url"},
                                        "image_url": {
                                            "type": "object",
                                            "required": ["url"],
                                            "properties": {"url": {"type": "string"}},
                                        },
                                        "role": {"type": "string", "const": ark_params.FIRST_FRAME},
                                    },
                                },
                            ]
                        },
                    },
                    "callback_url": {"type": "string"},
                    "return_last_frame": {"type": "boolean", "default": False},
                    "generate_audio": {"type": "boolean", "default": False},
                    "camera_fixed": {"type": "boolean", "default": False},
                    "watermark": {"type": "boolean"},
                    "seed": _int_or_digits(
                        {
                            "type": "integer",
                            "minimum": ark_params.RANDOM_SEED,
                            "maximum": MAX_SEED,
                            "default": ark_params.RANDOM_SEED,
                        },
                        "^-?[0-9]{1,20}$",
                    ),
                    "resolution": {
                        "type": "string",
                        "enum": list(presets.RESOLUTIONS),
                        "default": ark_params.DEFAULT_RESOLUTION,
                    },
                    "ratio": {
                        "type": "string",
                        "enum": [*presets.ASPECT_RATIOS, presets.ADAPTIVE],
                        "default": ark_params.DEFAULT_RATIO,
                    },
                    "duration": {
                        "anyOf": [
                            {"type": "integer", "enum": durations},
                            {"type": "string", "pattern": "^-?[0-9]{1,20}$"},
                        ],
                        "default": ark_params.DEFAULT_DURATION,
                        "description": "Seconds: one of the integers, or one written as a string.",
                    },
                    "safety_identifier": {"type": "string"},
                    "service_tier": {"type": "string", "const": ark_params.OFFERED_SERVICE_TIER},
                    "draft": {"type": "boolean", "const": False},
                    "tools": {"type": "array", "maxItems": 0},
                    "output_format": {"type": "string", "const": ark_params.OFFERED_OUTPUT_FORMAT},
                    "framespersecond": _int_or_digits({"type": "integer", "const": presets.FPS}),
                },
            }
        ),
        "ArkTask": {
            "type": "object",
            "required": ["id", "model", "status", "error", "content", "usage", "created_at"],
            "properties": {
                "id": {"type": "string"},
                "model": {"type": "string"},
                "status": {"type": "string", "enum": [*(s.value for s in TaskState), EXPIRED]},
                "error": _nullable(
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                ),
                "content": _nullable(
                    {
                        "type": "object",
                        "required": ["video_url"],
                        "properties": {
                            "video_url": {"type": "string"},
                            "last_frame_url": {"type": "string"},
                        },
                    }
                ),
                "usage": _nullable(
                    {
                        "type": "object",
                        "properties": {
                            "completion_tokens": {"type": "integer"},
                            "total_tokens": {"type": "integer"},
                        },
                    }
                ),
                "created_at": {"type": "integer"},
                "updated_at": {"type": "integer"},
                "seed": {"type": "integer"},
                "resolution": {"type": "string", "enum": list(presets.RESOLUTIONS)},
                "ratio": {"type": "string", "enum": [*presets.ASPECT_RATIOS, presets.ADAPTIVE]},
                "duration": {"type": "integer", "enum": durations},
                "framespersecond": {"type": "integer", "const": presets.FPS},
                "generate_audio": {"type": "boolean"},
                "camera_fixed": {"type": "boolean"},
            },
        },
        "ArkTaskList": {
            "type": "object",
            "required": ["total", "items"],
            "properties": {
                "total": {"type": "integer", "minimum": 0},
                "items": {"type": "array", "items": _ref("ArkTask")},
            },
        },
        "ArkError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "param", "type"],
                    "properties": {
                        "code": {"type": "string", "enum": sorted({c for _s, _t, c in ark})},
                        "message": {"type": "string"},
                        "param": {"type": "string"},
                        "type": {"type": "string", "enum": sorted({t for _s, t, _c in ark})},
                    },
                }
            },
        },
    }


# --- responses ---------------------------------------------------------------------------

_REASONS: Final = {
    400: "Bad request",
    401: "Missing or invalid key",
    402: "Not enough credits",
    403: "Not enough credits (Ark: AccountOverdueError)",
    404: "Not found",
    405: "Method not allowed",
    408: "The body did not arrive in time",
    409: "Conflict",
    413: "Body too large",
    429: "Rate limited",
    500: "Internal error",
    503: "Not ready or busy",
}


def _json(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def _data(schema: Schema) -> Schema:
    """The Seedance success envelope around ``schema``."""
    return {"allOf": [_ref("SeedanceEnvelope"), {"properties": {"data": schema}}]}


def _errors(door: str, statuses: list[int]) -> dict[str, Schema]:
    schema = _ref({"seedance": "SeedanceError", "openai": "OpenAIError", "ark": "ArkError"}[door])
    answers: dict[str, Schema] = {}
    rendered = {
        "seedance": tuple((e.status, "", e.code) for e in sample_errors()),
        "openai": openai_errors(),
        "ark": ark_errors(),
    }[door]
    for status in statuses:
        codes = sorted({code for answered, _type, code in rendered if answered == status})
        text = f"{_REASONS[status]}. The door's codes of this status: {', '.join(codes)}."
        answer: Schema = {"description": text, "content": _json(schema)}
        if status in (429, 503):
            answer["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
        answers[str(status)] = answer
    return answers


AUTH_ERRORS: Final = [400, 401, 405, 408, 413, 429, 500, 503]
# any route: a URL the server refuses to read (a NUL in it), a wrong method, a failure
OPEN_ERRORS: Final = [400, 405, 500]


def _op(
    door: str,
    summary: str,
    ok: Schema,
    statuses: list[int],
    *,
    op_id: str,
    body: Schema | None = None,
    params: list[Schema] | None = None,
    secure: bool = True,
    extra: dict[str, Schema] | None = None,
) -> Schema:
    statuses = sorted({*statuses, *(AUTH_ERRORS if secure else OPEN_ERRORS)})
    if door == "openai":
        statuses = [s for s in statuses if s != 402]  # OpenAI: too few credits is a 429
    if door == "ark":
        statuses = sorted({403 if s == 402 else s for s in statuses})
    responses: dict[str, Schema] = {"200": ok, **_errors(door, statuses), **(extra or {})}
    operation: Schema = {
        "operationId": op_id,
        "summary": summary,
        "tags": [{"seedance": "Seedance", "openai": "OpenAI Videos", "ark": "Ark"}[door]],
        "responses": responses,
    }
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = body
    if not secure:
        operation["security"] = []
    return operation


def _query(name: str, schema: Schema, *, required: bool = False, text: str = "") -> Schema:
    param: Schema = {"name": name, "in": "query", "required": required, "schema": schema}
    if not required:
        # every door reads an optional parameter sent empty (`limit=`, as a form sends an
        # unset field) as one not sent: QUERY_STRINGS below
        param["allowEmptyValue"] = True
    if text:
        param["description"] = text
    return param


def _path(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


QUERY_STRINGS: Final = (
    "Query strings: a parameter an operation does not name is ignored, as most HTTP APIs do; "
    "an optional parameter sent empty (`limit=`) is the same as one not sent; a parameter "
    "sent more than once counts as its last value, except an array parameter "
    "(`filter.task_ids`), which takes every value."
)
"""How every door reads a query string (starlette's QueryParams, read with .get), said once
in the document's description; tests/api/test_openapi_query.py holds the server to it."""

IDEMPOTENCY: Final = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
    "description": "Printable ASCII; the same key and body within 24 h returns the same task.",
}


def _limit(default: int, most: int) -> Schema:
    return {"type": "integer", "minimum": 1, "maximum": most, "default": default}


def ok(schema: Schema) -> Schema:
    return {"description": "OK", "content": _json(schema)}


def json_body(schema: Schema) -> Schema:
    return {"required": True, "content": _json(schema)}


def _paths() -> dict[str, Schema]:
    create_errors = [400, 401, 402, 409, 413, 429]
    video = ok(_ref("Video"))
    poll_header = {"openai-poll-after-ms": {"schema": {"type": "string"}}}
    video_poll = {**video, "headers": poll_header}
    return {
        "/v1/generate": {
            "post": _op(
                "seedance",
                "Submit a generation task",
                ok(
                    _data(
                        {
                            "type": "object",
                            "required": ["task_id", "status"],
                            "properties": {
                                "task_id": {"type": "string"},
                                "status": {"type": "string", "const": "IN_PROGRESS"},
                            },
                        }
                    )
                ),
                create_errors,
                op_id="generate",
                body=json_body(_ref("GenerateRequest")),
                params=[IDEMPOTENCY],
            )
        },
        "/v1/status": {
            "get": _op(
                "seedance",
                "A task's status",
                ok(_data(_ref("TaskStatus"))),
                [404],
                op_id="status",
                params=[_query("task_id", {"type": "string", "pattern": r"\S"}, required=True)],
            )
        },
        "/v1/tasks": {
            "get": _op(
                "seedance",
                "The caller's tasks, newest first (extension)",
                ok(_data(_ref("TaskPage"))),
                [],
                op_id="listTasks",
                params=[
                    _query("status", {"type": "string", "enum": list(PUBLIC_STATUS_STATES)}),
                    _query("limit", _limit(task_lists.DEFAULT_LIMIT, task_lists.MAX_LIMIT)),
                    _query("after", {"type": "string"}, text="The last_id of the page before."),
                ],
            )
        },
        "/v1/cancel": {
            "post": _op(
                "seedance",
                "Cancel a queued or running task (extension)",
                ok(_data(_ref("TaskStatus"))),
                [404, 409],
                op_id="cancel",
                body=json_body(
                    {
                        "type": "object",
                        "required": ["task_id"],
                        "properties": {"task_id": {"type": "string", "minLength": 1}},
                    }
                ),
            )
        },
        "/v1/webhooks/deliveries": {
            "get": _op(
                "seedance",
                "The caller's webhook deliveries and their attempts",
                ok(
                    _data(
                        {
                            "type": "object",
                            "required": ["deliveries"],
                            "properties": {
                                "deliveries": {"type": "array", "items": _ref("Delivery")}
                            },
                        }
                    )
                ),
                [],
                op_id="webhookDeliveries",
                params=[_query("task_id", {"type": "string"})],
            )
        },
        "/v1/videos": {
            "post": _op(
                "openai",
                "Create a video",
                video,
                create_errors,
                op_id="createVideo",
                body={
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("VideoCreate")},
                        "multipart/form-data": {"schema": _ref("VideoCreate")},
                    },
                },
                params=[IDEMPOTENCY],
            ),
            "get": _op(
                "openai",
                "List videos",
                ok(_ref("VideoList")),
                [],
                op_id="listVideos",
                params=[
                    _query("after", {"type": "string"}),
                    _query("limit", _limit(task_lists.DEFAULT_LIMIT, task_lists.MAX_LIMIT)),
                    _query("order", {"type": "string", "enum": ["asc", "desc"], "default": "desc"}),
                ],
            ),
        },
        "/v1/videos/{video_id}": {
            "get": _op(
                "openai",
                "Retrieve a video (poll)",
                video_poll,
                [404],
                op_id="retrieveVideo",
                params=[_path("video_id")],
            ),
            "delete": _op(
                "openai",
                "Delete a finished video",
                ok(_ref("VideoDeleted")),
                [404, 409],
                op_id="deleteVideo",
                params=[_path("video_id")],
            ),
        },
        "/v1/videos/{video_id}/content": {
            "get": _op(
                "openai",
                "Download a video's bytes",
                {
                    "description": "The bytes of the variant.",
                    "content": {
                        "video/mp4": {"schema": {"type": "string", "format": "binary"}},
                        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                [404, 409],
                op_id="videoContent",
                params=[
                    _path("video_id"),
                    _query("variant", {"type": "string", "enum": list(VARIANTS)}),
                ],
            )
        },
        "/v1/videos/{video_id}/remix": {
            "post": _op(
                "openai",
                "Remix a video with a new prompt",
                video,
                [*create_errors, 404],
                op_id="remixVideo",
                body=json_body(_ref("VideoRemix")),
                params=[_path("video_id"), IDEMPOTENCY],
            )
        },
        ARK_TASKS: {
            "post": _op(
                "ark",
                "Create a content generation task",
                ok(
                    {
                        "type": "object",
                        "required": ["id"],
                        "properties": {"id": {"type": "string"}},
                    }
                ),
                create_errors,
                op_id="arkCreateTask",
                body=json_body(_ref("ArkCreate")),
                params=[IDEMPOTENCY],
            ),
            "get": _op(
                "ark",
                "List content generation tasks",
                ok(_ref("ArkTaskList")),
                [],
                op_id="arkListTasks",
                params=[
                    _query(
                        "page_num",
                        {"type": "integer", "minimum": 1, "maximum": ark_tasks.MAX_PAGE_NUM},
                    ),
                    _query(
                        "page_size",
                        _limit(ark_tasks.DEFAULT_PAGE_SIZE, ark_tasks.MAX_PAGE_SIZE),
                    ),
                    _query(
                        "filter.status",
                        {"type": "string", "enum": [*(s.value for s in TaskState), EXPIRED]},
                    ),
                    _query("filter.model", {"type": "string"}),
                    _query("filter.task_ids", {"type": "array", "items": {"type": "string"}}),
                    _query("filter.service_tier", {"type": "string"}),
                ],
            ),
        },
        ARK_TASKS + "/{task_id}": {
            "get": _op(
                "ark",
                "Retrieve a content generation task",
                ok(_ref("ArkTask")),
                [404],
                op_id="arkGetTask",
                params=[_path("task_id")],
            ),
            "delete": _op(
                "ark",
                "Cancel a queued task or delete a finished one",
                ok({"type": "object", "maxProperties": 0}),
                [404, 409],
                op_id="arkDeleteTask",
                params=[_path("task_id")],
            ),
        },
        "/files/{key}": {
            "get": _files_op("getFile"),
            "head": _files_op("headFile"),
        },
        "/healthz": {
            "get": _op(
                "seedance",
                "Liveness",
                ok(
                    _data(
                        {
                            "type": "object",
                            "properties": {"status": {"type": "string", "const": "ok"}},
                        }
                    )
                ),
                [],
                op_id="healthz",
                secure=False,
            )
        },
        "/readyz": {
            "get": _op(
                "seedance",
                "Readiness: the database answers and a worker reported recently",
                ok(
                    _data(
                        {
                            "type": "object",
                            "required": ["database", "workers", "queued"],
                            "properties": {
                                "database": {"type": "string"},
                                "workers": {"type": "integer"},
                                "queued": {"type": "integer"},
                                "audio": {"type": "boolean"},
                                "image_to_video": {"type": "boolean"},
                            },
                        }
                    )
                ),
                [503],
                op_id="readyz",
                secure=False,
            )
        },
        "/metrics": {
            "get": _op(
                "seedance",
                "Prometheus metrics (OPENDANCE_METRICS_TOKEN)",
                {
                    "description": "Prometheus exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                [401, 404],
                op_id="metrics",
                secure=False,
            )
        },
        "/": {
            "get": _op(
                "seedance",
                "Service index (a browser is sent to the dashboard)",
                ok(_data({"type": "object"})),
                [],
                op_id="index",
                secure=False,
                extra={"303": {"description": "To /dashboard, for a browser (Accept: text/html)."}},
            )
        },
        OPENAPI_PATH: {
            "get": _op(
                "seedance",
                "This document",
                ok({"type": "object"}),
                [],
                op_id="openapi",
                secure=False,
            )
        },
        DOCS_PATH: {
            "get": _op(
                "seedance",
                "The API reference page",
                {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}},
                [],
                op_id="docs",
                secure=False,
            )
        },
    }


# create -> (where the new id is in its answer, the operations that take it: parameter name)
_LINKS: Final[dict[tuple[str, str], tuple[str, dict[str, str | None]]]] = {
    ("/v1/generate", "post"): (
        "$response.body#/data/task_id",
        {"status": "task_id", "cancel": None},
    ),
    ("/v1/videos", "post"): (
        "$response.body#/id",
        {
            "retrieveVideo": "video_id",
            "videoContent": "video_id",
            "remixVideo": "video_id",
            "deleteVideo": "video_id",
        },
    ),
    (ARK_TASKS, "post"): (
        "$response.body#/id",
        {"arkGetTask": "task_id", "arkDeleteTask": "task_id"},
    ),
}


def _with_links(paths: dict[str, Schema]) -> dict[str, Schema]:
    """OpenAPI links from each create to the operations that take the id it answers."""
    for (path, method), (where, targets) in _LINKS.items():
        ok = dict(paths[path][method]["responses"]["200"])
        ok["links"] = {
            target: (
                {"operationId": target, "parameters": {param: where}}
                if param
                else {"operationId": target, "requestBody": {"task_id": where}}
            )
            for target, param in targets.items()
        }
        paths[path][method]["responses"]["200"] = ok
    return paths


def _files_op(op_id: str) -> Schema:
    return _op(
        "seedance",
        "A stored object (video, poster, frame), by its signed key",
        {
            "description": "The bytes; immutable.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        [404],
        op_id=op_id,
        params=[
            {
                "name": "key",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "May contain slashes.",
            },
            _query("sig", {"type": "string"}, text="The signature of a signed URL."),
        ],
        secure=False,
    )


def _webhooks() -> dict[str, Schema]:
    headers = {
        name: {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    answer = {"2XX": {"description": "Received; any other answer is retried."}}

    def hook(summary: str, schema: Schema) -> Schema:
        return {
            "post": {
                "summary": summary,
                "description": "POSTed to the task's callback_url when it ends, signed per "
                "Standard Webhooks (webhook-signature: v1,<base64 HMAC-SHA256 of "
                '"id.timestamp.body">).',
                "parameters": list(headers.values()),
                "requestBody": {"required": True, "content": _json(schema)},
                "responses": answer,
            }
        }

    return {
        "seedanceTaskEnded": hook("A Seedance task ended", _data(_ref("TaskStatus"))),
        "openaiVideoEnded": hook("An OpenAI Videos video ended", _ref("Video")),
        "arkTaskEnded": hook("An Ark task ended", _ref("ArkTask")),
    }


def build_document() -> Schema:
    """The document, as a dict (a new one each call)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Opendance",
            "version": _version(),
            "description": "Three API dialects over one task store: Seedance (/v1/generate), "
            "the OpenAI Videos API (/v1/videos) and Ark's task API (/api/v3/...). Errors take "
            "the shape of the door a request came to. " + QUERY_STRINGS,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "Seedance", "description": "The Seedance 2.0 contract and its extensions."},
            {
                "name": "OpenAI Videos",
                "description": "OpenAI's Videos API (docs/dialects/openai.md).",
            },
            {"name": "Ark", "description": "ByteDance Ark's task API (docs/dialects/ark.md)."},
        ],
        "security": [{"bearer": []}],
        "paths": _with_links(_paths()),
        "webhooks": _webhooks(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key."}
            },
        },
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opendance")
    except PackageNotFoundError:
        return "0"


@cache
def document_bytes() -> bytes:
    """The document serialised, once per process."""
    return orjson.dumps(build_document())


async def openapi_json(_request: Request) -> Response:
    return Response(document_bytes(), media_type=JsonResponse.media_type)


# --- the reference page ------------------------------------------------------------------

SWAGGER_STATIC: Final = "/static/swagger-ui"
"""Swagger UI, vendored with its licence under ``web/static/swagger-ui`` (no CDN)."""
DOCS_HTML: Final = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Opendance API reference</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{SWAGGER_STATIC}/swagger-ui.css">
</head>
<body>
  <p style="margin:8px 16px;font-family:sans-serif"><a href="/dashboard">Dashboard</a> ·
  <a href="/playground">Playground</a> · <a href="{OPENAPI_PATH}">openapi.json</a></p>
  <div id="swagger-ui"></div>
  <script src="{SWAGGER_STATIC}/swagger-ui-bundle.js"></script>
  <script src="{SWAGGER_STATIC}/init.js"></script>
</body>
</html>
""".encode()
DOCS_HEADERS: Final = {
    # Swagger UI sets inline styles; scripts and requests stay on this origin
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


async def docs_page(_request: Request) -> Response:
    return Response(DOCS_HTML, media_type="text/html; charset=utf-8", headers=DOCS_HEADERS)
