"""The Ark door's create: the body read by ``ark_params``, then what needs I/O (the first
frame's URL, an inline image's size for ``ratio: adaptive``, the callback URL's addresses, what
the fleet can make), then the one task service (price, charge and enqueue in one transaction).
"""

from __future__ import annotations

import asyncio
from typing import Any

from opendance.domain import ids, presets, pricing
from opendance.domain.accounts import KeyOwner
from opendance.domain.capabilities import FleetOffer
from opendance.domain.doors import Door
from opendance.domain.task_request import TaskRequest, inline_image_stand_in
from opendance.media.images import ImageRejected, decode_image
from opendance.net.data_urls import DataImage, is_data_url, parse_data_image_url
from opendance.net.errors import UrlRejected
from opendance.net.urls import parse_http_url
from opendance.services import tasks
from opendance.services.ark_errors import ArkParameterError
from opendance.services.ark_params import ArkCreate, parse_create
from opendance.services.context import AppContext
from opendance.services.submit import check_callback

FIRST_FRAME_PARAM = "content.image_url"


async def create_ark_task(
    ctx: AppContext,
    owner: KeyOwner,
    body: Any,
    *,
    idempotency: tasks.IdempotencyKey | None = None,
) -> str:
    """Create a task from an Ark create body; its id. Raises an ``ApiError`` (a 400 names the
    parameter); on error nothing is charged or stored."""
    if (earlier := await tasks.replay(ctx, owner, idempotency)) is not None:
        return earlier
    asked = parse_create(body)
    inline: DataImage | None = None
    image_url = asked.first_frame
    ratio = asked.ratio
    if image_url is not None:
        if is_data_url(image_url):
            # no decoding of megabytes of base64 for a key that cannot pay for the video
            price = pricing.price(asked.resolution, asked.duration, asked.generate_audio)
            await tasks.require_balance(ctx, owner, price)
            inline = await _inline_image(image_url)
            image_url = inline_image_stand_in(inline.mime, len(inline.data))
            if ratio == presets.ADAPTIVE:
                # the bytes are here: resolve now, so the task shows its real ratio from the start
                ratio = await asyncio.to_thread(_nearest_ratio, inline.data)
        else:
            _check_http_url(image_url)
            # an adaptive ratio of a fetched image stays "adaptive" until the worker has it
    if asked.callback_url is not None:
        await check_callback(ctx, asked.callback_url)
    _check_fleet(await ctx.fleet.current(), asked)
    request = TaskRequest(
        prompt=asked.prompt,
        aspect_ratio=ratio,
        resolution=asked.resolution,
        duration=asked.duration,
        generate_audio=asked.generate_audio,
        fixed_lens=asked.camera_fixed,
        seed=ids.new_seed() if asked.seed is None else asked.seed,
        image_url=image_url,
        callback_url=asked.callback_url,
        return_last_frame=asked.return_last_frame,
    )
    new = tasks.NewTask(
        request, inline, door=Door.ARK, client_model=asked.model, idempotency=idempotency
    )
    return await tasks.submit(ctx, owner, new)


async def _inline_image(url: str) -> DataImage:
    try:
        # up to 20 MB of base64: decoded once, off the event loop
        return await asyncio.to_thread(parse_data_image_url, url, subject="the first_frame image")
    except UrlRejected as exc:
        raise ArkParameterError(FIRST_FRAME_PARAM, str(exc)) from None


def _check_http_url(url: str) -> None:
    try:
        parse_http_url(url, subject="the first_frame image_url")
    except UrlRejected as exc:
        raise ArkParameterError(FIRST_FRAME_PARAM, str(exc)) from None


def _nearest_ratio(data: bytes) -> str:
    """The offered ratio nearest the image's, as it is shown (EXIF orientation applied: a
    phone's portrait is stored sideways)."""
    try:
        width, height = decode_image(data).size
    except ImageRejected as exc:
        raise ArkParameterError(FIRST_FRAME_PARAM, f"the first_frame image: {exc}") from None
    return presets.nearest_aspect_ratio(width, height)


def _check_fleet(fleet: FleetOffer, asked: ArkCreate) -> None:
    """What ``tasks.submit`` checks too, refused here in Ark's words (its parameter names)."""
    image = asked.first_frame is not None
    if asked.generate_audio and not fleet.audio:
        raise ArkParameterError(
            "generate_audio",
            "generate_audio is not available: the serving engine makes video without sound",
        )
    if image and not fleet.image_to_video:
        raise ArkParameterError(
            FIRST_FRAME_PARAM,
            "a first_frame image is not available: the serving engine makes text-to-video only",
        )
    if not fleet.serves(audio=asked.generate_audio, image=image):
        raise ArkParameterError(
            "generate_audio",
            "generate_audio with a first_frame image is not available: no worker makes sound "
            "for image-to-video; send one of them",
        )
