"""The operator view (admin accounts only): accounts, credit grants, new users."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from opendance.errors import AdminError
from opendance.services import admin, dashboard_users, invites
from opendance.services.web_sessions import Session
from opendance.web.common import admins_only, app_ctx, rejected, session_form, session_page

STALE_FORM = "the form has expired or did not come from this site"


async def _page(
    request: Request,
    session: Session,
    *,
    notice: str | None = None,
    error: str | None = None,
    invite_url: str | None = None,
    status_code: int = 200,
) -> Response:
    users = await dashboard_users.list_users(app_ctx(request))
    return session_page(
        request,
        session,
        "admin.html",
        users=users,
        notice=notice,
        error=error,
        invite_url=invite_url,
        status_code=status_code,
    )


async def _overview(request: Request, session: Session) -> Response:
    return await _page(request, session)


async def _grant(request: Request, session: Session) -> Response:
    fields = await session_form(request, session)
    if fields is None:
        return rejected(request, session, STALE_FORM)
    name = fields.get("account", "")
    amount = _whole_number(fields.get("amount", ""), signed=True)
    if amount is None:
        return await _page(
            request, session, error="The amount must be a whole number.", status_code=400
        )
    note = fields.get("note", "").strip() or f"granted by {session.user.name} in the dashboard"
    try:
        account = await admin.grant_credits(app_ctx(request), name, amount, note)
    except AdminError as exc:
        return await _page(request, session, error=_sentence(exc), status_code=400)
    return await _page(
        request,
        session,
        notice=f"{amount:+,} credits for {account.name}; the balance is {account.balance:,}.",
    )


async def _create_user(request: Request, session: Session) -> Response:
    fields = await session_form(request, session)
    if fields is None:
        return rejected(request, session, STALE_FORM)
    ctx = app_ctx(request)
    credits = _whole_number(fields.get("credits", "").strip() or "0", signed=False)
    if credits is None:
        return await _page(
            request, session, error="Credits must be a whole number, 0 or more.", status_code=400
        )
    try:
        user = await dashboard_users.create_user(
            ctx,
            fields.get("name", ""),
            email=fields.get("email") or None,
            is_admin=fields.get("admin") == "on",
            credits=credits,
        )
        invite = await invites.create_invite(ctx, user.name)
    except AdminError as exc:
        return await _page(request, session, error=_sentence(exc), status_code=400)
    return await _page(
        request,
        session,
        notice=f"Created {user.name}. Send them this invite link (it works once, for "
        f"{invite.expires_in_hours:g} hours):",
        invite_url=invite.url,
    )


# ASCII digits only: int() also takes fullwidth digits and "1_000", str.isdigit takes "²" (which
# int() refuses); the length bound keeps int() cheap, the services check the range
_SIGNED = re.compile(r"[+-]?[0-9]{1,30}")
_UNSIGNED = re.compile(r"[0-9]{1,30}")


def _whole_number(text: str, *, signed: bool) -> int | None:
    text = text.strip()
    return int(text) if (_SIGNED if signed else _UNSIGNED).fullmatch(text) else None


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


overview = admins_only(_overview)
grant = admins_only(_grant)
create_user = admins_only(_create_user)
