"""Templates and the headers every page carries."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from opendance.services.context import AppContext
from opendance.web.security import csrf_token

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["credits"] = _credits
    return env


def render(
    request: Request,
    template: str,
    *,
    cookie_value: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page; ``cookie_value`` is what its forms' CSRF tokens are bound to."""
    ctx: AppContext = request.app.state.ctx
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            path=request.url.path,
            csrf_token=csrf_token(cookie_value) if cookie_value else "",
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers.update(page_headers(ctx.settings.resolved_public_url, ctx.store.url_origin()))
    return response


def page_headers(public_url: str, store_origin: str | None = None) -> dict[str, str]:
    # Videos and posters come from the public URL, which may be another origin behind a
    # proxy, or from the object store's own origin (an S3 endpoint, a CDN).
    sources = ["'self'"]
    for url in (public_url, store_origin or ""):
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme and parts.netloc and origin not in sources:
            sources.append(origin)
    media = " ".join(sources)
    return {
        # pages show secrets (a new key, the webhook secret): never cached, never framed
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'self'; img-src {media} data: blob:; media-src {media} blob:; "
            "script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
            "form-action 'self'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _credits(amount: int) -> str:
    return f"{amount:,}"
