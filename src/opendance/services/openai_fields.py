"""The fields of ``POST /v1/videos``, from a JSON body or a form, checked and typed.

The SDK sent JSON up to 2.26 and always sends ``multipart/form-data`` since 2.27, where every
value is a string (``"true"``, ``"8"``); ``extra_body`` fields arrive the same way. So each
field takes its JSON type or its form spelling, in either body. A field sent as null counts as
absent. An unknown field is refused, as OpenAI does: a misspelt option must not be dropped
silently and charged for. Errors name the field (``param``) in OpenAI's terms.

``input_reference`` (the first frame) is an uploaded file, or OpenAI's reference object
``{"image_url": ...}`` (in a form: ``input_reference[image_url]``) holding an http(s) URL or a
``data:image/...;base64,`` URL, as ``image_urls`` does in the Seedance dialect.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opendance import errors
from opendance.domain import ids, presets
from opendance.domain.output_sizes import (
    SizeChoice,
    choose_preset,
    parse_size,
    supported_sizes,
)
from opendance.domain.task_request import TaskRequest
from opendance.media.images import sniff_format
from opendance.net.data_urls import DataImage
from opendance.net.limits import MAX_IMAGE_BYTES, format_size
from opendance.services.multipart_form import FormBody, UploadedFile
from opendance.services.openai_videos import DEFAULT_MODEL
from opendance.services.validation import MAX_SEED, check_prompt

DEFAULT_SECONDS: Final = "4"
DEFAULT_SIZE: Final = "720x1280"
MAX_MODEL_CHARS: Final = 200  # the column that records it
FIELDS: Final = frozenset(
    {
        "prompt",
        "model",
        "seconds",
        "size",
        "input_reference",
        "generate_audio",
        "fixed_lens",
        "seed",
        "callback_url",
    }
)
_REFERENCE_KEYS: Final = frozenset({"image_url", "file_id"})
_MIME: Final = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_SECONDS: Final = {str(seconds): seconds for seconds in presets.DURATIONS}


@dataclass(frozen=True)
class VideoFields:
    """A checked create: the request (no image yet), the model to echo, the first frame."""

    request: TaskRequest
    model: str
    upload: DataImage | None = None
    image_url: str | None = None
    """An http(s) or data: URL still to be checked like the Seedance door's ``image_urls``."""


def known_fields_prompt(values: Mapping[str, Any], known: Collection[str]) -> str:
    """The prompt of a body that has only ``known`` fields (OpenAI refuses any other, naming
    it), checked as in every door."""
    unknown = sorted(name for name in values if name not in known)
    if unknown:
        raise errors.InvalidRequest(f"Unknown parameter: {unknown[0]!r}.", param=unknown[0])
    try:
        return check_prompt(values.get("prompt"))
    except errors.InvalidPrompt as exc:
        raise errors.InvalidPrompt(exc.message, param="prompt") from None


def form_values(form: FormBody) -> dict[str, Any]:
    """A form's fields as the JSON body they stand for: ``input_reference[image_url]`` becomes
    ``{"input_reference": {"image_url": ...}}``, an uploaded file stays an ``UploadedFile``."""
    values: dict[str, Any] = {}
    reference: dict[str, str] = {}
    for name, value in form.fields.items():
        if name.startswith("input_reference[") and name.endswith("]"):
            reference[name[len("input_reference[") : -1]] = value
        else:
            values[name] = value
    for name, upload in form.files.items():
        if name != "input_reference":
            raise errors.InvalidRequest(
                f"unexpected file {name!r}: the only file a create takes is input_reference",
                param=name,
            )
        values[name] = upload
    if reference:
        if "input_reference" in values:
            raise errors.InvalidRequest(
                "send input_reference as a file or as a reference, not both",
                param="input_reference",
            )
        values["input_reference"] = reference
    return values


