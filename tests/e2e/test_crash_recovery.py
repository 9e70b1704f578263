"""SIGKILL mid-reply, restart: nothing accepted is lost, nothing is stored twice."""

from __future__ import annotations

import os
import random
import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.support.server import make_server
from tests.support.wsclient import client

KILLS = int(os.environ.get("TICKERTAPE_TEST_KILLS", "10"))
LONG = {"max_tokens": 1000, "ignore_eos": True, "temperature": 0.8}


@pytest.mark.slow
async def test_sigkill_at_random_points_loses_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("TICKERTAPE_TEST_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    print(f"crash test seed {seed}")
    server = make_server(tmp_path, "--max-tokens", "1000")
    accepted_ids: list[str] = []
    received: dict[str, tuple[str, int]] = {}
    for _ in range(KILLS):
        server.start()
        async with client(server.ws_url) as c:
            cid = uuid.uuid4().hex
            accepted = await c.chat("Tell me everything about the sea.", cid, params=LONG)
            assert accepted["type"] == "accepted"
            accepted_ids.append(cid)
            text, seq = "", 0
            for _ in range(rng.randrange(0, 40)):
                frame = await c.recv_type("token")
                assert frame["seq"] == seq + 1
                text, seq = text + frame["text"], frame["seq"]
            received[accepted["reply_id"]] = (text, seq)
            server.kill()
    server.start()
    try:
        with server.http() as http:
            for reply_id, (text, seq) in received.items():
                async with client(server.ws_url) as c:
                    await c.send({"type": "resume", "reply_id": reply_id, "last_seq": seq})
                    frame = await c.recv_type("snapshot", "end", "token")
                    stored = text
                    if frame["type"] == "snapshot":
                        assert frame["status"] == "interrupted"
                        stored = frame["text"]
                        frame = await c.recv_type("end")
                    assert frame["type"] == "end"
                    assert frame["finish_reason"] == "interrupted"
                # What the client saw and what was stored agree: one is a prefix of the other.
                assert text.startswith(stored) or stored.startswith(text)
            items = http.get("/api/conversations", params={"limit": 100}).json()["items"]
            assert len(items) == KILLS
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "tickertape.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute(
            "SELECT client_msg_id, count(*) FROM messages WHERE role = 'user' GROUP BY client_msg_id"
        ).fetchall()
        statuses = {s for (s,) in db.execute("SELECT status FROM messages WHERE role='assistant'")}
    assert sorted(cid for cid, _ in rows) == sorted(accepted_ids)
    assert all(count == 1 for _, count in rows)
    assert statuses == {"interrupted"}
