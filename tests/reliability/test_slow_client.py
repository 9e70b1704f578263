"""One client that never reads, among 100 that do: it is cut off, they are not slowed down.

The readers' ITL p99 against a run without the non-reader is a benchmark
(benchmarks/slow_client.py), not a test: timing ratios are too noisy for CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.helpers import env_int
from tests.reliability.slow_client import readers_beside_non_reader, slow_client_flags
from tests.support.server import running_server

READERS = env_int("TICKERTAPE_TEST_READERS", 100)
TIMEOUT_S = 3.0
# Polling /metrics, the abort and a loaded event loop add to the deadline itself.
MARGIN_S = 3.0


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_non_reader_is_dropped_within_the_slow_client_timeout(tmp_path: Path) -> None:
    with running_server(tmp_path, *slow_client_flags(READERS, TIMEOUT_S)) as server:
        result = await readers_beside_non_reader(
            server, READERS, max_tokens=48, with_non_reader=True, timeout_s=TIMEOUT_S
        )
        log = server.log
    readers = result.readers
    print(f"non-reader dropped {result.disconnect_after_s:.1f} s after it stalled")
    assert "disconnecting a slow client" in log
    assert result.disconnect_after_s is not None
    assert result.disconnect_after_s <= TIMEOUT_S + MARGIN_S
    assert readers.failures == []
    assert readers.violations == []
    assert readers.replies == READERS
