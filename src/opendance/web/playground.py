"""The API playground: a form over every /v1/generate field that submits through the public API
from the browser, with one of the user's keys.

Signed in, the page brings the session's own playground key (see ``web_sessions``), so nothing
needs to be copied; anyone may instead paste a key of theirs, which stays in the page's memory.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from opendance.domain import pricing
from opendance.domain.presets import ASPECT_RATIOS
from opendance.services.web_sessions import playground_key
from opendance.web.common import app_ctx, current_session
from opendance.web.render import render

PROMPT_LIMIT = 2000


async def playground(request: Request) -> Response:
    ctx = app_ctx(request)
    capabilities = await ctx.fleet.current()
    session = await current_session(request)
    key_secret = None
    if session is not None:
        _key_id, key_secret = await playground_key(ctx, session)
    config = {
        "prices": {f"{r}|{d}|{int(a)}": p for (r, d, a), p in pricing.PRICES.items()},
        "usdPerCredit": pricing.USD_PER_CREDIT,
        "baseUrl": ctx.settings.resolved_public_url,
        "promptLimit": PROMPT_LIMIT,
        "audio": capabilities.audio,
        "imageToVideo": capabilities.image_to_video,
    }
    return render(
        request,
        "playground.html",
        cookie_value=session.token if session else None,
        session=session,
        key_secret=key_secret,
        aspect_ratios=ASPECT_RATIOS,
        prompt_limit=PROMPT_LIMIT,
        # "<" escaped: the JSON sits in a <script> element and must not be able to close it
        config_json=json.dumps(config).replace("<", "\\u003c"),
        audio_supported=capabilities.audio,
        image_supported=capabilities.image_to_video,
    )
