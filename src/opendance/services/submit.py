"""The Seedance door's create: validate a ``POST /v1/generate`` body in the contract's order,
then hand the typed request to the task service (price, charge and enqueue in one
transaction)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from opendance import errors
from opendance.domain.accounts import KeyOwner
from opendance.domain.task_request import inline_image_stand_in
from opendance.net.data_urls import (
    CheckedDataUrl,
    DataImage,
    check_data_image_url,
    is_data_url,
)
from opendance.net.errors import AddressRejected, UrlRejected
from opendance.net.urls import check_public_url, parse_http_url
from opendance.services import tasks
from opendance.services.context import AppContext
from opendance.services.validation import validate_generate

log = logging.getLogger("opendance.submit")


async def submit_generate(
    ctx: AppContext, owner: KeyOwner, body: Any, *, idempotency: tasks.IdempotencyKey | None = None
) -> str:
    """Create a task and return its id. Raises an ``ApiError``; on error nothing is changed."""
    if (earlier := await tasks.replay(ctx, owner, idempotency)) is not None:
        return earlier
    inline: list[CheckedDataUrl] = []

    async def check_image_url(url: str) -> None:
        try:
            if is_data_url(url):
                inline.append(check_data_image_url(url, subject="image_urls[0]"))
            else:
                parse_http_url(url, subject="image_urls[0]")
        except UrlRejected as exc:
            raise errors.InvalidImageUrl(str(exc)) from None

    async def check_callback_url(url: str) -> None:
        await check_callback(ctx, url)

    request = await validate_generate(
        body, check_image_url=check_image_url, check_callback_url=check_callback_url
    )
    image = None
    if inline:
        # A key without the credits for this request must not make the server decode (and
        # hold) megabytes of base64 first: the balance is checked before the payload is read.
        await tasks.require_balance(ctx, owner, request.price)
        image = await _decode(inline[0])
        request = dataclasses.replace(
            request, image_url=inline_image_stand_in(image.mime, len(image.data))
        )
    new = tasks.NewTask(request, image, idempotency=idempotency)
    return await tasks.submit(ctx, owner, new)


async def _decode(checked: CheckedDataUrl) -> DataImage:
    """Up to 20 MB of base64, decoded off the event loop."""
    try:
        return await asyncio.to_thread(checked.decode)
    except UrlRejected as exc:
        raise errors.InvalidImageUrl(str(exc)) from None


async def check_callback(ctx: AppContext, url: str) -> None:
    """Raise ``InvalidCallbackUrl`` unless ``url`` is http(s) and resolves to public addresses
    only. The message never says which internal address a name resolves to (the log does)."""
    try:
        await check_public_url(
            url, policy=ctx.policy, resolver=ctx.resolver, subject="callback_url"
        )
    except AddressRejected as exc:
        log.info("callback_url refused: %s", exc)
        raise errors.InvalidCallbackUrl(
            f"{exc.public_message}: it must be an http(s) URL on the public internet"
        ) from None
    except UrlRejected as exc:
        raise errors.InvalidCallbackUrl(str(exc)) from None
