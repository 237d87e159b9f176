"""What every page handler needs: the context, the signed-in session, redirects, 404s."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from opendance.services.context import AppContext
from opendance.services.web_sessions import Session, session_for
from opendance.web.render import render
from opendance.web.security import SESSION_COOKIE, FormRejected, read_form

Page = Callable[[Request, Session], Awaitable[Response]]


def session_page(request: Request, session: Session, template: str, **context: Any) -> HTMLResponse:
    """A page for a signed-in user; its forms' CSRF tokens are bound to the session."""
    return render(request, template, cookie_value=session.token, session=session, **context)


def app_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def current_session(request: Request) -> Session | None:
    return await session_for(app_ctx(request), request.cookies.get(SESSION_COOKIE))


def signed_in(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """A page for signed-in users; others are sent to the sign-in page and brought back."""

    async def handler(request: Request) -> Response:
        session = await current_session(request)
        if session is None:
            return to_signin(request)
        return await page(request, session)

    handler.__name__ = page.__name__
    return handler


def admins_only(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """A page for admin accounts; to anyone else it does not exist."""

    async def handler(request: Request, session: Session) -> Response:
        if not session.user.is_admin:
            return not_found(request, session)
        return await page(request, session)

    handler.__name__ = page.__name__
    return signed_in(handler)


def to_signin(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/dashboard/signin?next={quote(target, safe='')}", status_code=303)


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def not_found(request: Request, session: Session | None) -> Response:
    return render(
        request,
        "not_found.html",
        status_code=404,
        session=session,
        cookie_value=session.token if session else None,
    )


def rejected(request: Request, session: Session | None, reason: str) -> Response:
    return render(
        request,
        "rejected.html",
        status_code=403,
        session=session,
        reason=reason,
        cookie_value=session.token if session else None,
    )


async def session_form(request: Request, session: Session) -> dict[str, str] | None:
    """The fields of a form posted by this session, or None if its CSRF check fails."""
    try:
        return await read_form(request, session.token)
    except FormRejected:
        return None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"
