"""The OpenAI Videos door's use cases: create, remix, delete, and the files of a video. Each one
checks what the dialect asks of it and hands over to the task service, so a video is priced,
charged, queued and refunded exactly as a task from any other door."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from opendance import errors
from opendance.domain.accounts import KeyOwner
from opendance.domain.doors import Door
from opendance.domain.task_request import TaskRequest, inline_image_stand_in
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import TaskView
from opendance.media.poster import first_frame_png
from opendance.net.data_urls import DataImage, is_data_url, parse_data_image_url
from opendance.net.errors import UrlRejected
from opendance.net.urls import parse_http_url
from opendance.services import tasks
from opendance.services.context import AppContext
from opendance.services.openai_fields import VideoFields, known_fields_prompt, parse_create
from opendance.services.openai_videos import DEFAULT_MODEL
from opendance.services.submit import check_callback
from opendance.storage.base import ObjectNotFound, ObjectReader

VARIANTS: Final = ("video", "thumbnail", "spritesheet")
_DEFAULT_MEDIA_TYPES: Final = {
    "video": "video/mp4",
    "thumbnail": "image/jpeg",
    "spritesheet": "image/jpeg",
}


async def create_video(
    ctx: AppContext,
    owner: KeyOwner,
    values: Mapping[str, Any],
    *,
    idempotency: tasks.IdempotencyKey | None = None,
) -> TaskView:
    """Create a video from a create's fields; the video as its create answers it (the same
    again for a repeat with the same Idempotency-Key). Raises an ``ApiError``."""
    if (earlier := await tasks.replay(ctx, owner, idempotency)) is not None:
        return await tasks.as_created(ctx, owner.account_id, earlier)
    fields = parse_create(values)
    if fields.image_url is not None and is_data_url(fields.image_url):
        # no decoding of megabytes of base64 for a key that cannot pay for the video
        await tasks.require_balance(ctx, owner, fields.request.price)
    request, inline = await _with_first_frame(fields)
    if request.callback_url is not None:
        await _check_callback(ctx, request.callback_url)
    new = tasks.NewTask(
        request, inline, door=Door.OPENAI, client_model=fields.model, idempotency=idempotency
    )
    return await _submitted(ctx, owner, new)


async def remix_video(
    ctx: AppContext,
    owner: KeyOwner,
    video_id: str,
    body: Any,
    *,
    idempotency: tasks.IdempotencyKey | None = None,
) -> TaskView:
    """A new video: the completed video ``video_id``'s request and seed with a new prompt,
    priced as any new video. Like OpenAI, only a completed video can be remixed."""
    if (earlier := await tasks.replay(ctx, owner, idempotency)) is not None:
        return await tasks.as_created(ctx, owner.account_id, earlier)
    if not isinstance(body, dict):
        raise errors.InvalidRequest("the request body must be a JSON object")
    prompt = known_fields_prompt(body, ("prompt",))
    original = await find_video(ctx, owner.account_id, video_id)
    if original.status is not TaskState.SUCCEEDED:
        raise errors.InvalidRequest(
            f"video {video_id!r} is {'failed' if original.status.terminal else 'not finished'}: "
            "only a completed video can be remixed"
        )
    request = dataclasses.replace(original.request, prompt=prompt)
    inline = None
    if request.image_url is not None and is_data_url(request.image_url):
        inline = await _first_frame_of(ctx, original)
        request = dataclasses.replace(
            request, image_url=inline_image_stand_in(inline.mime, len(inline.data))
        )
    if request.callback_url is not None:
        await _check_callback(ctx, request.callback_url)
    new = tasks.NewTask(
        request,
        inline,
        door=Door.OPENAI,
        client_model=original.client_model or DEFAULT_MODEL,
        remixed_from=original.id,
        idempotency=idempotency,
    )
    return await _submitted(ctx, owner, new)


async def delete_video(ctx: AppContext, account_id: str, video_id: str) -> None:
    """Delete a video and its files; an unfinished one is cancelled (and refunded) first."""
    task = await find_video(ctx, account_id, video_id)
    if not task.status.terminal:
        # one that ended a moment ago is deleted below all the same
        with contextlib.suppress(errors.TaskNotCancellable):
            await tasks.cancel(ctx, account_id, video_id)
    await tasks.delete(ctx, account_id, video_id)


async def find_video(ctx: AppContext, account_id: str, video_id: str) -> TaskView:
    try:
        return await tasks.get(ctx, account_id, video_id)
    except errors.TaskNotFound:
        raise not_found(video_id) from None


def not_found(video_id: str) -> errors.NotFound:
    return errors.TaskNotFound(f"Video with id {video_id!r} not found.")


@dataclass(frozen=True)
class VideoContent:
    media_type: str
    reader: ObjectReader


async def open_content(
    ctx: AppContext, video_id: str, task: TaskView | None, variant: str | None
) -> VideoContent:
    """The bytes of a completed video's ``variant``: the MP4, its thumbnail (the poster JPEG)
    or its spritesheet. A video that is not completed, whose files have expired, or that has
    no such file is 404, as it is at OpenAI."""
    chosen = variant or "video"
    if chosen not in VARIANTS:
        raise errors.InvalidRequest(
            f"variant must be one of {', '.join(VARIANTS)}; got {chosen!r}", param="variant"
        )
    if task is None:
        raise not_found(video_id)
    if task.status is not TaskState.SUCCEEDED:
        raise errors.NotFound(f"video {video_id!r} is not completed: it has no content")
    if task.expired_at is not None:
        raise errors.NotFound(f"the files of video {video_id!r} have expired and are deleted")
    key = {"video": task.video_key, "thumbnail": task.poster_key, "spritesheet": task.sprite_key}[
        chosen
    ]
    if key is None:
        raise errors.NotFound(f"video {video_id!r} has no {chosen}")
    try:
        reader = await ctx.store.open_read(key)
    except ObjectNotFound:
        raise errors.NotFound(f"video {video_id!r} has no {chosen}") from None
    media_type = mimetypes.guess_type(key)[0] or _DEFAULT_MEDIA_TYPES[chosen]
    return VideoContent(media_type, reader)


async def _first_frame_of(ctx: AppContext, original: TaskView) -> DataImage:
    """The starting image of a remix whose original began from an uploaded image: the upload
    is deleted once its video is made, so the original video's own first frame stands in."""
    gone = errors.InvalidRequest(
        f"video {original.id!r} started from an uploaded image and its files have expired: "
        "create a new video with the image as input_reference instead"
    )
    if original.video_key is None or original.expired_at is not None:
        raise gone
    try:
        mp4 = await ctx.store.get_bytes(original.video_key)
    except ObjectNotFound:
        raise gone from None
    return DataImage(mime="image/png", data=await asyncio.to_thread(first_frame_png, mp4))


