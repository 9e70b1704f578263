"""Logging: one line per event, text or JSON, with ids from context and secrets redacted."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
from typing import Any

session_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "session_id", default=None
)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

# Whatever a careless call site might log: bearer tokens, our token format, cookies,
# passwords in URLs or key=value pairs.
_SECRET_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"tt_[A-Za-z0-9_-]{16,}"), "[redacted-token]"),
    (
        re.compile(
            r"(?i)((?:token|password|secret|cookie|csrf)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
]


def redact_url(url: str) -> str:
    """A URL without its password (scheme://user:pw@host -> scheme://user:***@host)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.session_id = session_id_var.get()
        record.request_id = request_id_var.get()
        return True


class _ClientNoiseFilter(logging.Filter):
    """Uvicorn's lines about what a client did wrong, which any client could flood the log
    with: demoted, and replaced where it matters by our own rate-limited lines.

    - An invalid UTF-8 frame (answered with close 1007): a one-line INFO, not an ERROR with
      a traceback.
    - A refused handshake (403 or a denial response such as our 429): uvicorn logs one line
      per handshake, and after a denial response also "ASGI callable returned without
      completing handshake" at ERROR (its sans-I/O implementation never marks that path
      complete; our app returns without accepting only after a denial). Both to DEBUG;
      transport/ws.py logs refusals at INFO, at most once per interval.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "uvicorn.error":
            return True
        if record.levelno <= logging.DEBUG and str(record.msg).startswith(("<", ">")):
            # The WebSocket protocol's log of each frame sent or received, cut to a length:
            # an `auth` frame's token and message contents, past any redaction. Never kept.
            return False
        message = record.getMessage()
        if message.startswith("Invalid UTF-8"):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        elif message.startswith("ASGI callable returned without completing handshake") or (
            '"WebSocket ' in message and not message.endswith("[accepted]")
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return record.levelno >= logging.getLogger().getEffectiveLevel()
        return True


class RateLimitedLog:
    """At most one line per `interval_s` for each key, saying how many were left out.

    For events any client can cause (refused handshakes): the log stays readable and no
    one can flood it."""

    def __init__(self, logger: logging.Logger, level: int, interval_s: float) -> None:
        self._logger = logger
        self._level = level
        self._interval_s = interval_s
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def log(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval_s:
            self._left_out[key] = self._left_out.get(key, 0) + 1
            return
        self._last[key] = now
        left_out = self._left_out.pop(key, 0)
        if left_out:
            message += f" ({left_out} more in the last {self._interval_s:.0f} s)"
        self._logger.log(self._level, message, *args)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{name}={value}"
            for name in ("session_id", "request_id")
            if (value := getattr(record, name, None))
        )
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: "
        line += record.getMessage() + (f" [{ids}]" if ids else "")
        if record.exc_info:
            # Keep one event on one line, so tracebacks are folded, not dropped.
            line += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        return redact(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in ("session_id", "request_id"):
            if value := getattr(record, name, None):
                event[name] = value
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(event, ensure_ascii=False))


def configure_logging(level: str, fmt: str) -> None:
    if fmt == "json":
        # transformers' and huggingface_hub's progress bars (loading weights) write to
        # stderr with carriage returns: not a JSON line. Read when transformers is first
        # imported, which is later (the engine).
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    handler.addFilter(_ClientNoiseFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The websockets library logs every frame at DEBUG under its own name when a protocol
    # is built without uvicorn's logger: frames are contents and tokens, never logged.
    logging.getLogger("websockets").setLevel(max(logging.INFO, root.level))
