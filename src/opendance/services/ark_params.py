"""The body of an Ark create (``POST /api/v3/contents/generations/tasks``) read into plain values.

Pure: no I/O. What needs the network or the image's bytes (the first frame's URL, an inline
image's size for ``ratio: adaptive``, the callback URL's addresses) is checked afterwards by
``ark_create``.

Ark's SDK sends every parameter of its ``create`` signature, ``null`` when the caller did not
give it, so null always means absent. A parameter this server does not offer is refused by name
when it carries a value, never ignored: a client that asks for 1080p or 121 frames must learn
that it will not get them before anything is charged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from opendance import errors
from opendance.domain import presets
from opendance.services.ark_errors import ArkMissingParameter, ArkParameterError
from opendance.services.ark_flags import MAX_TEXT_CHARS, Flag, parse_flags
from opendance.services.validation import MAX_SEED, check_prompt

DEFAULT_RESOLUTION: Final = "720p"
DEFAULT_RATIO: Final = "16:9"
DEFAULT_DURATION: Final = 4
"""Ark's own default is 5 s; 4 is the offered duration nearest it."""
RANDOM_SEED: Final = -1
"""Ark's way of asking for a random seed (also its default)."""
MAX_MODEL_CHARS: Final = 200  # the column's size
FIRST_FRAME: Final = "first_frame"
OFFERED_SERVICE_TIER: Final = "default"
OFFERED_OUTPUT_FORMAT: Final = "mp4"

# The parameters of the SDK's ``content_generation.tasks.create`` that this server takes.
_TAKEN: Final = frozenset(
    {
        "model",
        "content",
        "callback_url",
        "return_last_frame",
        "generate_audio",
        "camera_fixed",
        "watermark",
        "seed",
        "resolution",
        "ratio",
        "duration",
        "safety_identifier",  # Ark's end-user id for abuse reports: accepted, not stored
        "service_tier",  # only its default
        "draft",  # only false
        "tools",  # only none
        "output_format",  # only mp4
        "framespersecond",  # only 24 (Ark takes it as a text flag; some clients send it here)
    }
)
# The SDK's other parameters: with a value they ask for what no engine here does.
_NOT_OFFERED: Final = {
    "frames": "frames is not offered: send duration (4, 8 or 12 seconds, 24 frames a second)",
    "execution_expires_after": (
        "execution_expires_after is not offered: a queued task waits until a worker takes it "
        "(delete a queued task to cancel it)"
    ),
    "priority": "priority is not offered: tasks run in the order they were created",
    "omni_reference_task_type": (
        "omni_reference_task_type is not offered: the one reference this server takes is a "
        "first_frame image"
    ),
}


@dataclass(frozen=True)
class ArkCreate:
    """What an Ark create asks for, checked except for what needs I/O."""

    model: str
    prompt: str
    first_frame: str | None
    """The first frame's URL as sent: http(s) or ``data:``."""
    resolution: str
    ratio: str
    """An offered aspect ratio, or ``adaptive`` with a first frame (16:9 without one)."""
    duration: int
    seed: int | None
    """None: a random one."""
    camera_fixed: bool
    generate_audio: bool
    return_last_frame: bool
    callback_url: str | None


def parse_create(body: Any) -> ArkCreate:
    """Raise ``ArkParameterError`` (or ``errors.InvalidRequest`` for a body that is no object)
    naming the first parameter at fault."""
    if not isinstance(body, dict):
        raise errors.InvalidRequest("the request body must be a JSON object")
    model = _model(body.get("model"))
    text_param, text, first_frame = _content(body.get("content"))
    _refuse_not_offered(body)
    if len(text) > MAX_TEXT_CHARS:
        raise ArkParameterError(
            text_param, f"{text_param} is longer than {MAX_TEXT_CHARS} characters"
        )
    cut = parse_flags(text)
    given = _Given(body, cut.flags)
    prompt = _prompt(text_param, cut.prompt, flagged=bool(cut.flags))
    resolution = given.choice("resolution", presets.RESOLUTIONS, DEFAULT_RESOLUTION)
    ratio = given.choice("ratio", (*presets.ASPECT_RATIOS, presets.ADAPTIVE), DEFAULT_RATIO)
    if ratio == presets.ADAPTIVE and first_frame is None:
        ratio = DEFAULT_RATIO  # adaptive to no image: Ark's own default ratio
    duration = given.duration()
    seed = given.seed()
    camera_fixed = given.boolean("camera_fixed")
    given.boolean("watermark")  # accepted and never applied: nothing made here is watermarked
    given.frames_per_second()
    _safety_identifier(body.get("safety_identifier"))
    return ArkCreate(
        model=model,
        prompt=prompt,
        first_frame=first_frame,
        resolution=resolution,
        ratio=ratio,
        duration=duration,
        seed=seed,
        camera_fixed=camera_fixed,
        generate_audio=given.boolean("generate_audio"),
        return_last_frame=given.boolean("return_last_frame"),
        callback_url=_callback_url(body.get("callback_url")),
    )


def _model(value: Any) -> str:
    if value is None:
        raise ArkMissingParameter("model", "model is required: the name of the model to use")
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_MODEL_CHARS
        or not value.isprintable()
    ):
        raise ArkParameterError(
            "model",
            f"model must be a non-empty string of at most {MAX_MODEL_CHARS} printable characters",
        )
    return value


