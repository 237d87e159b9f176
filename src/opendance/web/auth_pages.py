"""Sign-in, sign-out and invite links."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from opendance.errors import AdminError
from opendance.services import invites, web_sessions
from opendance.services.password_pool import PasswordsBusy
from opendance.services.web_sessions import Session
from opendance.web.common import (
    app_ctx,
    client_address,
    current_session,
    rejected,
    see_other,
    session_form,
    signed_in,
)
from opendance.web.render import render
from opendance.web.security import (
    ANON_COOKIE,
    SESSION_COOKIE,
    FormRejected,
    anon_token,
    new_anon_token,
    read_form,
    set_cookie,
)
from opendance.web.signin_limiter import BUSY_RETRY_SECONDS, Refused, SignInLimiter

HOME = "/dashboard/keys"
ANON_MAX_AGE = 2 * 3600


def _limiter(request: Request) -> SignInLimiter:
    limiter: SignInLimiter = request.app.state.signin_limiter
    return limiter


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no //), so the sign-in page cannot be
    used to send people elsewhere."""
    if not target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return HOME
    if "\\" in target:
        return HOME
    return target


def _signin_page(
    request: Request,
    *,
    anon: str,
    status_code: int = 200,
    error: str | None = None,
    identifier: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    response = render(
        request,
        "signin.html",
        cookie_value=anon,
        status_code=status_code,
        error=error,
        identifier=identifier,
        next=_safe_next(request.query_params.get("next")),
        headers=headers,
    )
    public_url = app_ctx(request).settings.resolved_public_url
    set_cookie(response, request, public_url, ANON_COOKIE, anon, ANON_MAX_AGE)
    return response


async def signin_form(request: Request) -> Response:
    if await current_session(request) is not None:
        return see_other(_safe_next(request.query_params.get("next")))
    return _signin_page(request, anon=anon_token(request) or new_anon_token())


async def signin_submit(request: Request) -> Response:
    ctx = app_ctx(request)
    anon = anon_token(request)
    try:
        fields = await read_form(request, anon)
    except FormRejected as exc:
        return rejected(request, None, str(exc))
    assert anon is not None
    identifier = fields.get("identifier", "").strip()[:254]
    password = fields.get("password", "")
    attempt = _limiter(request).begin(client_address(request), identifier)
    if isinstance(attempt, Refused):
        return _signin_page(
            request,
            anon=anon,
            status_code=429,
            error=_refusal_text(attempt),
            identifier=identifier,
            headers={"Retry-After": str(attempt.retry_after)},
        )
    token = None
    try:
        token = await web_sessions.sign_in(ctx, identifier, password) if identifier else None
    except PasswordsBusy:
        return _signin_page(
            request,
            anon=anon,
            status_code=503,
            error="The server is busy checking other sign-ins. Try again in a moment.",
            identifier=identifier,
            headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
        )
    finally:
        attempt.end(succeeded=token is not None)
    if token is None:
        return _signin_page(
            request,
            anon=anon,
            status_code=401,
            error="That name or e-mail and password do not match an account.",
            identifier=identifier,
        )
    response = see_other(_safe_next(fields.get("next")))
    max_age = int(ctx.settings.session_hours * 3600)
    set_cookie(response, request, ctx.settings.resolved_public_url, SESSION_COOKIE, token, max_age)
    response.delete_cookie(ANON_COOKIE, path="/")  # a new one with the next sign-in page
    return response


def _refusal_text(refused: Refused) -> str:
    if refused.busy:
        return (
            "Another sign-in for this account or from this address is being checked. "
            "Try again in a moment."
        )
    minutes = max(1, round(refused.retry_after / 60))
    return f"Too many failed sign-ins. Try again in about {minutes} minute" + (
        "s." if minutes != 1 else "."
    )


async def _signout(request: Request, session: Session) -> Response:
    if await session_form(request, session) is None:
        return rejected(request, session, "the form has expired or did not come from this site")
    await web_sessions.sign_out(app_ctx(request), session.token)
    response = see_other("/dashboard/signin")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


signout = signed_in(_signout)


async def invite_form(request: Request) -> Response:
    token: str = request.path_params["token"]
    account = await invites.invited_account(app_ctx(request), token)
    anon = anon_token(request) or new_anon_token()
    response = render(
        request,
        "invite.html",
        cookie_value=anon,
        account=account,
        status_code=200 if account else 404,
    )
    set_cookie(
        response, request, app_ctx(request).settings.resolved_public_url, ANON_COOKIE, anon, 3600
    )
    return response


async def invite_submit(request: Request) -> Response:
    ctx = app_ctx(request)
    token: str = request.path_params["token"]
    anon = anon_token(request)
    try:
        fields = await read_form(request, anon)
    except FormRejected as exc:
        return rejected(request, None, str(exc))
    account = await invites.invited_account(ctx, token)
    error, status_code, headers = None, 400, None
    if fields.get("password", "") != fields.get("confirm", ""):
        error = "The two passwords differ."
    else:
        try:
            await invites.accept_invite(ctx, token, fields.get("password", ""))
        except AdminError as exc:
            error = str(exc).capitalize() + "."
        except PasswordsBusy:
            error = "The server is busy. Try again in a moment."
            status_code, headers = 503, {"Retry-After": str(BUSY_RETRY_SECONDS)}
    if error is not None:
        return render(
            request,
            "invite.html",
            cookie_value=anon,
            account=account,
            error=error,
            status_code=status_code,
            headers=headers,
        )
    return see_other("/dashboard/signin?invited=1")
