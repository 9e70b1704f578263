"""Shared fixtures: real servers on loopback, started once per module where possible."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, running_redis
from tests.support.server import ServerProcess, running_server


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The embedded demo model, auth `none`, a fresh SQLite file."""
    tmp: Path = tmp_path_factory.mktemp("server")
    with running_server(tmp, "--max-batch", "4") as server:
        yield server


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway redis-server on loopback, one per test module."""
    with running_redis() as server:
        yield server
