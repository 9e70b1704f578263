"""Logging: one line per event, text or JSON, with ids from context and secrets redacted."""

from __future__ import annotations

import contextvars
import json
import logging
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
    """A client's invalid UTF-8 frame is its problem, answered with close 1007: log it as a
    one-line INFO, not an ERROR with a traceback that any client could flood the log with."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.error" and record.getMessage().startswith("Invalid UTF-8"):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    handler.addFilter(_ClientNoiseFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
