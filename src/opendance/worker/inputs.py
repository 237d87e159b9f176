"""The input image of an image-to-video task, fetched and fitted to the frame."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from opendance.domain.task_view import ClaimedTask
from opendance.media.images import ImageRejected, cover_crop, decode_image
from opendance.net.errors import FetchFailed
from opendance.net.fetch import fetch_image_bytes
from opendance.services.context import AppContext
from opendance.storage.base import ObjectNotFound

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class InputImageError(Exception):
    """The input image could not be fetched or decoded; the message is for the client."""


async def load_first_frame(ctx: AppContext, task: ClaimedTask) -> npt.NDArray[np.uint8] | None:
    """The first frame, scaled to cover the task's frame and centre-cropped; None without one.
    An inline image was stored with the task; a URL is fetched now (SSRF-safe)."""
    if task.input_image_key:
        try:
            data = await ctx.store.get_bytes(task.input_image_key)
        except ObjectNotFound:
            raise InputImageError("image_urls[0]: the uploaded image is no longer stored") from None
    elif task.request.image_url is not None:
        try:
            data = await fetch_image_bytes(
                task.request.image_url, policy=ctx.policy, resolver=ctx.resolver
            )
        except FetchFailed as exc:
            raise InputImageError(str(exc)) from None
    else:
        return None
    width, height = task.request.frame_size
    try:
        return await asyncio.to_thread(_fit, data, width, height)
    except ImageRejected as exc:
        raise InputImageError(f"image_urls[0]: {exc}") from None


def _fit(data: bytes, width: int, height: int) -> npt.NDArray[np.uint8]:
    return cover_crop(decode_image(data), width, height)
