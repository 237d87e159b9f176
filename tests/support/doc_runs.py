"""Running what the pages show against a real server: the curl walk-through (README.md and
docs/getting-started.md show the same one) and the Python examples."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.curl import parse_curl, send
from tests.support.doc_blocks import SHOWN_URL


def curl_walk_through(script: str, url: str, key: str) -> dict[str, Any]:
    """Run the walk-through's create and status commands (``$KEY`` set, the shown address
    replaced by ``url``), poll the status until the task ends, and check what the page
    promises: an H.264 MP4 with range support and a JPEG poster. The final status body."""
    commands = [
        command.replace(SHOWN_URL, url)
        for command in re.split(
            r"\n(?=curl )", re.sub(r"^(#.*|export .*)\n", "", script, flags=re.M)
        )
    ]
    assert len(commands) == 2, commands
    env = {"KEY": key}
    with httpx.Client(timeout=30) as http:
        created = send(parse_curl(commands[0], env), http)
        assert created.status_code == 200, created.text
        body = created.json()
        assert body["code"] == 200 and body["message"] == "success"
        assert body["data"]["status"] == "IN_PROGRESS"
        task_id = body["data"]["task_id"]

        status_command = parse_curl(commands[1].replace("task_…", task_id), env)
        deadline = time.monotonic() + 180
        while True:
            data: dict[str, Any] = send(status_command, http).json()["data"]
            if data["status"] != "IN_PROGRESS":
                break
            assert time.monotonic() < deadline, data
            time.sleep(0.5)
        assert data["status"] == "SUCCESS", data
        video_url = data["response"][0]
        assert video_url.startswith(url + "/files/videos/" + task_id)

        # an H.264 MP4 with range support, and a JPEG poster
        head = http.get(video_url, headers={"Range": "bytes=0-11"})
        assert head.status_code == 206 and head.content[4:8] == b"ftyp"
        poster = http.get(data["poster_url"])
        assert poster.status_code == 200 and poster.content[:3] == b"\xff\xd8\xff"
    return data


def run_python(source: str, name: str, **names: Any) -> dict[str, Any]:
    """Execute an example as a script would run it (``names`` predefined); its globals."""
    namespace: dict[str, Any] = {"__name__": "__main__", **names}
    exec(compile(source, name, "exec"), namespace)  # noqa: S102 - the page's own example
    return namespace


def is_mp4(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[4:8] == b"ftyp"
