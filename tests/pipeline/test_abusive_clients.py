"""Bounded per connection and per user: a client that pings faster than it reads is closed
before it holds more than a few MB, and the server's memory comes back; connections per
user are capped; refused handshakes do not flood the log (issue 13, third finding)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.pipeline.conftest import Pipeline
from tests.reliability.helpers import NonReader, rss_kib
from tests.support.server import running_server
from tests.support.wsclient import client

PING = json.dumps({"type": "ping", "data": "x" * (64 * 1024 - 40)})
MAX_PINGS = 400  # 25 MiB: far past what the server may hold for one client
FLOODS = 11


async def flood(port: int) -> None:
    """One client sends big pings and never reads; return once the server dropped it."""
    stalled = await NonReader.connect("127.0.0.1", port)
    try:
        for _ in range(MAX_PINGS):
            try:
                # The server stops reading a client it is about to drop: a send that
                # cannot complete is the sign, and the drop follows.
                await asyncio.wait_for(stalled.send(PING), 10)
            except (ConnectionResetError, BrokenPipeError):
                return
            except TimeoutError:
                break
        await stalled.wait_closed_by_peer(timeout=30)
    finally:
        stalled.close()


@pytest.mark.timeout(240)
async def test_a_ping_flood_is_cut_off_and_memory_comes_back(tmp_path: Path) -> None:
    with running_server(tmp_path, "--max-batch", "2") as server:
        assert server.proc is not None
        async with client(server.ws_url) as warm:  # allocate what every session needs once
            await warm.send({"type": "ping", "data": "warm"})
            assert (await warm.recv())["type"] == "pong"
        await flood(server.port)
        baseline = rss_kib(server.proc.pid)
        for _ in range(FLOODS):
            await flood(server.port)
        grown_mib = (rss_kib(server.proc.pid) - baseline) / 1024
        # Each flood is cut off at the control-frame cap (1 MiB by default); before the cap
        # every flood left ~100 MB behind.
        assert grown_mib < 48, f"RSS grew {grown_mib:.0f} MiB over {FLOODS} floods"
        assert server.log.count("unread control frames passed the cap") >= FLOODS
        # The server still serves.
        async with client(server.ws_url) as fine:
            await fine.send({"type": "ping", "data": 1})
            assert await fine.recv() == {"type": "pong", "data": 1}


@pytest.mark.timeout(60)
async def test_connections_per_user_are_capped(pipeline: Pipeline) -> None:
    url, token = pipeline.app.ws_url, pipeline.app.token("alice")
    cap = pipeline.app.settings.max_connections_per_user
    async with client(url, token) as a, client(url, token) as b, client(url, token) as c:
        assert [x.hello["type"] for x in (a, b, c)] == ["hello"] * cap
        with pytest.raises(ConnectionClosed) as closed:
            async with client(url, token):
                pass
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
        assert "too many connections" in closed.value.rcvd.reason
        async with client(url, pipeline.app.token("bob")) as other:  # per user
            assert other.hello["user"]["name"] == "bob"
    async with client(url, token) as again:  # closing gave the places back
        assert again.hello["type"] == "hello"


@pytest.mark.timeout(120)
async def test_refused_handshakes_log_at_info_rate_limited(tmp_path: Path) -> None:
    with running_server(tmp_path, "--handshakes-per-minute", "3") as server:
        statuses = [await handshake_status(server.ws_url) for _ in range(12)]
        assert statuses.count(429) >= 8, statuses
        assert set(statuses) <= {101, 429}
        foreign = await handshake_status(server.ws_url, origin="http://evil.example")
        assert foreign in (403, 429)
    lines = server.log.splitlines()
    assert not [line for line in lines if "ERROR" in line], server.log
    over_rate = [line for line in lines if "over the per-IP rate" in line]
    assert 1 <= len(over_rate) <= 2, over_rate


async def handshake_status(url: str, origin: str | None = None) -> int:
    try:
        async with client(url, origin=origin):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_help_shows_real_defaults() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "tickertape", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "PydanticUndefined" not in shown
    assert "(default: [])" in shown  # --allowed-origins
