"""What POST /v1/generate accepts comes from the fleet: what some one recently seen worker can
serve; before any worker has reported, the engine in the API's own settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from opendance.bootstrap import open_context
from opendance.engines.base import EngineCapabilities
from opendance.services.capacity import FleetCapabilities
from opendance.services.context import AppContext
from opendance.settings import Settings
from tests.conftest import make_settings
from tests.support import fleet
from tests.support.db import snapshot
from tests.support.live import LiveServer

AUDIO = {"prompt": "a bell in the valley", "generate_audio": True, "duration": 4}
IMAGE = {"prompt": "the wall glows", "image_urls": ["https://img.example/a.png"], "duration": 4}
PLAIN = {"prompt": "mountains", "duration": 4, "resolution": "480p"}
NO_AUDIO = "generate_audio is not available: the serving engine makes video without sound"
NO_IMAGE = "image_urls is not available: the serving engine makes text-to-video only"


@pytest.fixture
def api(api_only_server: LiveServer) -> LiveServer:
    # every test here changes the fleet while the API runs: no caching between requests
    assert api_only_server.ctx is not None
    api_only_server.ctx.fleet.cache_seconds = 0
    return api_only_server


@pytest.fixture
def client(api: LiveServer) -> Iterator[httpx.Client]:
    with api.client(api.create_account("mixer", 10_000)) as c:
        yield c


def _outcomes(client: httpx.Client) -> dict[str, Any]:
    """For each kind of request: accepted, or the refusal's code and message."""
    result: dict[str, Any] = {}
    for name, body in (("audio", AUDIO), ("image", IMAGE), ("plain", PLAIN)):
        response = client.post("/v1/generate", json=body)
        payload = response.json()
        if response.status_code == 200:
            result[name] = "accepted"
        else:
            assert response.status_code == 400 and payload["code"] == 400, payload
            result[name] = (payload["error"], payload["message"])
    return result


ACCEPT_ALL = {"audio": "accepted", "image": "accepted", "plain": "accepted"}


def test_without_any_worker_the_api_goes_by_its_own_engine(client: httpx.Client) -> None:
    assert _outcomes(client) == ACCEPT_ALL  # the preview engine does everything


def test_without_any_worker_an_api_configured_for_a_limited_engine_refuses_its_options(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        engine="upstream",
        upstream_url="http://127.0.0.1:9",
        upstream_api_key="k",
        upstream_audio=False,
    )
    live = LiveServer(settings, with_worker=False).start()
    try:
        with live.client(live.create_account("own", 100)) as client:
            outcomes = _outcomes(client)
    finally:
        live.stop()
    assert outcomes == {
        "audio": ("UNSUPPORTED_OPTION", NO_AUDIO),
        "image": "accepted",
        "plain": "accepted",
    }


def test_registered_workers_decide_together_whatever_the_api_runs(
    api: LiveServer, client: httpx.Client
) -> None:
    api.call(lambda c: fleet.register(c, "wan", audio=False, image_to_video=False))
    assert _outcomes(client) == {
        "audio": ("UNSUPPORTED_OPTION", NO_AUDIO),
        "image": ("UNSUPPORTED_OPTION", NO_IMAGE),
        "plain": "accepted",
    }
    # an LTX-2 worker with audio joins: its options are the fleet's too
    api.call(lambda c: fleet.register(c, "ltx2", audio=True, image_to_video=False))
    assert _outcomes(client)["audio"] == "accepted"
    assert _outcomes(client)["image"] == ("UNSUPPORTED_OPTION", NO_IMAGE)
    # one still loading its model counts: the task waits in the queue until it is up
    api.call(lambda c: fleet.register(c, "i2v", audio=False, image_to_video=True, state="loading"))
    assert _outcomes(client) == ACCEPT_ALL


BOTH = {**AUDIO, "image_urls": IMAGE["image_urls"]}
NO_BOTH = (
    "generate_audio with image_urls is not available: no worker makes sound for "
    "image-to-video; send one of them"
)


