"""wait(): backoff, jitter and an overall deadline; download(): streaming to disk. Scripted
answers and a fake clock: nothing here really waits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from opendance.client import (
    Client,
    DownloadProgress,
    PollPolicy,
    RetryPolicy,
    TaskStatus,
    TransportError,
    VideoNotReady,
    WaitTimeout,
)
from tests.client.fakes import (
    BASE,
    KEY,
    FakeTime,
    Script,
    api_error,
    envelope,
    scripted_client,
    task_data,
)


def test_wait_backs_off_and_returns_the_finished_task() -> None:
    client, script, time = scripted_client(
        envelope(task_data(progress=0)),
        envelope(task_data(progress=0)),
        envelope(task_data(progress=40)),
        envelope(task_data(progress=80)),
        envelope(task_data("SUCCESS", 100)),
    )
    seen: list[tuple[str, int | None]] = []
    task = client.wait("task_1", on_update=lambda t: seen.append((t.status, t.progress)))
    assert task.status is TaskStatus.SUCCESS and task.consumed_credits == 8
    assert [progress for _, progress in seen] == [0, 0, 40, 80, 100]
    assert [status for status, _ in seen] == ["IN_PROGRESS"] * 4 + ["SUCCESS"]
    assert time.sleeps == pytest.approx([1.0, 1.5, 2.25, 3.375])
    assert len(script.requests) == 5


def test_wait_returns_a_failed_task_rather_than_raising() -> None:
    client, _, _ = scripted_client(envelope(task_data("FAILED", consumed_credits=0)))
    task = client.wait("task_1")
    assert task.failed and task.error_message == "engine failed" and task.video_url is None


def test_wait_never_polls_past_its_deadline() -> None:
    time = FakeTime()
    client, script, _ = scripted_client(envelope(task_data(progress=10)), time=time)
    start = time.now
    with pytest.raises(WaitTimeout) as caught:
        client.wait("task_1", timeout=30, poll=2)
    assert caught.value.task_id == "task_1" and caught.value.task.progress == 10
    assert time.now - start == pytest.approx(30)  # the last poll is at the deadline, not after
    assert max(time.sleeps) <= 10
    assert "still IN_PROGRESS after 30 s" in str(caught.value)
    assert len(script.requests) == len(time.sleeps) + 1


def test_poll_intervals_are_capped_and_jittered() -> None:
    time = FakeTime()
    values = iter([0.0, 1.0] * 50)
    client = Client(
        BASE,
        KEY,
        transport=Script([envelope(task_data())]).transport,
        polling=PollPolicy(poll=4, max_poll=8, jitter=0.25),
        sleep=time.sleep,
        clock=time.clock,
        random=lambda: next(values),
    )
    with pytest.raises(WaitTimeout):
        client.wait("task_1", timeout=60)
    assert time.sleeps[:4] == [3.0, 7.5, 6.0, 10.0]
    assert all(s <= 10.0 for s in time.sleeps)


def test_retries_inside_wait_respect_the_deadline() -> None:
    time = FakeTime()
    client, script, _ = scripted_client(
        envelope(task_data()),
        api_error(429, "RATE_LIMITED", "slow down", **{"Retry-After": "50"}),
        time=time,
        retry=RetryPolicy(jitter=0),
    )
    start = time.now
    with pytest.raises(Exception, match="slow down"):
        client.wait("task_1", timeout=20)
    assert time.now - start <= 20
    assert len(script.requests) == 2


def test_download_streams_to_disk_with_progress(tmp_path: Path) -> None:
    video = bytes(range(256)) * 1000

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/status":
            return envelope(task_data("SUCCESS", 100))
        assert request.headers["authorization"] == f"Bearer {KEY}"  # same origin as the API
        return httpx.Response(200, content=video, headers={"content-type": "video/mp4"})

    client, script, _ = scripted_client(answer)
    progress: list[DownloadProgress] = []
    path = client.download("task_1", tmp_path / "out" / "v.mp4", on_progress=progress.append)
    assert path.read_bytes() == video
    assert progress[0] == DownloadProgress(0, len(video))
    assert progress[-1] == DownloadProgress(len(video), len(video))
    assert len(progress) > 2 and [p.downloaded for p in progress] == sorted(
        p.downloaded for p in progress
    )
    assert [r.url.path for r in script.requests] == ["/v1/status", "/files/v.mp4"]
    assert not list(tmp_path.glob("out/*.part"))


def test_download_from_another_origin_does_not_send_the_api_key(tmp_path: Path) -> None:
    client, script, _ = scripted_client(httpx.Response(200, content=b"mp4"))
    client.download("https://cdn.example/v.mp4?sig=1", tmp_path / "v.mp4")
    (request,) = script.requests
    assert "authorization" not in request.headers


def test_download_retries_server_errors_then_writes_the_file(tmp_path: Path) -> None:
    client, script, time = scripted_client(
        httpx.Response(503, text="busy"),
        httpx.ConnectError("refused"),
        httpx.Response(200, content=b"video-bytes"),
    )
    path = client.download(f"{BASE}/files/v.mp4", tmp_path / "v.mp4")
    assert path.read_bytes() == b"video-bytes" and len(script.requests) == 3
    assert time.sleeps == [0.5, 1.0]


def test_download_of_an_unfinished_or_failed_task_says_why(tmp_path: Path) -> None:
    client, _, _ = scripted_client(envelope(task_data(progress=30)))
    with pytest.raises(VideoNotReady, match="still IN_PROGRESS"):
        client.download("task_1", tmp_path / "v.mp4")
    client, _, _ = scripted_client(envelope(task_data("FAILED")))
    with pytest.raises(VideoNotReady, match="failed: engine failed"):
        client.download("task_1", tmp_path / "v.mp4")
    assert not (tmp_path / "v.mp4").exists()


def test_a_truncated_download_leaves_no_file(tmp_path: Path) -> None:
    short = httpx.Response(200, content=b"abc", headers={"content-length": "10"})
    client, _, _ = scripted_client(short)
    with pytest.raises(TransportError, match="3 of 10 bytes"):
        client.download(f"{BASE}/files/v.mp4", tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_download_refused_with_an_envelope_raises_its_api_error(tmp_path: Path) -> None:
    client, _, _ = scripted_client(api_error(404, "NOT_FOUND", "no such file"))
    with pytest.raises(Exception, match="no such file") as caught:
        client.download(f"{BASE}/files/v.mp4", tmp_path / "v.mp4")
    assert getattr(caught.value, "error", None) == "NOT_FOUND"
