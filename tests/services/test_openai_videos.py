"""A task as the OpenAI dialect's ``video`` object, as the SDK's own types read it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openai.types.video import Video
from openai.types.video_delete_response import VideoDeleteResponse

from opendance import errors
from opendance.domain.doors import Door
from opendance.domain.task_request import TaskRequest
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import TaskView
from opendance.services.openai_videos import (
    deleted_object,
    list_object,
    list_query,
    video_object,
)

CREATED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
FINISHED = CREATED + timedelta(seconds=30)


def _task(**changes: Any) -> TaskView:
    request = TaskRequest(
        prompt="a fox",
        aspect_ratio="16:9",
        resolution="720p",
        duration=8,
        generate_audio=False,
        fixed_lens=False,
        seed=7,
        output_size=(1280, 720),
    )
    task = TaskView(
        id="task_1",
        status=TaskState.SUCCEEDED,
        request=request,
        price=28,
        created_at=CREATED,
        updated_at=FINISHED,
        progress=100,
        video_key="videos/task_1-1.mp4",
        poster_key="posters/task_1-1.jpg",
        error_message=None,
        door=Door.OPENAI,
        client_model="sora-2-pro",
        remixed_from=None,
        sprite_key=None,
        last_frame_key=None,
        finished_at=FINISHED,
        expired_at=None,
    )
    return dataclasses.replace(task, **changes)


def test_a_completed_video_has_every_field_in_openai_s_order() -> None:
    body = video_object(_task(remixed_from="task_0"), retention_days=None)
    assert body == {
        "id": "task_1",
        "object": "video",
        "model": "sora-2-pro",
        "status": "completed",
        "progress": 100,
        "created_at": int(CREATED.timestamp()),
        "completed_at": int(FINISHED.timestamp()),
        "expires_at": None,
        "error": None,
        "prompt": "a fox",
        "seconds": "8",
        "size": "1280x720",
        "remixed_from_video_id": "task_0",
    }
    assert list(body)[:4] == ["id", "object", "model", "status"]  # as OpenAI's answers begin
    assert set(body) == set(Video.model_fields)  # every field the SDK knows, nothing else
    Video.model_validate(body)


@pytest.mark.parametrize(
    ("state", "progress", "status", "shown_progress"),
    [
        (TaskState.QUEUED, 0, "queued", 0),
        (TaskState.RUNNING, 37, "in_progress", 37),
        (TaskState.SUCCEEDED, 100, "completed", 100),
        (TaskState.FAILED, 40, "failed", 100),
        (TaskState.CANCELLED, 10, "failed", 100),
    ],
)
def test_statuses_map_onto_openai_s_four(
    state: TaskState, progress: int, status: str, shown_progress: int
) -> None:
    finished = FINISHED if state.terminal else None
    body = video_object(_task(status=state, progress=progress, finished_at=finished), None)
    assert (body["status"], body["progress"]) == (status, shown_progress)
    assert body["completed_at"] == (int(FINISHED.timestamp()) if finished else None)
    Video.model_validate(body)


def test_failed_and_cancelled_videos_carry_an_error() -> None:
    failed = video_object(_task(status=TaskState.FAILED, error_message="engine broke"), None)
    cancelled = video_object(_task(status=TaskState.CANCELLED, error_message="cancelled"), None)
    assert failed["error"] == {"code": "video_generation_failed", "message": "engine broke"}
    assert cancelled["error"] == {"code": "cancelled", "message": "cancelled"}
    assert Video.model_validate(cancelled).error is not None


def test_expiry_follows_the_retention_and_shows_when_files_went() -> None:
    assert video_object(_task(), 2)["expires_at"] == int((FINISHED + timedelta(days=2)).timestamp())
    went = FINISHED + timedelta(days=3)
    assert video_object(_task(expired_at=went), 2)["expires_at"] == int(went.timestamp())
    assert video_object(_task(status=TaskState.FAILED), 2)["expires_at"] is None


def test_a_task_from_another_door_reads_as_a_video_with_the_default_model() -> None:
    seedance = _task(
        door=Door.SEEDANCE,
        client_model=None,
        request=dataclasses.replace(_task().request, output_size=None),
    )
    body = video_object(seedance, None)
    assert (body["model"], body["size"]) == ("sora-2", "1248x704")


def test_a_list_names_its_first_and_last_ids() -> None:
    body = list_object([_task(id="a"), _task(id="b")], has_more=True, retention_days=None)
    assert (body["object"], body["first_id"], body["last_id"], body["has_more"]) == (
        "list",
        "a",
        "b",
        True,
    )
    empty = list_object([], has_more=False, retention_days=None)
    assert (empty["data"], empty["first_id"], empty["last_id"]) == ([], None, None)


def test_the_deleted_object_is_what_the_sdk_expects() -> None:
    parsed = VideoDeleteResponse.model_validate(deleted_object("task_1"))
    assert (parsed.id, parsed.deleted, parsed.object) == ("task_1", True, "video.deleted")


def test_list_queries_default_to_twenty_newest_first() -> None:
    query = list_query({})
    assert (query.after, query.limit, query.newest_first) == (None, 20, True)
    query = list_query({"after": "task_9", "limit": "100", "order": "asc"})
    assert (query.after, query.limit, query.newest_first) == ("task_9", 100, False)


@pytest.mark.parametrize(
    ("params", "param"),
    [({"order": "up"}, "order"), ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit")],
)
def test_bad_list_queries_name_the_parameter(params: dict[str, str], param: str) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        list_query(params)
    assert caught.value.param == param
