"""The Ark door's pure parts: prompt flags, the create body, the task object, the list query."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from volcenginesdkarkruntime import Ark

from opendance.domain.doors import Door
from opendance.domain.task_request import TaskRequest
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import TaskView
from opendance.services.ark_errors import ArkMissingParameter, ArkParameterError
from opendance.services.ark_flags import parse_flags
from opendance.services.ark_objects import DEFAULT_MODEL, task_object
from opendance.services.ark_params import parse_create
from opendance.services.ark_tasks import parse_list_query
from opendance.storage.local import LocalObjectStore


def _sdk_create_body() -> dict[str, Any]:
    """The body Ark's SDK sends for a create that gives only model and content, caught on its
    way out (the installed SDK's own, so a newer one with more parameters is covered too)."""
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"id": "task_x"})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    ark = Ark(base_url="http://ark.test/api/v3", api_key="k", http_client=client)
    ark.content_generation.tasks.create(model="m", content=[{"type": "text", "text": "t"}])
    return sent[0]


# Every parameter but model and content, as the explicit null the SDK sends.
SDK_NULLS = {k: v for k, v in _sdk_create_body().items() if k not in ("model", "content")}


def body(prompt: str = "a red kite over green hills", **fields: Any) -> dict[str, Any]:
    return {
        **SDK_NULLS,
        "model": "seedance-1-0-pro",
        "content": [{"type": "text", "text": prompt}],
        **fields,
    }


def refused(given: dict[str, Any]) -> ArkParameterError:
    with pytest.raises(ArkParameterError) as caught:
        parse_create(given)
    return caught.value


# --- flags -------------------------------------------------------------------------------


def test_flags_are_read_and_cut_out_of_the_prompt() -> None:
    cut = parse_flags(
        "a cat --rs 480p on a roof --rt 9:16 --dur 8 --seed 7 --cf true --fps 24 --wm false"
    )
    assert cut.prompt == "a cat on a roof"
    assert {name: flag.value for name, flag in cut.flags.items()} == {
        "resolution": "480p",
        "ratio": "9:16",
        "duration": "8",
        "seed": "7",
        "camera_fixed": "true",
        "framespersecond": "24",
        "watermark": "false",
    }


def test_long_flag_names_and_the_last_repeat_win() -> None:
    cut = parse_flags(
        "--resolution 720p --ratio 1:1 a dog --duration 4 --camerafixed false "
        "--framespersecond 24 --watermark true --resolution 480p"
    )
    assert cut.prompt == "a dog"
    assert cut.flags["resolution"].value == "480p"
    assert cut.flags["resolution"].spelling == "resolution"
    assert cut.flags["camera_fixed"].value == "false"


def test_other_dashes_stay_in_the_prompt() -> None:
    # not a flag of Ark's, a flag without a value, and a word that merely contains "--"
    cut = parse_flags("a well--lit room --style noir --cf")
    assert cut.prompt == "a well--lit room --style noir --cf"
    assert cut.flags == {}


# --- create body -------------------------------------------------------------------------


def test_explicit_nulls_mean_absent_and_give_the_defaults() -> None:
    assert len(SDK_NULLS) >= 15 and set(SDK_NULLS.values()) == {None}
    asked = parse_create(body())
    assert (asked.resolution, asked.ratio, asked.duration) == ("720p", "16:9", 4)
    assert asked.seed is None  # a random one
    assert not asked.generate_audio and not asked.camera_fixed and not asked.return_last_frame
    assert asked.first_frame is None and asked.callback_url is None
    assert asked.model == "seedance-1-0-pro" and asked.prompt == "a red kite over green hills"


def test_the_flags_set_what_the_body_leaves_out() -> None:
    asked = parse_create(body("a kite --rs 480p --rt 21:9 --dur 12 --seed 99 --cf true"))
    assert asked.prompt == "a kite"
    assert (asked.resolution, asked.ratio, asked.duration, asked.seed) == ("480p", "21:9", 12, 99)
    assert asked.camera_fixed


def test_a_top_level_field_wins_over_its_flag() -> None:
    asked = parse_create(
        body(
            "a kite --rs 1080p --dur 5 --cf maybe",
            resolution="480p",
            duration=8,
            camera_fixed=False,
        )
    )
    # the flags' values would be refused; the fields overrule them, so they are never read
    assert (asked.resolution, asked.duration, asked.camera_fixed) == ("480p", 8, False)
    assert asked.prompt == "a kite"


def test_seed_minus_one_is_random_as_in_ark() -> None:
    assert parse_create(body(seed=-1)).seed is None
    assert parse_create(body(seed=0)).seed == 0
    assert refused(body(seed=-2)).param == "seed"
    assert refused(body(seed=2**32)).param == "seed"


