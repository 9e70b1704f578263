"""A real server on PostgreSQL: migrations at start, then the write path end to end (the
writer's PostgreSQL path runs batches through the async driver, not a thread)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.server import running_server
from tests.support.wsclient import client

pytestmark = pytest.mark.postgres


async def test_turns_stream_and_persist_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    with running_server(tmp_path, "--database-url", pg_url) as server:
        async with client(server.ws_url) as ws:
            first_id = uuid.uuid4().hex
            first = await ws.chat("Tell me about cats.", first_id, params={"temperature": 0})
            assert first["type"] == "accepted", first
            text1, _, end1 = await ws.collect_reply(first["reply_id"])
            again = await ws.chat("Tell me about cats.", first_id, params={"temperature": 0})
            assert again == first  # idempotent retry: no new rows
            await ws.collect_reply(first["reply_id"])
            second = await ws.chat(
                "And dogs?",
                uuid.uuid4().hex,
                conversation_id=first["conversation_id"],
                params={"temperature": 0},
            )
            text2, _, end2 = await ws.collect_reply(second["reply_id"])
        with server.http() as http:
            convo = http.get(f"/api/conversations/{first['conversation_id']}").json()
    stored = [(m["role"], m["status"], m["content"]) for m in convo["messages"]]
    assert stored == [
        ("user", "complete", "Tell me about cats."),
        ("assistant", "complete", text1),
        ("user", "complete", "And dogs?"),
        ("assistant", "complete", text2),
    ]
    assert end1["finish_reason"] in ("stop", "length")
    assert end2["usage"]["prompt_tokens"] > end1["usage"]["prompt_tokens"]  # saw turn one
