"""Servers for benchmarks: the real one, and the same one with persistence replaced."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import ServerProcess, make_server


@dataclass
class NullStoreServer(ServerProcess):
    """`tickertape serve` through benchmarks.null_store, which swaps the SQL store out."""

    def start(self) -> None:
        import queue

        self._events = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.null_store", "serve", *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        self._wait_for("Uvicorn running on")


@contextmanager
def bench_server(*flags: str, persistence: bool = True) -> Iterator[ServerProcess]:
    with tempfile.TemporaryDirectory(prefix="tickertape-bench-") as tmp:
        server = make_server(Path(tmp), *flags)
        if not persistence:
            server = NullStoreServer(args=server.args, env=server.env, port=server.port)
        server.start()
        try:
            yield server
        finally:
            server.stop()
