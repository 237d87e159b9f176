"""Validation of a ``POST /v1/generate`` body, field by field in the contract's order, so that
a request with several problems always gets the code of the first one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from opendance import errors
from opendance.domain import ids, presets
from opendance.domain.task_request import TaskRequest

MAX_PROMPT_CHARS = 2000
MAX_IMAGES = 1
MAX_SEED = 2**32 - 1
# Exactly "4", "8", "12": str.isdigit() would also let "²" or "٨" through.
_DURATION_STRINGS = frozenset(str(seconds) for seconds in presets.DURATIONS)

UrlCheck = Callable[[str], Awaitable[None]]
"""Raises ``errors.ApiError`` (with the field's code) if the URL is not acceptable."""


async def validate_generate(
    body: Any, *, check_image_url: UrlCheck, check_callback_url: UrlCheck
) -> TaskRequest:
    """The request of a ``POST /v1/generate`` body (a random seed where none was sent; the
    image URL as sent)."""
    if not isinstance(body, dict):
        raise errors.InvalidRequest("the request body must be a JSON object")
    prompt = parse_prompt(body.get("prompt"))
    aspect_ratio = _choice(
        body, "aspect_ratio", "1:1", presets.ASPECT_RATIOS, errors.InvalidAspectRatio
    )
    resolution = _choice(body, "resolution", "720p", presets.RESOLUTIONS, errors.InvalidResolution)
    duration = _duration(body.get("duration"))
    generate_audio = _flag(body, "generate_audio")
    fixed_lens = _flag(body, "fixed_lens")
    image_urls = _image_urls(body.get("image_urls"))
    for url in image_urls:
        await check_image_url(url)
    callback_url = _callback_url(body.get("callback_url"))
    if callback_url is not None:
        await check_callback_url(callback_url)
    seed = _seed(body.get("seed"))
    return TaskRequest(
        prompt=prompt,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        duration=duration,
        generate_audio=generate_audio,
        fixed_lens=fixed_lens,
        seed=ids.new_seed() if seed is None else seed,
        image_url=image_urls[0] if image_urls else None,
        callback_url=callback_url,
    )


def parse_prompt(value: Any) -> str:
    """The prompt, stripped; the same rules in every dialect."""
    if value is None:
        raise errors.InvalidPrompt("prompt is required: a string of 1 to 2000 characters")
    if not isinstance(value, str):
        raise errors.InvalidPrompt("prompt must be a string of 1 to 2000 characters")
    if "\x00" in value:
        raise errors.InvalidPrompt("prompt must not contain NUL characters")
    prompt = value.strip()
    if not prompt:
        raise errors.InvalidPrompt("prompt must not be empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise errors.InvalidPrompt(
            f"prompt is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS}"
        )
    return prompt


def _choice(
    body: dict[str, Any],
    field: str,
    default: str,
    allowed: tuple[str, ...],
    error: type[errors.ApiError],
) -> str:
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise error(f"{field} must be one of {', '.join(allowed)}; got {_show(value)}")
    return value


def _duration(value: Any) -> int:
    if value is None:
        return 8
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and value in _DURATION_STRINGS:
        seconds = int(value)
    if seconds not in presets.DURATIONS:
        raise errors.InvalidDuration(
            f"duration must be 4, 8 or 12 (seconds, as a number or a string); got {_show(value)}"
        )
    return seconds


def _flag(body: dict[str, Any], field: str) -> bool:
    value = body.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise errors.InvalidRequest(f"{field} must be a JSON boolean (true or false)")
    return value


def _image_urls(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise errors.InvalidImageUrl("image_urls must be an array of URL strings")
    if len(value) > MAX_IMAGES:
        raise errors.TooManyImages(
            f"image_urls holds {len(value)} URLs; at most {MAX_IMAGES} is allowed"
        )
    if not all(isinstance(url, str) for url in value):
        raise errors.InvalidImageUrl("image_urls must be an array of URL strings")
    return tuple(value)


def _callback_url(value: Any) -> str | None:
    # An empty string is what many form-based clients send for "no webhook".
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise errors.InvalidCallbackUrl("callback_url must be a string holding an http(s) URL")
    return value


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise errors.InvalidRequest(f"seed must be an integer from 0 to {MAX_SEED}")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
