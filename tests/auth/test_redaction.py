"""No token, password or cookie in a log line (tickertape.logs.redact, and the formatters)."""

from __future__ import annotations

import json
import logging

import pytest

from tickertape.auth.credentials import csrf_for_session, new_api_token, new_session_secret
from tickertape.logs import JsonFormatter, TextFormatter, redact

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
