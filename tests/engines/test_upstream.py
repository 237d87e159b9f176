"""The upstream engine against a scripted Seedance-compatible API on loopback (a real HTTP
server): what it sends, how it waits and retries, how failures read, and what it publishes."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from opendance.domain.spec import GenerationSpec
from opendance.engines.base import EncodedVideo, EngineCapabilities, EngineError, GenerationResult
from opendance.engines.registry import capabilities_for, create_engine
from opendance.engines.upstream import UpstreamEngine, UpstreamNotConfigured
from opendance.engines.upstream.config import UpstreamConfig
from opendance.media.probe import check_output, probe_mp4
from opendance.net import AddressPolicy, StaticResolver
from opendance.settings import Settings
from opendance.worker.control import RenderCancelled, RunControl
from opendance.worker.render import render_to_file
from tests.engines.upstream_videos import GREEN, make_mp4, read_timecode
from tests.net.servers import ConnectionSink, free_port
from tests.support.media import decoded_frames
from tests.support.upstream import (
    FakeUpstream,
    accepted,
    error,
    failed,
    http,
    in_progress,
    succeeded,
)

KEY = "sk-operator-secret-123"


@pytest.fixture
def fake() -> FakeUpstream:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("videos")
    made = {
        # exactly what the contract asks for 16:9 480p 4 s with audio
        "conforming": make_mp4(
            root / "c.mp4", width=864, height=480, fps=24, seconds=4, audio=True
        ),
        # what another service might send: 720p at 30 fps, 5 s, 44.1 kHz mono audio
        "hd30": make_mp4(
            root / "h.mp4", width=1280, height=720, fps=30, seconds=5, audio=True, timecoded=True
        ),
        "silent": make_mp4(root / "s.mp4", width=864, height=480, fps=24, seconds=4, audio=False),
        "short": make_mp4(root / "t.mp4", width=864, height=480, fps=24, seconds=2, audio=True),
    }
    return {name: path.read_bytes() for name, path in made.items()}


def spec(**overrides: object) -> GenerationSpec:
    values: dict[str, object] = {
        "prompt": "a red kite over the dunes",
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "duration": 4,
        "generate_audio": True,
        "fixed_lens": False,
        "seed": 4242,
    }
    values.update(overrides)
    return GenerationSpec(**values)  # type: ignore[arg-type]


def engine(
    url: str,
    tmp_path: Path,
    *,
    timeout: float = 20.0,
    policy: AddressPolicy | None = None,
    resolver: StaticResolver | None = None,
    max_video_bytes: int | None = None,
) -> UpstreamEngine:
    extra = {"max_video_bytes": max_video_bytes} if max_video_bytes else {}
    return UpstreamEngine(
        UpstreamConfig(base_url=url, api_key=KEY, timeout_seconds=timeout, poll_seconds=0.05),
        EngineCapabilities(audio=True, image_to_video=True),
        scratch_root=tmp_path / "work",
        policy=policy or AddressPolicy.default(),
        resolver=resolver or StaticResolver({}),
        **extra,
    )


def generate(
    eng: UpstreamEngine, s: GenerationSpec | None = None
) -> EncodedVideo | GenerationResult:
    return eng.generate(s or spec(), lambda _fraction: None)


def failure(eng: UpstreamEngine, s: GenerationSpec | None = None) -> str:
    with pytest.raises(EngineError) as caught:
        generate(eng, s)
    return str(caught.value)


def assert_discreet(message: str, fake: FakeUpstream) -> None:
    """Nothing a client should not learn about the operator's upstream."""
    assert KEY not in message
    assert fake.url not in message and "127.0.0.1" not in message
    assert str(fake.server.server_port) not in message if fake.server else True


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({}, "OPENDANCE_UPSTREAM_URL and OPENDANCE_UPSTREAM_API_KEY"),
        ({"upstream_url": "https://api.example.com"}, "OPENDANCE_UPSTREAM_API_KEY"),
        ({"upstream_api_key": KEY}, "OPENDANCE_UPSTREAM_URL"),
    ],
)
def test_create_refuses_without_url_or_key(
    tmp_path: Path, overrides: dict[str, str], missing: str
) -> None:
    settings = Settings(data_dir=tmp_path, engine="upstream", **overrides)  # type: ignore[arg-type]
    with pytest.raises(UpstreamNotConfigured, match=f"needs {missing}:"):
        create_engine(settings)


