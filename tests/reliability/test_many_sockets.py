"""Hundreds of sockets streaming replies together (the 1,000 x 60 s run: benchmarks/soak.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.helpers import env_int
from tests.reliability.soak import soak, soak_flags
from tests.support.server import running_server

SOCKETS = env_int("TICKERTAPE_TEST_SOCKETS", 300)
SECONDS = env_int("TICKERTAPE_TEST_SOAK_S", 20)
# Generous on purpose: per-socket state is a few KiB; this catches leaks of whole replies
# or frames per token, not allocator noise.
RSS_GROWTH_LIMIT_KIB = 256 * 1024


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_many_sockets_stream_without_failures(tmp_path: Path) -> None:
    with running_server(tmp_path, *soak_flags(max_batch=128)) as server:
        result = await soak(server, SOCKETS, SECONDS, max_tokens=24)
    stats = result.stats
    growth = result.rss_after_kib - result.rss_before_kib
    print(
        f"{SOCKETS} sockets, {result.seconds:.0f} s: {stats.replies} replies, "
        f"{stats.frames} frames, RSS {result.rss_before_kib // 1024} -> "
        f"{result.rss_after_kib // 1024} MiB"
    )
    assert stats.failures == []
    assert stats.violations == []
    assert stats.replies >= SOCKETS  # every socket finished at least one reply
    assert growth < RSS_GROWTH_LIMIT_KIB, f"RSS grew by {growth // 1024} MiB"