def test_sound_and_an_image_need_one_worker_that_does_both(
    api: LiveServer, client: httpx.Client
) -> None:
    api.call(lambda c: fleet.register(c, "wan-audio", audio=True, image_to_video=False))
    api.call(lambda c: fleet.register(c, "wan-i2v", audio=False, image_to_video=True))
    assert _outcomes(client) == ACCEPT_ALL  # each option alone has its worker
    before = api.call(snapshot)
    both = client.post("/v1/generate", json=BOTH)
    assert both.status_code == 400, both.text
    assert (both.json()["error"], both.json()["message"]) == ("UNSUPPORTED_OPTION", NO_BOTH)
    assert api.call(snapshot) == before  # refused before anything is charged or stored
    api.call(lambda c: fleet.register(c, "ltx2", audio=True, image_to_video=True))
    assert client.post("/v1/generate", json=BOTH).status_code == 200


def test_a_refused_option_changes_nothing(api: LiveServer, client: httpx.Client) -> None:
    api.call(lambda c: fleet.register(c, "t2v", audio=False, image_to_video=False))
    before = api.call(snapshot)
    assert client.post("/v1/generate", json=AUDIO).status_code == 400
    assert client.post("/v1/generate", json=IMAGE).status_code == 400
    assert api.call(snapshot) == before


def test_workers_not_seen_recently_are_forgotten(api: LiveServer, client: httpx.Client) -> None:
    seen = api.settings.worker_seen_seconds
    api.call(lambda c: fleet.register(c, "quiet", audio=False, image_to_video=False))
    api.call(lambda c: fleet.register(c, "loud", audio=True, image_to_video=True))
    assert _outcomes(client) == ACCEPT_ALL
    api.call(lambda c: fleet.silence(c, "loud", seconds=seen + 1))
    assert _outcomes(client) == {
        "audio": ("UNSUPPORTED_OPTION", NO_AUDIO),
        "image": ("UNSUPPORTED_OPTION", NO_IMAGE),
        "plain": "accepted",
    }
    # the whole fleet silent: back to the API's own engine, as before any worker came up
    api.call(lambda c: fleet.silence(c, "quiet", seconds=seen + 1))
    assert _outcomes(client) == ACCEPT_ALL


def test_readyz_says_what_the_ready_workers_serve(api: LiveServer) -> None:
    api.call(lambda c: fleet.register(c, "t2v", audio=False, image_to_video=False))
    api.call(lambda c: fleet.register(c, "big", audio=True, image_to_video=True, state="loading"))
    with api.client() as client:
        loading = client.get("/readyz").json()["data"]
        api.call(lambda c: fleet.register(c, "big", audio=True, image_to_video=True))
        ready = client.get("/readyz").json()["data"]
    assert (loading["workers"], loading["audio"], loading["image_to_video"]) == (1, False, False)
    assert (ready["workers"], ready["audio"], ready["image_to_video"]) == (2, True, True)


def test_the_playground_offers_what_the_fleet_serves(api: LiveServer) -> None:
    with api.client() as client:
        before = client.get("/playground", headers={"Accept": "text/html"}).text
        api.call(lambda c: fleet.register(c, "t2v", audio=False, image_to_video=False))
        after = client.get("/playground", headers={"Accept": "text/html"}).text
    assert 'id="audio-off"' not in before
    assert 'id="audio-off"' in after


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    context = await open_context(settings)
    yield context
    await context.close()


async def test_the_answer_is_cached_for_a_few_seconds(ctx: AppContext) -> None:
    """Submit is a hot path: the workers table is read once per cache period, not per request."""
    now = [100.0]
    caps = FleetCapabilities(
        ctx.db,
        fallback=EngineCapabilities(audio=True, image_to_video=True),
        seen_within=60,
        cache_seconds=5,
        clock=lambda: now[0],
    )
    reads = 0
    real_read = ctx.db.read

    def counting_read() -> Any:
        nonlocal reads
        reads += 1
        return real_read()

    ctx.db.read = counting_read  # type: ignore[method-assign]
    assert (await caps.current()).audio  # nobody registered: the fallback
    await fleet.register(ctx, "silent", audio=False, image_to_video=False)
    answers = [await caps.current() for _ in range(100)]
    assert all(answer.audio for answer in answers) and reads == 1
    now[0] += 5.1
    assert not (await caps.current()).audio and reads == 2