def test_create_refuses_a_url_that_is_not_http(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, engine="upstream", upstream_url="ftp://x", upstream_api_key=KEY
    )  # type: ignore[call-arg]
    with pytest.raises(UpstreamNotConfigured, match="OPENDANCE_UPSTREAM_URL must be an http"):
        create_engine(settings)


def test_capabilities_are_what_the_operator_declares(tmp_path: Path) -> None:
    base = {"data_dir": tmp_path, "engine": "upstream"}
    assert capabilities_for(Settings(**base)) == EngineCapabilities(True, True)  # type: ignore[arg-type]
    limited = Settings(**base, upstream_audio=False, upstream_image_to_video=False)  # type: ignore[arg-type]
    assert capabilities_for(limited) == EngineCapabilities(False, False)


# --- what is sent, what comes back ------------------------------------------------------------


def test_a_conforming_video_is_published_byte_for_byte(
    fake: FakeUpstream, videos: dict[str, bytes], tmp_path: Path
) -> None:
    fake.files["/files/video.mp4"] = videos["conforming"]
    result = generate(engine(fake.url, tmp_path))
    assert isinstance(result, EncodedVideo)
    assert result.path.read_bytes() == videos["conforming"]
    [body] = fake.calls("POST", "/v1/generate")
    assert json.loads(body) == {
        "prompt": "a red kite over the dunes",
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "duration": "4",
        "generate_audio": True,
        "fixed_lens": False,
        "seed": 4242,
    }
    api_calls = [r for r in fake.requests if r[1].startswith("/v1/")]
    assert all(headers["authorization"] == f"Bearer {KEY}" for _, _, headers, _ in api_calls)
    # the key goes to the API only, never to a video URL
    [video_get] = [r for r in fake.requests if r[1] == "/files/video.mp4"]
    assert "authorization" not in video_get[2]
    assert fake.status_query()[0] == {"task_id": "up_1"}


def test_an_input_image_is_sent_inline_as_the_exact_first_frame(
    fake: FakeUpstream, videos: dict[str, bytes], tmp_path: Path
) -> None:
    fake.files["/files/video.mp4"] = videos["conforming"]
    rng = np.random.default_rng(7)
    first = rng.integers(0, 256, size=(480, 864, 3), dtype=np.uint8)
    generate(engine(fake.url, tmp_path), spec(first_frame=first))
    [body] = fake.calls("POST", "/v1/generate")
    [url] = json.loads(body)["image_urls"]
    assert url.startswith("data:image/png;base64,")
    png = base64.b64decode(url.split(",", 1)[1])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), first)