def parse_create(values: Mapping[str, Any]) -> VideoFields:
    """The fields of a create (a JSON object, or ``form_values`` of a form), checked one by
    one in a fixed order, so that the first problem is always the one reported."""
    prompt = known_fields_prompt(values, FIELDS)
    model = _model(values.get("model"))
    seconds = _seconds(values.get("seconds"))
    choice = _size(values.get("size"))
    upload, image_url = _reference(values.get("input_reference"))
    seed = _seed(values.get("seed"))
    request = TaskRequest(
        prompt=prompt,
        aspect_ratio=choice.aspect_ratio,
        resolution=choice.resolution,
        duration=seconds,
        generate_audio=flag(values, "generate_audio"),
        fixed_lens=flag(values, "fixed_lens"),
        seed=ids.new_seed() if seed is None else seed,
        callback_url=_callback_url(values.get("callback_url")),
        output_size=choice.output_size,
    )
    return VideoFields(request, model, upload, image_url)


def _model(value: Any) -> str:
    if value is None or value == "":
        return DEFAULT_MODEL
    if not isinstance(value, str) or len(value) > MAX_MODEL_CHARS or not value.isprintable():
        raise errors.InvalidRequest(
            f"model must be a string of up to {MAX_MODEL_CHARS} printable characters",
            param="model",
        )
    return value


def _seconds(value: Any) -> int:
    if value is None:
        value = DEFAULT_SECONDS
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or value not in _SECONDS:
        raise errors.InvalidDuration(
            f"Invalid value: {_show(value)}. Supported values are: '4', '8', and '12'.",
            param="seconds",
        )
    return _SECONDS[value]


def _size(value: Any) -> SizeChoice:
    text = DEFAULT_SIZE if value is None else value
    parsed = parse_size(text) if isinstance(text, str) else None
    choice = choose_preset(*parsed) if parsed is not None else None
    if choice is None:
        raise errors.InvalidRequest(
            f"Invalid value: {_show(value)}. size must be WIDTHxHEIGHT near an offered frame; "
            f"supported sizes include {', '.join(supported_sizes())}.",
            param="size",
        )
    return choice


def _reference(value: Any) -> tuple[DataImage | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, UploadedFile):
        return upload_image(value), None
    if not isinstance(value, dict) or not value or not set(value) <= _REFERENCE_KEYS:
        raise errors.InvalidImageUrl(
            "input_reference must be an uploaded image file or an object "
            '{"image_url": "https://... or data:image/...;base64,..."}',
            param="input_reference",
        )
    if "file_id" in value:
        raise errors.InvalidImageUrl(
            "input_reference.file_id is not supported (there is no Files API here); upload "
            "the image as input_reference, or send input_reference.image_url",
            param="input_reference",
        )
    url = value["image_url"]
    if not isinstance(url, str) or not url:
        raise errors.InvalidImageUrl(
            "input_reference.image_url must be an http(s) URL or a data:image/...;base64, URL",
            param="input_reference",
        )
    return None, url


def upload_image(upload: UploadedFile) -> DataImage:
    """An uploaded first frame, identified by its bytes as the Seedance door identifies an
    inline image (the part's Content-Type and file name are the client's guess)."""
    if len(upload.data) > MAX_IMAGE_BYTES:
        raise errors.InvalidImageUrl(
            f"input_reference is larger than {format_size(MAX_IMAGE_BYTES)}",
            param="input_reference",
        )
    image_format = sniff_format(upload.data)
    if image_format is None:
        raise errors.InvalidImageUrl(
            "input_reference must be a JPEG, PNG or WebP image", param="input_reference"
        )
    return DataImage(mime=_MIME[image_format], data=upload.data)


def flag(values: Mapping[str, Any], name: str) -> bool:
    """A boolean: JSON's, or a form's ``"true"``/``"false"``; absent or null is false."""
    value = values.get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise errors.InvalidRequest(f"{name} must be true or false", param=name)


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise errors.InvalidRequest(f"seed must be an integer from 0 to {MAX_SEED}", param="seed")
    return value


def _callback_url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise errors.InvalidCallbackUrl(
            "callback_url must be a string holding an http(s) URL", param="callback_url"
        )
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
