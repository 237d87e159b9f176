"""Factories for accounts and tasks straight through the services, on a real database."""

from __future__ import annotations

from typing import Any

from opendance.db import accounts as account_rows
from opendance.domain.accounts import KeyOwner
from opendance.domain.doors import Door
from opendance.domain.task_request import TaskRequest
from opendance.services import admin, tasks
from opendance.services.context import AppContext
from opendance.services.submit import submit_generate
from opendance.services.tasks import NewTask


async def account_with_key(ctx: AppContext, name: str, credits: int = 1000) -> KeyOwner:
    await admin.create_account(ctx, name, credits)
    return await owner_of(ctx, (await admin.create_key(ctx, name)).secret)


async def submit(ctx: AppContext, owner: KeyOwner, **fields: Any) -> str:
    body = {"prompt": "a red kite over green hills", "resolution": "480p", "duration": 4}
    body.update(fields)
    return await submit_generate(ctx, owner, body)


async def owner_of(ctx: AppContext, secret: str) -> KeyOwner:
    async with ctx.db.read() as conn:
        owner = await account_rows.find_key_owner(conn, secret)
    assert owner is not None
    return owner


async def submit_through(
    ctx: AppContext, secret: str, door: Door, client_model: str, **fields: Any
) -> str:
    """A task as another door (OpenAI, Ark) creates one: the typed request, its door and the
    model name its client gave, straight into the task service."""
    values: dict[str, Any] = {
        "prompt": "a paper boat on a pond",
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "duration": 4,
        "generate_audio": False,
        "fixed_lens": False,
        "seed": 7,
    }
    values.update(fields)
    new = NewTask(TaskRequest(**values), door=door, client_model=client_model)
    return await tasks.submit(ctx, await owner_of(ctx, secret), new)