def test_adaptive_without_an_image_is_sixteen_by_nine() -> None:
    assert parse_create(body(ratio="adaptive")).ratio == "16:9"
    with_image = body(ratio="adaptive")
    with_image["content"].append(
        {
            "type": "image_url",
            "image_url": {"url": "https://example.com/a.png"},
            "role": "first_frame",
        }
    )
    assert parse_create(with_image).ratio == "adaptive"  # resolved when the image is read


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"resolution": "1080p"}, "resolution"),
        ({"ratio": "keep_ratio"}, "ratio"),
        ({"duration": 5}, "duration"),
        ({"frames": 121}, "frames"),
        ({"draft": True}, "draft"),
        ({"service_tier": "flex"}, "service_tier"),
        ({"execution_expires_after": 3600}, "execution_expires_after"),
        ({"priority": 1}, "priority"),
        ({"tools": [{"type": "web_search"}]}, "tools"),
        ({"output_format": "webm"}, "output_format"),
        ({"omni_reference_task_type": "x"}, "omni_reference_task_type"),
        ({"fixed_lens": True}, "fixed_lens"),  # a Seedance name, not Ark's
        ({"generate_audio": "yes"}, "generate_audio"),
        ({"callback_url": 7}, "callback_url"),
    ],
)
def test_parameters_not_offered_are_refused_by_name(fields: dict[str, Any], param: str) -> None:
    error = refused(body(**fields))
    assert error.param == param and error.ark_code == "InvalidParameter"
    assert param in error.message


@pytest.mark.parametrize(
    ("prompt", "param"),
    [
        ("a kite --rs 1080p", "resolution"),
        ("a kite --rt 2:1", "ratio"),
        ("a kite --dur 5", "duration"),
        ("a kite --seed many", "seed"),
        ("a kite --cf yes", "camera_fixed"),
        ("a kite --fps 30", "framespersecond"),
        ("a kite --wm 1", "watermark"),
    ],
)
def test_a_bad_flag_is_refused_naming_its_parameter_and_the_flag(prompt: str, param: str) -> None:
    error = refused(body(prompt))
    assert error.param == param
    assert "--" in error.message and "in the content text" in error.message


def test_the_defaults_of_the_offered_values_are_accepted() -> None:
    asked = parse_create(
        body(
            service_tier="default",
            draft=False,
            tools=[],
            output_format="mp4",
            watermark=True,
            safety_identifier="user-1",
            framespersecond=24,
        )
    )
    assert asked.resolution == "720p"


def test_model_and_content_are_required() -> None:
    missing = body()
    missing["model"] = None
    with pytest.raises(ArkMissingParameter) as caught:
        parse_create(missing)
    assert caught.value.param == "model" and caught.value.ark_code == "MissingParameter"
    with pytest.raises(ArkMissingParameter) as caught:
        parse_create({**body(), "content": None})
    assert caught.value.param == "content"
    with pytest.raises(ArkMissingParameter):
        parse_create(
            {**body(), "content": [{"type": "image_url", "image_url": {"url": "https://e.x/a"}}]}
        )


@pytest.mark.parametrize(
    ("item", "param", "named"),
    [
        (
            {"type": "image_url", "image_url": {"url": "https://e.x/a.png"}, "role": "last_frame"},
            "content[1].role",
            "last_frame",
        ),
        (
            {
                "type": "image_url",
                "image_url": {"url": "https://e.x/a.png"},
                "role": "reference_image",
            },
            "content[1].role",
            "reference_image",
        ),
        (
            {"type": "video_url", "video_url": {"url": "https://e.x/a.mp4"}, "role": "reference"},
            "content[1].type",
            "video_url",
        ),
        (
            {"type": "audio_url", "audio_url": {"url": "https://e.x/a.mp3"}},
            "content[1].type",
            "audio_url",
        ),
        ({"type": "draft_task", "draft_task": {"id": "cgt-1"}}, "content[1].type", "draft_task"),
        ({"type": "image_url", "image_url": {}}, "content[1].image_url.url", "image_url"),
        ({"type": "text", "text": "another"}, "content[1]", "second text"),
    ],
)
def test_content_takes_one_text_and_one_first_frame(
    item: dict[str, Any], param: str, named: str
) -> None:
    given = body()
    given["content"].append(item)
    error = refused(given)
    assert error.param == param and named in error.message


def test_a_second_image_is_refused() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://e.x/a.png"}, "role": "first_frame"}
    given = body()
    given["content"] += [image, image]
    assert refused(given).param == "content[2]"


def test_an_image_without_a_role_is_the_first_frame() -> None:
    given = body()
    given["content"].append({"type": "image_url", "image_url": {"url": "https://e.x/a.png"}})
    assert parse_create(given).first_frame == "https://e.x/a.png"


def test_the_prompt_rules_apply_to_the_text_once_flags_are_cut() -> None:
    error = refused(body("--rs 480p --dur 4"))
    assert error.param == "content[0].text" and "empty" in error.message
    assert "flags" in error.message
    assert refused(body("x" * 2001)).param == "content[0].text"


# --- task object -------------------------------------------------------------------------


def _store(tmp_path: Path) -> SimpleNamespace:
    store = LocalObjectStore(tmp_path, public_base_url="http://od.test", secret=b"s" * 32)
    return SimpleNamespace(store=store)


