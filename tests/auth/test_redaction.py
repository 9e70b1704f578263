"""No token, password or cookie in a log line (tickertape.logs.redact, and the formatters)."""

from __future__ import annotations

import json
import logging

import pytest

from tickertape.auth.credentials import csrf_for_session, new_api_token, new_session_secret
from tickertape.logs import JsonFormatter, TextFormatter, configure_logging, redact

TOKEN = new_api_token()
COOKIE = new_session_secret()
CSRF = csrf_for_session(COOKIE)
PASSWORD = "hunter2-correct-horse"

LINES = [
    (f"Authorization: Bearer {TOKEN}", TOKEN),
    (f"authorization: bearer {COOKIE}", COOKIE),
    (f"got token {TOKEN} from a client", TOKEN),
    (f'{{"type": "auth", "token": "{TOKEN}"}}', TOKEN),
    (f"token={COOKIE}", COOKIE),
    (f"password={PASSWORD}", PASSWORD),
    (f'{{"username": "a", "password": "{PASSWORD}"}}', PASSWORD),
    (f"Cookie: tickertape_session={COOKIE}", COOKIE),
    (f"cookie: __Host-tickertape_session={COOKIE}; other=1", COOKIE),
    (f"set-cookie: tickertape_session={COOKIE}; HttpOnly", COOKIE),
    (f"X-CSRF-Token: {CSRF}", CSRF),
    (f'{{"csrf_token": "{CSRF}"}}', CSRF),
    (f"postgresql+asyncpg://app:{PASSWORD}@db/tickertape", PASSWORD),
    (f"GET /ws?token={TOKEN}", TOKEN),
]


@pytest.mark.parametrize(("line", "secret"), LINES)
def test_redact(line: str, secret: str) -> None:
    assert secret not in redact(line)


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()])
def test_formatters_redact_messages_and_tracebacks(formatter: logging.Formatter) -> None:
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, "login with password=%s", (PASSWORD,), exc_info
    )
    out = formatter.format(record)
    assert PASSWORD not in out
    assert TOKEN not in out
    if isinstance(formatter, JsonFormatter):
        json.loads(out)  # still one valid JSON object


def test_websocket_frames_never_reach_the_log_even_at_debug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The protocol logs each frame at DEBUG cut to a length (`'{"type":"auth","token":
    "tt_abc...'`): a truncated token slips past redaction, so the lines are dropped."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("debug", "json")
        frames = logging.getLogger("uvicorn.error")
        cut = f'{{"type":"auth","token":"{TOKEN[:30]}'
        frames.debug("< TEXT '%s...' [60 bytes]", cut)
        frames.debug("> TEXT '%s...' [60 bytes]", '{"type":"token","text":"private words')
        frames.debug("= connection is OPEN")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    logged = capsys.readouterr().err
    assert TOKEN[10:30] not in logged
    assert "private words" not in logged
    assert "connection is OPEN" in logged  # the rest of the protocol's debug lines stay
