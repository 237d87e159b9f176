"""The signed-in user's pages: API keys, credits, tasks, webhooks."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from opendance.domain import pricing
from opendance.domain.doors import Door
from opendance.domain.task_states import PUBLIC_STATUS_STATES
from opendance.domain.task_view import TaskView
from opendance.errors import AdminError, TaskNotCancellable, TaskNotFound
from opendance.services import dashboard
from opendance.services import tasks as task_service
from opendance.services.context import AppContext
from opendance.services.status import status_body
from opendance.services.web_sessions import PLAYGROUND_KEY_NAME, Session
from opendance.web.common import (
    app_ctx,
    not_found,
    rejected,
    see_other,
    session_form,
    session_page,
    signed_in,
)

STALE_FORM = "the form has expired or did not come from this site"
DOOR_LABELS = {Door.SEEDANCE: "Seedance", Door.OPENAI: "OpenAI", Door.ARK: "Ark"}
# Where a cancel form may send the browser back to: the task list (with its page and filter)
# or the task's own page; anything else would make the form an open redirect.
NOTICES = ("cancelled", "not_cancelled")  # query parameters a cancel form comes back with
_BACK = re.compile(r"/dashboard/tasks(/[A-Za-z0-9_-]+)?(\?[A-Za-z0-9_=&-]*)?")


# ASCII digits only: str.isdigit also takes superscripts ("²", which int() refuses) and int()
# other scripts' digits and underscores ("1_0")
_PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,5}")


def _page_number(request: Request) -> int | None:
    """The page asked for (1 without one), or None for anything but a number from 1 up."""
    raw = request.query_params.get("page") or "1"
    return int(raw) if _PAGE_NUMBER.fullmatch(raw) else None


async def _keys_page(
    request: Request,
    session: Session,
    *,
    new_secret: str | None = None,
    new_name: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    keys = await dashboard.keys_of(app_ctx(request), session.user.account_id)
    return session_page(
        request,
        session,
        "keys.html",
        keys=keys,
        new_secret=new_secret,
        new_name=new_name,
        error=error,
        playground_key_name=PLAYGROUND_KEY_NAME,
        now=datetime.now(UTC),
        status_code=status_code,
    )


async def _keys(request: Request, session: Session) -> Response:
    return await _keys_page(request, session)


async def _create_key(request: Request, session: Session) -> Response:
    fields = await session_form(request, session)
    if fields is None:
        return rejected(request, session, STALE_FORM)
    try:
        secret, record = await dashboard.create_key(
            app_ctx(request), session.user.account_id, fields.get("name", "")
        )
    except AdminError as exc:
        return await _keys_page(request, session, error=str(exc), status_code=400)
    # shown in this answer only: it is not stored, so a reload cannot show it again
    return await _keys_page(request, session, new_secret=secret, new_name=record.name)


async def _revoke_key(request: Request, session: Session) -> Response:
    if await session_form(request, session) is None:
        return rejected(request, session, STALE_FORM)
    try:
        await dashboard.revoke_key(
            app_ctx(request), session.user.account_id, request.path_params["key_id"]
        )
    except AdminError:
        return not_found(request, session)
    return see_other("/dashboard/keys")


async def _credits(request: Request, session: Session) -> Response:
    number = _page_number(request)
    if number is None:
        return not_found(request, session)
    page = await dashboard.ledger_page(app_ctx(request), session.user.account_id, number)
    return session_page(
        request,
        session,
        "credits.html",
        page=page,
        prices=_price_rows(),
        usd_per_credit=pricing.USD_PER_CREDIT,
    )


def _price_rows() -> list[tuple[str, list[int]]]:
    return [
        (res, [pricing.price(res, d, audio) for audio in (False, True) for d in (4, 8, 12)])
        for res in ("480p", "720p")
    ]


def _row(ctx: AppContext, task: TaskView) -> dict[str, Any]:
    """The task as the Seedance status body, with what the pages add: the door it came
    through, the model name its client gave, and whether it can still be cancelled."""
    return {
        **status_body(ctx, task),
        "door": DOOR_LABELS[task.door],
        "client_model": task.client_model,
        "cancellable": not task.status.terminal,
    }


def _notices(request: Request) -> dict[str, str | None]:
    return {name: request.query_params.get(name) for name in NOTICES}


def _here(request: Request) -> str:
    """This page's path and query, for a form to come back to (without an earlier notice)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in NOTICES]
    return request.url.path + ("?" + urlencode(query) if query else "")


