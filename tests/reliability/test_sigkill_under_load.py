"""SIGKILL at random moments while several clients stream; restart each time.

Checked at the end: every accepted message is stored exactly once (and nothing is stored
twice, accepted or not), the database passes `PRAGMA integrity_check`, and each reply's
stored text and the text its client received agree (one is a prefix of the other).
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.reliability.helpers import RELAXED_LIMITS, env_int, long_params
from tests.support.server import ServerProcess, make_server
from tests.support.wsclient import client

KILLS = env_int("TICKERTAPE_TEST_LOAD_KILLS", 20)
CLIENTS = env_int("TICKERTAPE_TEST_LOAD_CLIENTS", 8)
# Frames (accepted + tokens, all clients) before the kill: small, so a round costs little
# beyond the restart, yet spans "before any accepted" to "every reply streaming".
MAX_FRAMES_BEFORE_KILL = 30 * CLIENTS


@dataclass
class Received:
    conversation_id: str
    text: str = ""
    seq: int = 0


@dataclass
class History:
    sent: set[str] = field(default_factory=set)  # client_msg_ids sent, accepted or not
    accepted: set[str] = field(default_factory=set)
    replies: dict[str, Received] = field(default_factory=dict)  # by reply_id
    conversations: dict[int, str] = field(default_factory=dict)  # client index -> its conv


class Round:
    """One server life: clients stream until the frame count reaches the kill point."""

    def __init__(self, server: ServerProcess, history: History, kill_after: int) -> None:
        self.server, self.history, self.kill_after = server, history, kill_after
        self.frames = 0
        self.killed = False

    def _count_frame(self) -> None:
        self.frames += 1
        if self.frames >= self.kill_after and not self.killed:
            # Inline, not in another task: the kill lands at exactly this frame.
            self.killed = True
            self.server.kill()

    async def client(self, index: int) -> None:
        history = self.history
        try:
            async with client(self.server.ws_url, open_timeout=60) as c:
                cid = uuid.uuid4().hex
                history.sent.add(cid)
                fields: dict[str, object] = {"params": long_params(500)}
                if index in history.conversations:
                    # Continue the conversation: history with interrupted replies in it.
                    fields["conversation_id"] = history.conversations[index]
                accepted = await c.chat("Tell me everything about the sea.", cid, **fields)
                assert accepted["type"] == "accepted", accepted
                history.accepted.add(cid)
                history.conversations[index] = accepted["conversation_id"]
                reply = history.replies[accepted["reply_id"]] = Received(
                    accepted["conversation_id"]
                )
                self._count_frame()
                while True:
                    frame = await c.recv_type("token")
                    assert frame["seq"] == reply.seq + 1, frame
                    reply.text, reply.seq = reply.text + frame["text"], frame["seq"]
                    self._count_frame()
        except (ConnectionClosed, InvalidHandshake, OSError):
            assert self.killed, "the connection failed before the kill"


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_sigkill_under_streaming_load_loses_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("TICKERTAPE_TEST_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    print(f"sigkill-under-load seed {seed}")
    server = make_server(tmp_path, *RELAXED_LIMITS, "--max-batch", str(CLIENTS))
    history = History()
    try:
        for _ in range(KILLS):
            server.start()
            round_ = Round(server, history, rng.randrange(1, MAX_FRAMES_BEFORE_KILL))
            await asyncio.wait_for(
                asyncio.gather(*(round_.client(i) for i in range(CLIENTS))), timeout=120
            )
            assert round_.killed
        server.start()
        with server.http() as http:
            for reply_id, received in history.replies.items():
                transcript = http.get(f"/api/conversations/{received.conversation_id}").json()
                stored = next(m for m in transcript["messages"] if m["id"] == reply_id)
                assert stored["status"] == "interrupted"
                text = stored["content"]
                assert received.text.startswith(text) or text.startswith(received.text), (
                    f"reply {reply_id}: stored and received texts diverge"
                )
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "tickertape.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        counts = dict(
            db.execute(
                "SELECT client_msg_id, count(*) FROM messages WHERE role = 'user' "
                "GROUP BY client_msg_id"
            ).fetchall()
        )
        statuses = {s for (s,) in db.execute("SELECT status FROM messages WHERE role='assistant'")}
    assert history.accepted <= set(counts), "an accepted message was lost"
    assert set(counts) <= history.sent
    assert set(counts.values()) == {1}, "a message was stored twice"
    assert statuses == {"interrupted"}
    print(f"{KILLS} kills: {len(history.accepted)}/{len(history.sent)} accepted, all stored once")
