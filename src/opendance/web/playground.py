"""The API playground: a form over every /v1/generate field that submits through the public API
from the browser, with one of the user's keys, and shows the same request in every dialect the
server speaks: curl for the Seedance, OpenAI Videos and Ark APIs, and Python for our SDK and the
``openai`` SDK (``static/playground.js`` writes them; this module gives it what the server
knows: prices, the OpenAI size of each preset, the base URL).

Signed in, the page brings the session's own playground key (see ``web_sessions``), so nothing
needs to be copied; anyone may instead paste a key of theirs, which stays in the page's memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from opendance.domain import output_sizes, pricing
from opendance.domain.presets import ASPECT_RATIOS, RESOLUTIONS, frame_size
from opendance.services import ark_objects, openai_videos
from opendance.services.web_sessions import playground_key
from opendance.web.common import app_ctx, current_session
from opendance.web.render import render

PROMPT_LIMIT = 2000
# The model names the snippets send: the names the OpenAI and Ark doors show for a task that
# names none (sora-2 is the OpenAI SDK's own default too). Both doors echo the name a client
# sends; neither picks an engine by it.
OPENAI_MODEL = openai_videos.DEFAULT_MODEL
ARK_MODEL = ark_objects.DEFAULT_MODEL


@dataclass(frozen=True)
class SnippetTab:
    id: str
    label: str
    hint: str
    row_end: bool = False
    """The last tab of its row: the curl tabs, then the Python ones."""


SNIPPET_TABS = (
    SnippetTab("curl", "curl · Seedance", "POST /v1/generate with a JSON body."),
    SnippetTab(
        "curl-openai",
        "curl · OpenAI",
        "POST /v1/videos as multipart form fields, as the openai SDK sends it; the extras "
        "(audio, fixed lens, seed, callback) are form fields too. Free text goes as "
        "--form-string: curl would read a file for a -F value starting with @ or <.",
    ),
    SnippetTab(
        "curl-ark",
        "curl · Ark",
        "POST /api/v3/contents/generations/tasks: the prompt and the first frame go in content.",
        row_end=True,
    ),
    SnippetTab(
        "python-opendance",
        "Python · Opendance SDK",
        "opendance.client, the SDK that comes with this server: generate, wait and download.",
    ),
    SnippetTab(
        "python-openai",
        "Python · openai SDK",
        "pip install openai: the official SDK with its base_url on this server.",
    ),
    SnippetTab("json-body", "JSON body", "The body of POST /v1/generate alone."),
)


def openai_size(aspect_ratio: str, resolution: str) -> str:
    """The OpenAI ``size`` (``WxH``) of a preset: the size OpenAI clients know (``1280x720``,
    ``854x480``, …) where the door makes it with this preset, else the preset's own frame size
    (960x960 for 1:1 720p), which the door takes as it is."""
    for size in output_sizes.COMMON_SIZES:
        parsed = output_sizes.parse_size(size)
        choice = output_sizes.choose_preset(*parsed) if parsed else None
        if choice is not None and (choice.aspect_ratio, choice.resolution) == (
            aspect_ratio,
            resolution,
        ):
            return size
    return output_sizes.size_text(frame_size(aspect_ratio, resolution))


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
        "openaiSizes": {f"{a}|{r}": openai_size(a, r) for a in ASPECT_RATIOS for r in RESOLUTIONS},
        "models": {"openai": OPENAI_MODEL, "ark": ARK_MODEL},
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
        snippet_tabs=SNIPPET_TABS,
    )