def _content(value: Any) -> tuple[str, str, str | None]:
    """(the text item's path, its text, the first frame's URL or None)."""
    usage = (
        'content must be a list of one {"type": "text", "text": ...} item and at most one '
        '{"type": "image_url", "image_url": {"url": ...}, "role": "first_frame"} item'
    )
    if value is None:
        raise ArkMissingParameter("content", "content is required: " + usage)
    if not isinstance(value, list) or not value:
        raise ArkParameterError("content", usage)
    text: tuple[str, str] | None = None
    image: str | None = None
    for index, item in enumerate(value):
        where = f"content[{index}]"
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text":
            if text is not None:
                raise ArkParameterError(where, f"{where}: a second text item; send one prompt")
            text = (f"{where}.text", _text(item.get("text"), f"{where}.text"))
        elif kind == "image_url":
            if image is not None:
                raise ArkParameterError(
                    where, f"{where}: a second image; this server takes one first_frame image"
                )
            image = _first_frame(item, where)
        elif isinstance(kind, str):
            raise ArkParameterError(
                f"{where}.type",
                f"{where}: type {_show(kind)} is not offered; content holds text and at most "
                "one image_url with role first_frame",
            )
        else:
            raise ArkParameterError(where, f"{where}: {usage}")
    if text is None:
        raise ArkMissingParameter("content", "content has no text item: the prompt is required")
    return text[0], text[1], image


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ArkParameterError(where, f"{where} must be a string: the prompt")
    return value


def _first_frame(item: dict[str, Any], where: str) -> str:
    role = item.get("role")
    if role is not None and role != FIRST_FRAME:
        raise ArkParameterError(
            f"{where}.role",
            f"{where}: role {_show(role)} is not offered; the one image this server takes is "
            "the first_frame",
        )
    image_url = item.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str) or not url:
        raise ArkParameterError(
            f"{where}.image_url.url",
            f'{where}: image_url must be {{"url": ...}} with an http(s) or data:image URL',
        )
    return url


def _refuse_not_offered(body: dict[str, Any]) -> None:
    for name, value in body.items():
        if value is None or name in _TAKEN:
            continue
        raise ArkParameterError(
            name, _NOT_OFFERED.get(name, f"{name} is not a parameter this server offers")
        )
    if body.get("draft") not in (None, False):
        raise ArkParameterError("draft", "draft is not offered: every task makes the final video")
    tier = body.get("service_tier")
    if tier is not None and tier != OFFERED_SERVICE_TIER:
        raise ArkParameterError(
            "service_tier", f"service_tier {_show(tier)} is not offered; send 'default' or nothing"
        )
    if body.get("tools") not in (None, []):
        raise ArkParameterError("tools", "tools are not offered: send none")
    output_format = body.get("output_format")
    if output_format is not None and output_format != OFFERED_OUTPUT_FORMAT:
        raise ArkParameterError(
            "output_format",
            f"output_format {_show(output_format)} is not offered; videos are mp4",
        )


def _prompt(where: str, text: str, *, flagged: bool) -> str:
    try:
        return check_prompt(text)
    except errors.InvalidPrompt as exc:
        cut = " once its --flags are cut out" if flagged else ""
        raise ArkParameterError(where, f"{where}{cut}: {exc.message}") from None


class _Given:
    """Each parameter as the request gives it: its top-level field, else its flag in the text."""

    def __init__(self, body: Mapping[str, Any], flags: Mapping[str, Flag]) -> None:
        self.body = body
        self.flags = flags

    def pick(self, name: str) -> tuple[Any, str] | None:
        """(the value, where it came from for messages), or None when not given."""
        value = self.body.get(name)
        if value is not None:
            return value, name
        flag = self.flags.get(name)
        return (flag.value, flag.source) if flag is not None else None

    def choice(self, name: str, offered: tuple[str, ...], default: str) -> str:
        given = self.pick(name)
        if given is None:
            return default
        value, source = given
        if not isinstance(value, str) or value not in offered:
            raise ArkParameterError(
                name, f"{source}: {_show(value)} is not offered; send one of {', '.join(offered)}"
            )
        return value

    def duration(self) -> int:
        given = self.pick("duration")
        if given is None:
            return DEFAULT_DURATION
        seconds = _integer(given[0])
        if seconds not in presets.DURATIONS:
            offered = ", ".join(str(s) for s in presets.DURATIONS)
            raise ArkParameterError(
                "duration",
                f"{given[1]}: {_show(given[0])} is not offered; send one of {offered} (seconds)",
            )
        return seconds

    def seed(self) -> int | None:
        given = self.pick("seed")
        if given is None:
            return None
        seed = _integer(given[0])
        if seed is None or not RANDOM_SEED <= seed <= MAX_SEED:
            raise ArkParameterError(
                "seed", f"{given[1]} must be an integer from -1 (random) to {MAX_SEED}"
            )
        return None if seed == RANDOM_SEED else seed

    def boolean(self, name: str) -> bool:
        given = self.pick(name)
        if given is None:
            return False
        value, source = given
        if isinstance(value, bool):
            return value
        # a flag's value is a word of the text
        if source != name and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ArkParameterError(name, f"{source} must be true or false")

    def frames_per_second(self) -> None:
        given = self.pick("framespersecond")
        if given is not None and _integer(given[0]) != presets.FPS:
            raise ArkParameterError(
                "framespersecond",
                f"{given[1]}: {_show(given[0])} is not offered; videos have {presets.FPS} "
                "frames a second",
            )


def _integer(value: Any) -> int | None:
    """An integer, from JSON or from a word of the text; None if it is none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.removeprefix("-").isascii():
        digits = value.removeprefix("-")
        if digits.isdigit() and len(digits) <= 20:
            return int(value)
    return None


def _callback_url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ArkParameterError("callback_url", "callback_url must be an http(s) URL string")
    return value


def _safety_identifier(value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise ArkParameterError("safety_identifier", "safety_identifier must be a string")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