def test_other_geometry_is_resized_resampled_and_reencoded(
    fake: FakeUpstream, videos: dict[str, bytes], tmp_path: Path
) -> None:
    """1280x720 at 30 fps, 5 s, mono 44.1 kHz -> 640x640 (1:1 480p), 24 fps, 96 frames, AAC."""
    fake.files["/files/video.mp4"] = videos["hd30"]
    square = spec(aspect_ratio="1:1")
    eng = engine(fake.url, tmp_path)
    result = generate(eng, square)
    assert isinstance(result, GenerationResult) and result.frame_count == 96
    assert result.audio is not None and result.audio.sample_rate == 48_000
    # the worker's own path: encode, then the contract check every video passes
    out = tmp_path / "out.mp4"
    rendered = render_to_file(_Returns(result), square, out, RunControl())
    probe = probe_mp4(rendered.video_path)
    assert check_output(probe, width=640, height=640, fps=24, frame_count=96, audio=True) == []
    frames = decoded_frames(out)
    # time: output frame i shows the source frame on screen at i/24 s, i.e. number floor(1.25 i)
    assert [read_timecode(f) for f in frames] == [i * 30 // 24 for i in range(96)]
    # space: covered and centre-cropped, the red and blue side bands are gone, the green strip
    # that starts at the crop's left edge is there
    first = frames[0].astype(int)
    assert np.abs(first[:, :25].reshape(-1, 3).mean(0) - GREEN).max() < 20
    for colour_column in (first[:, 45], first[:, -5]):
        assert (np.abs(colour_column - 128).max(axis=1) < 40).mean() > 0.95
    assert list((tmp_path / "work").rglob("*.mp4")) == []  # the download was cleaned up


class _Returns:
    """An engine that hands back a result already made (to run the worker's render on it)."""

    name = "fixed"
    capabilities = EngineCapabilities(audio=True, image_to_video=True)

    def __init__(self, result: GenerationResult) -> None:
        self.result = result

    def generate(self, spec: GenerationSpec, on_progress: object) -> GenerationResult:
        return self.result


def test_upstream_progress_is_reported(
    fake: FakeUpstream, videos: dict[str, bytes], tmp_path: Path
) -> None:
    fake.files["/files/video.mp4"] = videos["conforming"]
    fake.status = [in_progress(10), in_progress(60), succeeded()]
    seen: list[float] = []
    engine(fake.url, tmp_path).generate(spec(), seen.append)
    assert seen == sorted(seen) and seen[0] == 0.0
    assert {0.09, 0.54}.issubset({round(f, 2) for f in seen}) and seen[-1] == 0.95


# --- retries ---------------------------------------------------------------------------------


def test_status_polls_survive_5xx_and_honour_retry_after(
    fake: FakeUpstream, videos: dict[str, bytes], tmp_path: Path
) -> None:
    fake.files["/files/video.mp4"] = videos["conforming"]
    fake.status = [http(503), http(500, b"<html>"), http(429, Retry_After="1"), succeeded()]
    started = time.monotonic()
    assert isinstance(generate(engine(fake.url, tmp_path)), EncodedVideo)
    assert time.monotonic() - started >= 1.0
    assert len(fake.status_query()) == 4
    assert len(fake.calls("POST", "/v1/generate")) == 1


def test_a_rate_limited_submit_is_sent_again(
    fake: FakeUpstream, videos: dict[str, bytes], tmp_path: Path
) -> None:
    fake.files["/files/video.mp4"] = videos["conforming"]
    fake.submit = [error(429, "RATE_LIMITED", "slow down"), accepted()]
    assert isinstance(generate(engine(fake.url, tmp_path)), EncodedVideo)
    assert len(fake.calls("POST", "/v1/generate")) == 2


@pytest.mark.parametrize(
    "answer",
    [http(500), http(502, b"bad gateway"), http(200, b"{oops")],
    ids=["500", "502", "200-not-json"],
)
def test_an_unconfirmed_submit_is_not_sent_again(
    fake: FakeUpstream, tmp_path: Path, answer: object
) -> None:
    fake.submit = [answer]  # type: ignore[list-item]
    message = failure(engine(fake.url, tmp_path))
    assert "upstream service" in message
    assert len(fake.calls("POST", "/v1/generate")) == 1  # the upstream may have charged it
    assert fake.status_query() == []


# --- failures, as the client reads them -------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            error(402, "INSUFFICIENT_CREDITS", "balance 3 below price 14"),
            "the upstream service does not have enough credits for this task",
        ),
        (
            error(401, "INVALID_API_KEY", f"key {KEY} unknown"),
            "the upstream service did not accept this server's credentials",
        ),
        (error(403, "FORBIDDEN", "no"), "the upstream service did not accept this server's"),
        (
            error(400, "UNSUPPORTED_OPTION", "generate_audio is not supported here"),
            "the upstream service rejected the request "
            "(UNSUPPORTED_OPTION: generate_audio is not supported here)",
        ),
        (http(418, b"teapot"), "the upstream service refused the task (HTTP 418)"),
    ],
    ids=["402", "401", "403", "400", "418"],
)
def test_submit_refusals_are_explained_without_the_operator_details(
    fake: FakeUpstream, tmp_path: Path, answer: object, expected: str
) -> None:
    fake.submit = [answer]  # type: ignore[list-item]
    message = failure(engine(fake.url, tmp_path))
    assert message.startswith(expected), message
    assert_discreet(message, fake)
    assert len(fake.calls("POST", "/v1/generate")) == 1


def test_a_failed_upstream_task_carries_its_reason(fake: FakeUpstream, tmp_path: Path) -> None:
    fake.status = [in_progress(30), failed(f"GPU out of memory at {fake.url}/node7 (key {KEY})")]
    message = failure(engine(fake.url, tmp_path))
    assert message == (
        "the upstream service could not generate the video: "
        "GPU out of memory at [upstream]/node7 (key [upstream])"
    )


def test_a_task_the_upstream_forgot_fails(fake: FakeUpstream, tmp_path: Path) -> None:
    fake.status = [error(404, "TASK_NOT_FOUND", "task not found")]
    assert failure(engine(fake.url, tmp_path)) == "the upstream service no longer knows the task"


def test_success_without_a_video_url_fails(fake: FakeUpstream, tmp_path: Path) -> None:
    fake.status = [succeeded(url="")]
    assert "does not understand" in failure(engine(fake.url, tmp_path))


