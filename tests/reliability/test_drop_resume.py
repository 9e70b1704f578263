"""1,000 drop-and-resume cycles: no gap, no repeat, and the stored text is what was read."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.reliability.drop_resume import DROP_RESUME_FLAGS, drop_resume
from tests.reliability.helpers import env_int
from tests.support.server import running_server

CYCLES = env_int("TICKERTAPE_TEST_RESUME_CYCLES", 1000)
WORKERS = 4


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_drop_and_resume_never_gaps_or_repeats(tmp_path: Path) -> None:
    seed = int(os.environ.get("TICKERTAPE_TEST_SEED", random.randrange(2**32)))
    print(f"drop/resume seed {seed}")
    with running_server(tmp_path, *DROP_RESUME_FLAGS) as server:
        stats = await drop_resume(
            server.ws_url, server.base_url, CYCLES, WORKERS, max_tokens=300, seed=seed
        )
    print(f"{stats.cycles} cycles over {len(stats.replies)} replies, {stats.snapshots} snapshots")
    assert stats.cycles == CYCLES
    assert stats.violations == []
    assert len(stats.replies) > WORKERS  # the loop crossed reply boundaries