async def _with_first_frame(fields: VideoFields) -> tuple[TaskRequest, DataImage | None]:
    """The request with its first frame: an upload or a data: URL travels with the task (the
    request names it by a stand-in), an http(s) URL is fetched by the worker."""
    inline = fields.upload
    url = fields.image_url
    if url is not None:
        try:
            if is_data_url(url):
                # up to 20 MB of base64: decoded once, off the event loop
                subject = "input_reference.image_url"
                inline = await asyncio.to_thread(parse_data_image_url, url, subject=subject)
            else:
                parse_http_url(url, subject="input_reference.image_url")
        except UrlRejected as exc:
            raise errors.InvalidImageUrl(str(exc), param="input_reference") from None
    if inline is not None:
        url = inline_image_stand_in(inline.mime, len(inline.data))
    return dataclasses.replace(fields.request, image_url=url), inline


async def _check_callback(ctx: AppContext, url: str) -> None:
    try:
        await check_callback(ctx, url)
    except errors.InvalidCallbackUrl as exc:
        raise errors.InvalidCallbackUrl(exc.message, param="callback_url") from None


async def _submitted(ctx: AppContext, owner: KeyOwner, new: tasks.NewTask) -> TaskView:
    try:
        task_id = await tasks.submit(ctx, owner, new)
    except errors.UnsupportedOption as exc:
        # the task service names the Seedance fields; this door's client sent others
        param = "input_reference" if "image_urls" in exc.message else "generate_audio"
        message = exc.message.replace("image_urls", "input_reference")
        raise errors.UnsupportedOption(message, param=param) from None
    return await tasks.as_created(ctx, owner.account_id, task_id)
