"""The engine's child process logs in the worker's format: with ``log_format=json`` its records
(a failed render's traceback included) are JSON lines on the stderr it shares with the worker."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from opendance.domain.spec import GenerationSpec
from opendance.engines.base import EngineError
from opendance.worker.control import RunControl
from opendance.worker.host import ProcessHost
from opendance.worker.model_process import INTERNAL_MESSAGE
from tests.conftest import make_settings

SPEC = GenerationSpec(
    prompt="p", aspect_ratio="1:1", resolution="480p", duration=4,
    generate_audio=False, fixed_lens=False, seed=1,
)  # fmt: skip


def test_the_engine_process_writes_json_records(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, engine_process="process", log_format="json")
    host = ProcessHost(settings)
    host.start()
    try:
        # a directory that does not exist: the encoder fails inside the child, unexpectedly
        with pytest.raises(EngineError, match=re.escape(INTERNAL_MESSAGE)):
            host.render(SPEC, tmp_path / "no-such-dir" / "out.mp4", RunControl())
    finally:
        host.close()
    err = capfd.readouterr().err
    records = [json.loads(line) for line in err.splitlines()]  # every line is JSON
    [failure] = [r for r in records if r["logger"] == "opendance.engine_process"]
    assert failure["level"] == "error" and failure["message"] == "render failed"
    assert failure["exc_info"].startswith("Traceback (most recent call last):")
