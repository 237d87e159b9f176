"""Cookies, CSRF and form parsing of the web pages.

CSRF: every form carries a token that is an HMAC keyed by the browser's own cookie (the session
cookie once signed in, else an anonymous one set with the sign-in page). Another site can make a
browser send the cookie but cannot read it, so it cannot compute the token. A POST whose
``Origin`` names another site is refused as well, before anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "od_session"
ANON_COOKIE = "od_anon"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 64 * 1024


class FormRejected(Exception):
    """A POST that did not come from one of our own forms (or is malformed)."""


def uses_https(request: Request, public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.startswith("https://")


def set_cookie(
    response: Response, request: Request, public_url: str, name: str, value: str, max_age: int
) -> None:
    # Lax, not Strict: a link to the dashboard from mail or chat should arrive signed in; the
    # forms are protected by their tokens, and Lax still keeps the cookie off cross-site POSTs.
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=uses_https(request, public_url),
    )


def anon_token(request: Request) -> str | None:
    value = request.cookies.get(ANON_COOKIE)
    return value if value and len(value) <= 100 else None


def new_anon_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(cookie_value: str) -> str:
    return hmac.new(cookie_value.encode("utf-8"), b"csrf", hashlib.sha256).hexdigest()


async def read_form(request: Request, cookie_value: str | None) -> dict[str, str]:
    """The fields of a POSTed form, after the origin and CSRF checks (else ``FormRejected``)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and not _same_origin(request, origin):
        raise FormRejected("the form was sent from another site")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRejected("the form is too large")
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise FormRejected("the form is not UTF-8") from None
    sent = fields.pop(CSRF_FIELD, "").encode("utf-8")
    # compared as bytes: compare_digest refuses str with non-ASCII characters (a TypeError)
    if cookie_value is None or not hmac.compare_digest(sent, csrf_token(cookie_value).encode()):
        raise FormRejected("the form has expired or did not come from this site")
    return fields


def _same_origin(request: Request, origin: str) -> bool:
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return parts.netloc == host and parts.scheme in ("http", "https")
