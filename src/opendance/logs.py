"""Logging for every Opendance process: readable lines (``text``) or one JSON object per line
(``json``) for log collectors.

A JSON line carries ``ts`` (RFC 3339, UTC), ``level``, ``logger`` and ``message``, then every
field the call passed as ``extra=`` (``task_id``, ``worker_id``, ``delivery_id``, ...), the
``request_id`` of the HTTP request being served, and ``exc_info`` as one string. Uvicorn's
loggers and Python warnings go through the same handler, so a process writes nothing else to
stderr.
"""

from __future__ import annotations

import logging
import sys
import threading
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final

import orjson

TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_FORMATS: Final = ("text", "json")

# The id of the HTTP request this code runs for ("-" outside a request); the API's middleware
# sets it, and JSON lines logged while serving the request carry it.
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# Everything a LogRecord has by itself; whatever else is on a record came in through ``extra=``
# (but uvicorn's color_message: the message again, with terminal colour codes).
_RECORD_ATTRIBUTES: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class TextFormatter(logging.Formatter):
    """One readable line per record, whatever the message carries.

    Messages quote what clients sent (the request path of the access line, host names, URLs);
    a newline there would start a line that looks like the server's own, and a NUL or a
    terminal escape would corrupt or rewrite what an operator's terminal shows. Non-printable
    characters are written as Python escapes (``\\n``, ``\\x1b``). A traceback still follows on
    lines of its own: it is added after the message and comes from the server, not a client.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped; the same string when there is
    none (the common case costs one ``isprintable`` scan)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    # repr's spelling (\n, \t, \x00, \u2028), without its quotes
    return repr(char)[1:-1]


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = value
        if "request_id" not in entry and (request_id := request_id_var.get()) != "-":
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def _rfc3339(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def configure_logging(level: str, log_format: str = "text") -> None:
    """Send every logger of this process to stderr in ``log_format`` (``text`` or ``json``)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be text or json, not {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Uvicorn's loggers have handlers of their own only when it configures logging itself
    # (the server passes log_config=None); make sure they end up here in any case.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.captureWarnings(True)
    if log_format == "json":
        _log_uncaught_exceptions()


def json_logging_enabled() -> bool:
    """Whether this process logs JSON (then its error messages should be log records too)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def _log_uncaught_exceptions() -> None:
    """A crash's traceback is a JSON record too, not raw lines among the JSON ones."""
    crash_log = logging.getLogger("opendance.crash")

    def on_exception(
        kind: type[BaseException], value: BaseException, traceback: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, traceback)
            return
        crash_log.critical("uncaught exception", exc_info=(kind, value, traceback))

    def on_thread_exception(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        crash_log.critical(
            "uncaught exception in thread %s",
            args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = on_exception
    threading.excepthook = on_thread_exception
