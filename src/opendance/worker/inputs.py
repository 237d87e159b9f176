"""What the engine is asked to make: the task's request, with its input image fetched and fitted
to the frame."""

from __future__ import annotations

import asyncio

from opendance.domain.spec import GenerationSpec
from opendance.domain.task_request import TaskRequest
from opendance.domain.task_view import ClaimedTask
from opendance.media.images import ImageRejected, cover_crop, decode_image
from opendance.net.errors import FetchFailed
from opendance.net.fetch import fetch_image_bytes
from opendance.services.context import AppContext
from opendance.storage.base import ObjectNotFound


class InputImageError(Exception):
    """The input image could not be fetched or decoded; the message is for the client."""


async def generation_spec(ctx: AppContext, task: ClaimedTask) -> GenerationSpec:
    """The spec of ``task``. Its first frame, if it has one, is scaled to cover the frame and
    centre-cropped; an adaptive aspect ratio becomes the offered ratio nearest the image's
    (16:9 without an image) before the frame's size is known."""
    data = await _first_frame_bytes(ctx, task)
    if data is None:
        return task.request.resolved(None).to_spec()
    try:
        return await asyncio.to_thread(_spec_with_image, task.request, data)
    except ImageRejected as exc:
        raise InputImageError(f"image_urls[0]: {exc}") from None


async def _first_frame_bytes(ctx: AppContext, task: ClaimedTask) -> bytes | None:
    """An inline image was stored with the task; a URL is fetched now (SSRF-safe)."""
    if task.input_image_key:
        try:
            return await ctx.store.get_bytes(task.input_image_key)
        except ObjectNotFound:
            raise InputImageError("image_urls[0]: the uploaded image is no longer stored") from None
    if task.request.image_url is not None:
        try:
            return await fetch_image_bytes(
                task.request.image_url, policy=ctx.policy, resolver=ctx.resolver
            )
        except FetchFailed as exc:
            raise InputImageError(str(exc)) from None
    return None


def _spec_with_image(request: TaskRequest, data: bytes) -> GenerationSpec:
    image = decode_image(data)
    resolved = request.resolved(image.size)
    return resolved.to_spec(cover_crop(image, *resolved.frame_size))