def _view(**changes: Any) -> TaskView:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    request = TaskRequest(
        prompt="a kite",
        aspect_ratio="16:9",
        resolution="480p",
        duration=4,
        generate_audio=False,
        fixed_lens=True,
        seed=42,
        return_last_frame=True,
    )
    view = TaskView(
        id="task_1",
        status=TaskState.SUCCEEDED,
        request=request,
        price=8,
        created_at=moment,
        updated_at=moment,
        progress=100,
        video_key="videos/task_1.mp4",
        poster_key=None,
        error_message=None,
        door=Door.ARK,
        client_model="my-model",
        remixed_from=None,
        sprite_key=None,
        last_frame_key="frames/task_1.png",
        finished_at=moment,
        expired_at=None,
    )
    return dataclasses.replace(view, **changes)


def test_a_succeeded_task_object_has_ark_fields_and_usage(tmp_path: Path) -> None:
    shown = task_object(_store(tmp_path), _view())  # type: ignore[arg-type]
    assert shown["content"]["video_url"].startswith("http://od.test/files/videos/task_1.mp4?sig=")
    assert shown["content"]["last_frame_url"].startswith("http://od.test/files/frames/task_1.png")
    assert shown["usage"] == {
        "completion_tokens": 864 * 480 * 96 // 1024,
        "total_tokens": 864 * 480 * 96 // 1024,
    }
    assert shown["created_at"] == int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())
    assert {
        k: shown[k]
        for k in (
            "id",
            "model",
            "status",
            "error",
            "seed",
            "resolution",
            "ratio",
            "duration",
            "framespersecond",
            "generate_audio",
            "camera_fixed",
        )
    } == {
        "id": "task_1",
        "model": "my-model",
        "status": "succeeded",
        "error": None,
        "seed": 42,
        "resolution": "480p",
        "ratio": "16:9",
        "duration": 4,
        "framespersecond": 24,
        "generate_audio": False,
        "camera_fixed": True,
    }


def test_the_last_frame_shows_only_when_asked_and_made(tmp_path: Path) -> None:
    ctx = _store(tmp_path)
    assert "last_frame_url" not in task_object(ctx, _view(last_frame_key=None))["content"]  # type: ignore[arg-type]
    unasked = _view(request=dataclasses.replace(_view().request, return_last_frame=False))
    assert "last_frame_url" not in task_object(ctx, unasked)["content"]  # type: ignore[arg-type]


def test_unfinished_failed_cancelled_and_expired_task_objects(tmp_path: Path) -> None:
    ctx = _store(tmp_path)
    queued = task_object(ctx, _view(status=TaskState.QUEUED, video_key=None))  # type: ignore[arg-type]
    assert (queued["status"], queued["content"], queued["usage"], queued["error"]) == (
        "queued",
        None,
        None,
        None,
    )
    failed = task_object(  # type: ignore[arg-type]
        ctx,
        _view(
            status=TaskState.FAILED,
            video_key=None,
            error_message="image_urls[0]: the image is not a readable PNG",
        ),
    )
    assert failed["error"] == {
        "code": "InvalidParameter",
        "message": "the first_frame image_url: the image is not a readable PNG",
    }
    crashed = task_object(  # type: ignore[arg-type]
        ctx, _view(status=TaskState.FAILED, video_key=None, error_message="internal error")
    )
    assert crashed["error"]["code"] == "InternalServiceError"
    cancelled = task_object(ctx, _view(status=TaskState.CANCELLED, video_key=None))  # type: ignore[arg-type]
    assert cancelled["status"] == "cancelled" and cancelled["error"] is None
    expired = task_object(  # type: ignore[arg-type]
        ctx, _view(video_key=None, last_frame_key=None, expired_at=datetime.now(UTC))
    )
    assert expired["status"] == "expired" and expired["content"] is None
    assert expired["usage"] is not None  # the video was delivered before it expired


def test_a_task_from_another_door_shows_the_default_model(tmp_path: Path) -> None:
    shown = task_object(_store(tmp_path), _view(client_model=None, door=Door.SEEDANCE))  # type: ignore[arg-type]
    assert shown["model"] == DEFAULT_MODEL


# --- list query --------------------------------------------------------------------------


def test_the_list_query_reads_pages_and_filters() -> None:
    query = parse_list_query(
        {"page_num": "3", "page_size": "7", "filter.status": "succeeded", "filter.model": "m"},
        ["task_a", "task_b"],
    )
    assert (query.page_num, query.page_size, query.offset) == (3, 7, 14)
    assert query.which.statuses == frozenset({TaskState.SUCCEEDED})
    assert query.which.expired is False
    assert query.which.task_ids == ("task_a", "task_b") and query.which.client_model == "m"
    assert parse_list_query({"filter.status": "expired"}, []).which.expired is True
    assert parse_list_query({}, []).page_size == 10


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"page_num": "0"}, "page_num"),
        ({"page_num": "9" * 30}, "page_num"),
        ({"page_size": "501"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"filter.status": "done"}, "filter.status"),
    ],
)
def test_a_bad_list_query_names_its_parameter(params: dict[str, str], param: str) -> None:
    with pytest.raises(ArkParameterError) as caught:
        parse_list_query(params, [])
    assert caught.value.param == param
