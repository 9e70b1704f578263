"""Servers for benchmarks: the real one, and the same one with persistence replaced."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import ServerProcess, make_server


@contextmanager
def bench_server(*flags: str, persistence: bool = True) -> Iterator[ServerProcess]:
    with tempfile.TemporaryDirectory(prefix="tickertape-bench-") as tmp:
        server = make_server(Path(tmp), *flags)
        if not persistence:
            server.module = "benchmarks.null_store"  # the same server, SQL store swapped out
        server.start()
        try:
            yield server
        finally:
            server.stop()