async def _tasks(request: Request, session: Session) -> Response:
    ctx = app_ctx(request)
    wanted = request.query_params.get("status") or None
    status_filter = wanted if wanted in PUBLIC_STATUS_STATES else None
    number = _page_number(request)
    if number is None:
        return not_found(request, session)
    page = await dashboard.task_page(ctx, session.user.account_id, status_filter, number)
    return session_page(
        request,
        session,
        "tasks.html",
        page=page,
        rows=[_row(ctx, task) for task in page.items],
        status_filter=status_filter,
        statuses=list(PUBLIC_STATUS_STATES),
        here=_here(request),
        **_notices(request),
    )


async def _task(request: Request, session: Session) -> Response:
    ctx = app_ctx(request)
    task = await dashboard.task_of(ctx, session.user.account_id, request.path_params["task_id"])
    if task is None:
        return not_found(request, session)
    body = status_body(ctx, task)
    return session_page(
        request,
        session,
        "task.html",
        task=_row(ctx, task),
        request_json=json.dumps(body["request"], indent=2, ensure_ascii=False),
        status_json=json.dumps(body, indent=2, ensure_ascii=False),
        here=_here(request),
        **_notices(request),
    )


async def _cancel_task(request: Request, session: Session) -> Response:
    fields = await session_form(request, session)
    if fields is None:
        return rejected(request, session, STALE_FORM)
    task_id: str = request.path_params["task_id"]
    back = fields.get("back", "")
    if not _BACK.fullmatch(back):
        back = "/dashboard/tasks"
    try:
        await task_service.cancel(app_ctx(request), session.user.account_id, task_id)
    except TaskNotFound:
        return not_found(request, session)
    except TaskNotCancellable:  # it ended meanwhile; the page it goes back to shows how
        return see_other(_with_notice(back, "not_cancelled", task_id))
    return see_other(_with_notice(back, "cancelled", task_id))


def _with_notice(url: str, name: str, task_id: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode({name: task_id})


async def _webhooks(request: Request, session: Session, *, rotated: bool = False) -> Response:
    ctx = app_ctx(request)
    secrets = await dashboard.webhook_secrets(ctx, session.user.account_id)
    deliveries = await dashboard.deliveries_of(ctx, session.user.account_id)
    return session_page(
        request,
        session,
        "webhooks.html",
        secrets=secrets,
        deliveries=deliveries[:50],
        rotated=rotated or request.query_params.get("rotated") == "1",
        redelivered=request.query_params.get("redelivered"),
    )


async def _webhooks_page(request: Request, session: Session) -> Response:
    return await _webhooks(request, session)


async def _rotate(request: Request, session: Session) -> Response:
    if await session_form(request, session) is None:
        return rejected(request, session, STALE_FORM)
    await dashboard.rotate_webhook_secret(app_ctx(request), session.user.name)
    return see_other("/dashboard/webhooks?rotated=1")


async def _redeliver(request: Request, session: Session) -> Response:
    if await session_form(request, session) is None:
        return rejected(request, session, STALE_FORM)
    delivery_id: str = request.path_params["delivery_id"]
    try:
        await dashboard.redeliver(app_ctx(request), session.user.account_id, delivery_id)
    except AdminError:
        return not_found(request, session)
    return see_other(f"/dashboard/webhooks?redelivered={delivery_id}")


keys = signed_in(_keys)
create_key = signed_in(_create_key)
revoke_key = signed_in(_revoke_key)
credits = signed_in(_credits)
tasks = signed_in(_tasks)
task = signed_in(_task)
cancel_task = signed_in(_cancel_task)
webhooks = signed_in(_webhooks_page)
rotate_webhook_secret = signed_in(_rotate)
redeliver = signed_in(_redeliver)
