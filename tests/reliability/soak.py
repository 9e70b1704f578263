"""Many sockets streaming at once for a while: no failure, no gap, bounded server memory."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.reliability.helpers import RELAXED_LIMITS, raise_nofile, rss_kib
from tests.reliability.load import StreamStats, run_clients
from tests.support.server import ServerProcess


def soak_flags(max_batch: int) -> tuple[str, ...]:
    return (*RELAXED_LIMITS, "--max-batch", str(max_batch))


@dataclass
class SoakResult:
    stats: StreamStats
    rss_before_kib: int
    rss_after_kib: int
    seconds: float


async def soak(server: ServerProcess, sockets: int, seconds: float, max_tokens: int) -> SoakResult:
    """`server` is started with `soak_flags`. RSS is read before any socket and after all."""
    assert server.proc is not None
    raise_nofile(4 * sockets + 256)
    before = rss_kib(server.proc.pid)
    started = time.monotonic()
    stats = await run_clients(server.ws_url, sockets, seconds, max_tokens)
    elapsed = time.monotonic() - started
    return SoakResult(stats, before, rss_kib(server.proc.pid), elapsed)
