"""Readers streaming replies, optionally beside one client that never reads."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass

from tests.reliability.helpers import RELAXED_LIMITS, NonReader, long_params, metric
from tests.reliability.load import StreamStats, run_clients
from tests.support.server import ServerProcess
from tests.support.wsclient import client

SLOW_DISCONNECTS = "tickertape_ws_slow_client_disconnects_total"
SLOW_CLIENT_LOG_LINE = "disconnecting a slow client"
# Pongs echo their ping's data. Linux grows the server's send buffer up to tcp_wmem's max
# (4 MiB by default) and a reply of a batch of 100 on 2 cores makes ~1 KiB/s, so a reply
# alone would take hours to stall the sender. Big pings fill the buffers at once, so what
# is measured is the send deadline, not the fill time. Fewer than MAX_CONTROL_FRAMES (256)
# pongs, so that it is the send deadline that fires, not the control-queue limit.
PING_BYTES = 48 * 1024


def pings_to_stall() -> int:
    with open("/proc/sys/net/ipv4/tcp_wmem") as wmem:
        send_buffer_max = int(wmem.read().split()[2])
    return min(200, (send_buffer_max + 1024 * 1024) // PING_BYTES + 1)


def slow_client_flags(readers: int, timeout_s: float) -> tuple[str, ...]:
    return (
        *RELAXED_LIMITS,
        "--max-batch",
        str(readers + 1),
        "--slow-client-timeout-s",
        str(timeout_s),
    )


@dataclass
class SlowClientResult:
    readers: StreamStats
    # seconds from the non-reader's last write to the server's slow-client disconnect
    disconnect_after_s: float | None


async def readers_beside_non_reader(
    server: ServerProcess, readers: int, max_tokens: int, with_non_reader: bool, timeout_s: float
) -> SlowClientResult:
    """`server` runs with `slow_client_flags`; the readers' replies are `max_tokens` long.

    Without the non-reader, the same extra client still sends the same chat and pings but
    reads everything: the baseline carries the same work, so the ratio measures slowness.
    """
    chat = {
        "type": "chat",
        "client_msg_id": uuid.uuid4().hex,
        "content": "Tell me about the sea.",
        "params": long_params(max_tokens * 4),
    }
    if not with_non_reader:
        async with client(server.ws_url) as heavy:
            reading = asyncio.create_task(run_clients(server.ws_url, readers, 0, max_tokens))
            await heavy.send(chat)
            pings = pings_to_stall()
            for _ in range(pings):
                await heavy.send({"type": "ping", "data": "x" * PING_BYTES})
            pongs, ended = 0, False
            while pongs < pings or not ended:
                frame = await heavy.recv()
                pongs += frame["type"] == "pong"
                ended = ended or frame["type"] == "end"
            return SlowClientResult(await reading, None)
    stalled = await NonReader.connect("127.0.0.1", server.port)
    try:
        await stalled.send(json.dumps(chat))
        reading = asyncio.create_task(run_clients(server.ws_url, readers, 0, max_tokens))
        for _ in range(pings_to_stall()):
            await stalled.send(json.dumps({"type": "ping", "data": "x" * PING_BYTES}))
        stalled_at = time.monotonic()
        # The server's log line is the event; polling /metrics instead loaded this process
        # (where the readers' latency is measured) in this run only, not in the baseline.
        dropped_at = await asyncio.to_thread(
            server.wait_for_line, SLOW_CLIENT_LOG_LINE, timeout_s + 60
        )
        await stalled.wait_closed_by_peer(timeout=30)
        assert await metric(server.base_url, SLOW_DISCONNECTS) >= 1
        return SlowClientResult(await reading, dropped_at - stalled_at)
    finally:
        stalled.close()
