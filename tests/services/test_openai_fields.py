"""The fields of an OpenAI create, from JSON (SDK <= 2.26) or a form (SDK >= 2.27)."""

from __future__ import annotations

from typing import Any

import pytest

from opendance import errors
from opendance.services.multipart_form import FormBody, UploadedFile
from opendance.services.openai_fields import form_values, parse_create
from tests.support.media import png_bytes


def test_defaults_are_openai_s_four_seconds_720x1280_and_sora_2() -> None:
    fields = parse_create({"prompt": "  a fox  "})
    request = fields.request
    assert fields.model == "sora-2"
    assert (request.prompt, request.duration) == ("a fox", 4)
    assert (request.aspect_ratio, request.resolution) == ("9:16", "720p")
    assert request.output_size == (720, 1280) and request.delivered_size == (720, 1280)
    assert not request.generate_audio and not request.fixed_lens
    assert request.image_url is None and request.callback_url is None
    assert 0 <= request.seed < 2**32


def test_json_types_and_form_strings_mean_the_same() -> None:
    as_json = parse_create(
        {
            "prompt": "p",
            "model": "sora-2-pro",
            "seconds": 8,
            "size": "864x480",
            "generate_audio": True,
            "fixed_lens": False,
            "seed": 42,
            "callback_url": "https://example.com/hook",
        }
    )
    as_form = parse_create(
        {
            "prompt": "p",
            "model": "sora-2-pro",
            "seconds": "8",
            "size": "864x480",
            "generate_audio": "true",
            "fixed_lens": "false",
            "seed": "42",
            "callback_url": "https://example.com/hook",
        }
    )
    assert as_json == as_form
    assert as_json.model == "sora-2-pro"
    request = as_json.request
    assert (request.duration, request.seed, request.generate_audio) == (8, 42, True)
    assert (request.aspect_ratio, request.resolution, request.output_size) == ("16:9", "480p", None)
    assert request.callback_url == "https://example.com/hook"


def test_null_means_absent() -> None:
    fields = parse_create(
        {"prompt": "p", "model": None, "seconds": None, "size": None, "seed": None}
    )
    assert fields.model == "sora-2" and fields.request.duration == 4


@pytest.mark.parametrize(
    ("values", "param", "error"),
    [
        ({}, "prompt", errors.InvalidPrompt),
        ({"prompt": " "}, "prompt", errors.InvalidPrompt),
        ({"prompt": "p", "seconds": "5"}, "seconds", errors.InvalidDuration),
        ({"prompt": "p", "seconds": 4.0}, "seconds", errors.InvalidDuration),
        ({"prompt": "p", "seconds": True}, "seconds", errors.InvalidDuration),
        ({"prompt": "p", "size": "1792x1024"}, "size", errors.InvalidRequest),
        ({"prompt": "p", "size": [1280, 720]}, "size", errors.InvalidRequest),
        ({"prompt": "p", "model": 3}, "model", errors.InvalidRequest),
        ({"prompt": "p", "model": "m" * 201}, "model", errors.InvalidRequest),
        ({"prompt": "p", "generate_audio": "yes"}, "generate_audio", errors.InvalidRequest),
        ({"prompt": "p", "fixed_lens": 1}, "fixed_lens", errors.InvalidRequest),
        ({"prompt": "p", "seed": -1}, "seed", errors.InvalidRequest),
        ({"prompt": "p", "seed": "1e3"}, "seed", errors.InvalidRequest),
        ({"prompt": "p", "seed": 2**32}, "seed", errors.InvalidRequest),
        ({"prompt": "p", "callback_url": 7}, "callback_url", errors.InvalidCallbackUrl),
        ({"prompt": "p", "resolution": "720p"}, "resolution", errors.InvalidRequest),
        ({"prompt": "p", "input_reference": "x"}, "input_reference", errors.InvalidImageUrl),
        (
            {"prompt": "p", "input_reference": {"file_id": "file_1"}},
            "input_reference",
            errors.InvalidImageUrl,
        ),
        (
            {"prompt": "p", "input_reference": {"image_url": 5}},
            "input_reference",
            errors.InvalidImageUrl,
        ),
    ],
)
def test_a_bad_field_is_refused_naming_it(
    values: dict[str, Any], param: str, error: type[errors.ApiError]
) -> None:
    with pytest.raises(error) as caught:
        parse_create(values)
    assert caught.value.param == param


def test_an_uploaded_image_is_identified_by_its_bytes() -> None:
    upload = UploadedFile("photo.jpg", "image/jpeg", png_bytes((1, 2, 3)))
    fields = parse_create({"prompt": "p", "input_reference": upload})
    assert fields.upload is not None and fields.upload.mime == "image/png"
    assert fields.upload.data == upload.data


def test_an_upload_that_is_not_an_image_is_refused() -> None:
    upload = UploadedFile("a.png", "image/png", b"GIF89a....")
    with pytest.raises(errors.InvalidImageUrl, match="JPEG, PNG or WebP") as caught:
        parse_create({"prompt": "p", "input_reference": upload})
    assert caught.value.param == "input_reference"


def test_a_form_s_reference_object_and_file_become_the_json_fields() -> None:
    upload = UploadedFile("a.png", "image/png", b"x")
    form = FormBody({"prompt": "p", "input_reference[image_url]": "https://e.com/a.png"}, {})
    assert form_values(form) == {
        "prompt": "p",
        "input_reference": {"image_url": "https://e.com/a.png"},
    }
    assert form_values(FormBody({}, {"input_reference": upload})) == {"input_reference": upload}
    fields = parse_create(form_values(form))
    assert fields.image_url == "https://e.com/a.png" and fields.upload is None


@pytest.mark.parametrize(
    "form",
    [
        FormBody({}, {"video": UploadedFile("a.mp4", "video/mp4", b"x")}),
        FormBody(
            {"input_reference[image_url]": "https://e.com/a.png"},
            {"input_reference": UploadedFile("a.png", "image/png", b"x")},
        ),
    ],
)
def test_a_form_with_other_files_or_two_references_is_refused(form: FormBody) -> None:
    with pytest.raises(errors.InvalidRequest):
        form_values(form)