def test_the_deadline_covers_a_task_that_never_finishes(fake: FakeUpstream, tmp_path: Path) -> None:
    fake.status = [in_progress(5)]
    started = time.monotonic()
    message = failure(engine(fake.url, tmp_path, timeout=0.6))
    assert message == "the upstream service did not finish the video within 0.6 s (timed out)"
    assert time.monotonic() - started < 2


def test_the_deadline_covers_an_upstream_that_keeps_failing(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    fake.status = [http(503)]
    assert "(timed out)" in failure(engine(fake.url, tmp_path, timeout=0.6))


def test_an_unreachable_upstream_fails_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    url = f"http://127.0.0.1:{free_port()}"
    assert failure(engine(url, tmp_path)) == "the upstream service is unreachable"
    assert time.monotonic() - started < 5


def test_a_cancelled_task_stops_polling(fake: FakeUpstream, tmp_path: Path) -> None:
    fake.status = [in_progress(20)]
    control = RunControl()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            engine(fake.url, tmp_path).generate(spec(), control.report)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while len(fake.status_query()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    control.cancel("the lease was lost")
    thread.join(2)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], RenderCancelled)
    polls = len(fake.status_query())
    time.sleep(0.4)
    assert len(fake.status_query()) == polls


# --- the video download ----------------------------------------------------------------------


def test_a_video_on_another_host_is_fetched_under_the_ssrf_policy(
    fake: FakeUpstream, videos: dict[str, bytes], tmp_path: Path
) -> None:
    port = fake.server.server_port if fake.server else 0
    fake.files["/cdn/v.mp4"] = videos["conforming"]
    fake.status = [succeeded(url=f"http://cdn.test:{port}/cdn/v.mp4")]
    resolver = StaticResolver({"cdn.test": ["127.0.0.1"]})
    # the test's stand-in for a public CDN is 127.0.0.1, carved out of the block list
    allowed = engine(
        fake.url, tmp_path, policy=AddressPolicy.default(allow=["127.0.0.1/32"]), resolver=resolver
    )
    assert isinstance(generate(allowed), EncodedVideo)
    # under the production policy the same URL leads to loopback and is refused
    refused = failure(engine(fake.url, tmp_path, resolver=resolver))
    assert refused == (
        "the finished video could not be fetched from the upstream service: "
        "its URL is not publicly reachable"
    )


def test_a_redirect_off_the_upstream_origin_is_checked_again(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    sink = ConnectionSink("127.0.0.2")
    try:
        fake.redirects["/files/video.mp4"] = f"http://127.0.0.2:{sink.port}/metadata"
        message = failure(engine(fake.url, tmp_path))
        assert message.endswith("its URL is not publicly reachable")
        assert "127.0.0.2" not in message
        assert sink.connections() == 0
    finally:
        sink.close()


def test_a_redirect_within_the_upstream_origin_is_followed(
    fake: FakeUpstream, videos: dict[str, bytes], tmp_path: Path
) -> None:
    fake.redirects["/files/video.mp4"] = "/files/real.mp4"
    fake.files["/files/real.mp4"] = videos["conforming"]
    assert isinstance(generate(engine(fake.url, tmp_path)), EncodedVideo)


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        (None, "the finished video could not be fetched from the upstream service: HTTP 404"),
        (b"<html>not a video</html>", "returned a video that cannot be read"),
        ("silent", "returned a video without the requested audio"),
        ("short", "returned a 2.0 s video for a 4 s request"),
    ],
    ids=["missing", "not-a-video", "no-audio", "too-short"],
)
def test_unusable_videos_fail_clearly(
    fake: FakeUpstream,
    videos: dict[str, bytes],
    tmp_path: Path,
    served: bytes | str | None,
    expected: str,
) -> None:
    if served is not None:
        fake.files["/files/video.mp4"] = videos[served] if isinstance(served, str) else served
    message = failure(engine(fake.url, tmp_path))
    assert expected in message
    assert list((tmp_path / "work").rglob("*.mp4")) == []


def test_the_download_is_bounded_in_size(
    fake: FakeUpstream, videos: dict[str, bytes], tmp_path: Path
) -> None:
    fake.files["/files/video.mp4"] = videos["conforming"]
    message = failure(engine(fake.url, tmp_path, max_video_bytes=10_000))
    assert message.endswith("the video is larger than 10000 bytes")
    assert list((tmp_path / "work").rglob("*.mp4")) == []
