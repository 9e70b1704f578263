"""Redis faults: unreachable at start (refused, one line), lost while serving (replies in
flight stream on and are stored, new turns get a retryable `overloaded`, /readyz says
why), and back again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.reliability.helpers import long_params
from tests.support.redis_server import running_redis
from tests.support.server import free_port, running_server
from tests.support.wsclient import client


def test_refuses_to_start_when_redis_is_unreachable(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tickertape",
            "serve",
            "--port",
            str(free_port()),
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path / 't.db'}",
            "--redis-url",
            f"redis://:hunter2@127.0.0.1:{port}/0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tickertape: error: --redis-url: cannot reach Redis at ")
    assert "hunter2" not in result.stderr + result.stdout
    assert f"redis://:***@127.0.0.1:{port}/0" in lines[0]


async def _readyz(base_url: str) -> tuple[int, list[str]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        answer = await http.get("/readyz")
    return answer.status_code, answer.json()["reasons"]


async def _until(check, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_redis_lost_while_serving(tmp_path: Path) -> None:
    with (
        running_redis() as redis,
        running_server(tmp_path, "--redis-url", redis.url, "--max-tokens", "2000") as server,
    ):
        async with client(server.ws_url) as c:
            accepted = await c.chat(
                "Tell me a long story.", uuid.uuid4().hex, params=long_params(1500)
            )
            reply_id = accepted["reply_id"]
            first = await c.recv_type("token")
            redis.stop()  # Redis goes away while the reply streams

            async def down() -> bool:
                status, reasons = await _readyz(server.base_url)
                return status == 503 and any(r.startswith("redis unreachable") for r in reasons)

            await _until(down)
            await c.send({"type": "chat", "client_msg_id": "m2", "content": "Another one?"})
            text, seq = first["text"], first["seq"]
            while True:  # the reply's frames go on while the refusal comes
                frame = await c.recv_type("token", "error")
                if frame["type"] == "error":
                    refused = frame
                    break
                assert frame["seq"] == seq + 1
                text, seq = text + frame["text"], frame["seq"]
            assert refused["code"] == "overloaded", refused
            assert refused["retry_after_ms"] > 0
            assert refused["ref"] == "m2"
            # The reply in flight streams on to its socket, to its end, and is stored.
            rest, _, end = await c.collect_reply(reply_id, after_seq=seq)
            assert end["finish_reason"] == "length"
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                convo = (await http.get(f"/api/conversations/{accepted['conversation_id']}")).json()
            stored = convo["messages"][-1]
            assert stored["status"] == "complete"
            assert stored["content"] == text + rest

            redis.start()  # back on the same port: ready again, turns accepted again

            async def up() -> bool:
                return (await _readyz(server.base_url))[0] == 200

            await _until(up)
            again = await c.chat("Hello again", uuid.uuid4().hex, params={"max_tokens": 5})
            assert again["type"] == "accepted", again
            await c.collect_reply(again["reply_id"])
