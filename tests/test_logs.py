"""The JSON log format: one object per line, the fields a log collector indexes."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from opendance import logs
from tests.conftest import make_settings
from tests.support.live import LiveServer

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@contextmanager
def _configured(log_format: str) -> Iterator[io.StringIO]:
    """This process's logging as ``opendance serve`` sets it up, into a buffer; restored
    afterwards (pytest's own capture handlers included)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    stream = io.StringIO()
    logs.configure_logging("debug", log_format)
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        logging.captureWarnings(False)
        sys.excepthook, threading.excepthook = hooks
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    with _configured("json") as stream:
        yield stream


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_is_one_line_with_time_level_logger_message(json_lines: io.StringIO) -> None:
    logging.getLogger("opendance.test").info("hello %s\nsecond line", "there")
    [record] = _records(json_lines)
    assert RFC3339_UTC.match(record["ts"]), record["ts"]
    assert record["level"] == "info"
    assert record["logger"] == "opendance.test"
    assert record["message"] == "hello there\nsecond line"
    assert len(json_lines.getvalue().splitlines()) == 1


def test_extra_fields_and_the_request_id_are_fields(json_lines: io.StringIO) -> None:
    log = logging.getLogger("opendance.worker")
    log.info("claimed", extra={"task_id": "task_1", "worker_id": "w:1", "attempt": 2})
    token = logs.request_id_var.set("req-42")
    try:
        log.warning("inside a request")
    finally:
        logs.request_id_var.reset(token)
    log.info("outside again")
    claimed, inside, outside = _records(json_lines)
    assert (claimed["task_id"], claimed["worker_id"], claimed["attempt"]) == ("task_1", "w:1", 2)
    assert "request_id" not in claimed
    assert inside["request_id"] == "req-42" and inside["level"] == "warning"
    assert "request_id" not in outside
    # nothing of the LogRecord's own attributes leaks in
    assert not {"args", "msg", "pathname", "lineno", "process"} & set(claimed)


def test_an_uncaught_exception_in_a_thread_is_a_record(json_lines: io.StringIO) -> None:
    def crash() -> None:
        raise RuntimeError("thread died")

    thread = threading.Thread(target=crash, name="doomed")
    thread.start()
    thread.join()
    [record] = _records(json_lines)
    assert record["level"] == "critical" and "doomed" in record["message"]
    assert "RuntimeError: thread died" in record["exc_info"]


def test_exc_info_is_one_string(json_lines: io.StringIO) -> None:
    try:
        raise ValueError("broken on purpose")
    except ValueError:
        logging.getLogger("opendance.api").exception("it failed")
    [record] = _records(json_lines)
    assert record["level"] == "error"
    assert isinstance(record["exc_info"], str)
    assert record["exc_info"].startswith("Traceback (most recent call last):")
    assert "ValueError: broken on purpose" in record["exc_info"]


def test_values_json_cannot_hold_are_written_as_text(json_lines: io.StringIO) -> None:
    logging.getLogger("opendance.test").info("odd", extra={"path": object(), "n": {1, 2}})
    [record] = _records(json_lines)
    assert record["path"].startswith("<object object")
    assert isinstance(record["n"], str)


def test_uvicorn_and_warnings_go_through_the_same_handler(json_lines: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").info(
        "Started server process [1]", extra={"color_message": "Started \x1b[36m1\x1b[0m"}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("something is deprecated", DeprecationWarning, stacklevel=1)
    started, warned = _records(json_lines)
    assert started["logger"] == "uvicorn.error" and started["message"].startswith("Started")
    assert "color_message" not in started  # uvicorn's copy with terminal colour codes
    assert warned["logger"] == "py.warnings" and "something is deprecated" in warned["message"]


def test_text_stays_the_default_line_format() -> None:
    with _configured("text") as stream:
        logging.getLogger("opendance.test").info("plain", extra={"task_id": "t"})
        assert not logs.json_logging_enabled()
    assert re.match(r"^\d{4}-\d{2}-\d{2} [\d:,]+ INFO    opendance.test: plain$", stream.getvalue())


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text or json"):
        logs.configure_logging("info", "yaml")


@pytest.mark.parametrize("smuggled", ["%0a", "%0d%0a", "%00", "%1b[2J"])
def test_a_request_path_cannot_forge_a_text_log_line(tmp_path: Path, smuggled: str) -> None:
    """The access line shows the decoded path; a newline (or a NUL, or a terminal escape)
    in it must come out escaped, not as a second line that looks like the server's own."""
    forged = "2099-01-01 00:00:00,000 INFO    opendance.access: 10.0.0.1 forged"
    live = LiveServer(make_settings(tmp_path), with_worker=False).start()
    try:
        with _configured("text") as stream, live.client() as client:
            logging.getLogger().setLevel("INFO")
            client.get(f"/healthz{smuggled}{quote(forged)}")
            client.get("/healthz")  # a line after it: the request above is logged by then
        lines = stream.getvalue().splitlines()
    finally:
        live.stop()
    access = [line for line in lines if " opendance.access: " in line]
    assert len(access) == 2, lines
    line_start = re.compile(r"^\d{4}-\d{2}-\d{2} [\d:,]+ INFO    opendance\.access: ")
    assert all(line_start.match(line) for line in access)
    assert not any(line.startswith("2099-") for line in lines)
    assert all(x.isprintable() for x in lines)
    escaped = {"%0a": "\\n", "%0d%0a": "\\r\\n", "%00": "\\x00", "%1b[2J": "\\x1b[2J"}[smuggled]
    assert f"/healthz{escaped}2099-01-01" in access[0]
