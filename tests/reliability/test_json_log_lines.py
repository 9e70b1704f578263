"""`--log-format json`: every line the server writes is one JSON object, from the start
(migrations, model load, the listening line) to the shutdown."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.server import make_server


def test_every_line_is_json(tmp_path: Path) -> None:
    server = make_server(tmp_path, "--log-format", "json")
    server.start()  # waits for the listening line, which is a JSON event too
    try:
        with server.http() as http:
            assert http.get("/healthz").status_code == 200
    finally:
        server.stop()
    assert len(server.lines) > 5
    for line in server.lines:  # stdout and stderr together
        event = json.loads(line)  # a progress bar or a plain line fails here
        assert {"ts", "level", "logger", "msg"} <= set(event), line
    assert any("applying 0001_initial" in json.loads(line)["msg"] for line in server.lines)
