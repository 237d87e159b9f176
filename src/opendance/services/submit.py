"""POST /v1/generate: validate, price, charge and enqueue in one transaction."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from opendance import errors
from opendance.db import accounts as account_rows
from opendance.db import tasks as task_rows
from opendance.db.accounts import KeyOwner
from opendance.domain import ids, pricing
from opendance.engines.base import FleetOffer
from opendance.net.data_urls import DataImage, is_data_url, parse_data_image_url
from opendance.net.errors import AddressRejected, UrlRejected
from opendance.net.urls import check_public_url, parse_http_url
from opendance.services.context import AppContext
from opendance.services.validation import GenerateRequest, validate_generate

log = logging.getLogger("opendance.submit")


async def submit_generate(ctx: AppContext, owner: KeyOwner, body: Any) -> str:
    """Create a task and return its id. Raises an ``ApiError``; on error nothing is changed."""
    inline: list[DataImage] = []

    async def check_image_url(url: str) -> None:
        try:
            if is_data_url(url):
                # up to 20 MB of base64: decoded once, off the event loop
                inline.append(
                    await asyncio.to_thread(parse_data_image_url, url, subject="image_urls[0]")
                )
            else:
                parse_http_url(url, subject="image_urls[0]")
        except UrlRejected as exc:
            raise errors.InvalidImageUrl(str(exc)) from None

    async def check_callback_url(url: str) -> None:
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

    request = await validate_generate(
        body, check_image_url=check_image_url, check_callback_url=check_callback_url
    )
    _check_capabilities(await ctx.fleet.current(), request)
    price = pricing.price(request.resolution, request.duration, request.generate_audio)
    task_id = ids.new_task_id()
    seed = request.seed if request.seed is not None else ids.new_seed()
    image = inline[0] if inline else None
    input_key = None
    if image is not None:
        # Checked before the write so that a key without credits cannot make the server store
        # megabytes; the debit below stays the authority (the balance may change meanwhile).
        await _require_balance(ctx, owner, price)
        input_key = f"inputs/{task_id}"
        await ctx.store.put_bytes(input_key, image.data, image.mime)
    try:
        async with ctx.db.write() as conn:
            if not await account_rows.try_debit(conn, owner.account_id, price):
                balance = await account_rows.balance_of(conn, owner.account_id)
                raise errors.InsufficientCredits(price=price, balance=balance)
            await task_rows.insert_task(
                conn,
                id=task_id,
                account_id=owner.account_id,
                api_key_id=owner.key_id,
                request=echo_request(request, seed, image),
                seed=seed,
                price=price,
                needs_audio=request.generate_audio,
                needs_image=bool(request.image_urls),
                callback_url=request.callback_url,
                input_image_key=input_key,
            )
            await account_rows.record_charge(
                conn, account_id=owner.account_id, task_id=task_id, amount=price
            )
    except BaseException:
        if input_key:
            await ctx.store.delete(input_key)
        raise
    return task_id


def echo_request(
    request: GenerateRequest, seed: int, inline_image: DataImage | None = None
) -> dict[str, Any]:
    """The normalised request as stored and shown by /v1/status (duration as a string, as in
    the contract). An inline data: image is not echoed back byte for byte: status polls would
    carry megabytes; its media type and size stand in for it."""
    echoed: dict[str, Any] = {
        "prompt": request.prompt,
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "duration": str(request.duration),
        "generate_audio": request.generate_audio,
        "fixed_lens": request.fixed_lens,
        "image_urls": [
            f"data:{inline_image.mime};base64,<{len(inline_image.data)} bytes>"
            if inline_image is not None and is_data_url(url)
            else url
            for url in request.image_urls
        ],
        "seed": seed,
    }
    if request.callback_url:
        echoed["callback_url"] = request.callback_url
    return echoed


async def _require_balance(ctx: AppContext, owner: KeyOwner, price: int) -> None:
    async with ctx.db.read() as conn:
        balance = await account_rows.balance_of(conn, owner.account_id)
    if balance < price:
        raise errors.InsufficientCredits(price=price, balance=balance)


def _check_capabilities(fleet: FleetOffer, request: GenerateRequest) -> None:
    if request.generate_audio and not fleet.audio:
        raise errors.UnsupportedOption(
            "generate_audio is not available: the serving engine makes video without sound"
        )
    if request.image_urls and not fleet.image_to_video:
        raise errors.UnsupportedOption(
            "image_urls is not available: the serving engine makes text-to-video only"
        )
    if not fleet.serves(audio=request.generate_audio, image=bool(request.image_urls)):
        raise errors.UnsupportedOption(
            "generate_audio with image_urls is not available: no worker makes sound for "
            "image-to-video; send one of them"
        )
