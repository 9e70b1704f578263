"""Benchmark clients spread over several processes, so that the clients are not what is
measured.

One Python process reading 1,000 WebSockets falls behind the server on a small machine: its
single event loop then reads frames late, and the inter-token gaps it records are its own
lag. Here each worker process runs its own event loop with a share of the sockets (the same
streaming clients as tests/reliability/load.py); the parent merges what they saw. Token
times are `time.monotonic()`, which on Linux is one clock for every process, so the merged
span (first token of any reply to the last one) and the gaps are comparable.

Each worker also reports its CPU time over the run: a worker near 100 % of a core is a
client that could not keep up, and the run says so (`busiest_client_cpu`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from tests.reliability.helpers import raise_nofile
from tests.reliability.load import StreamStats, run_clients


@dataclass
class WorkerResult:
    stats: StreamStats
    cpu_s: float  # this worker's CPU time (user + system) over the run
    wall_s: float


def _init(nofile: int) -> None:
    raise_nofile(nofile)


def _work(url: str, sockets: int, tokens: int, auth_tokens: list[str] | None) -> WorkerResult:
    cpu, wall = time.process_time(), time.monotonic()
    stats = asyncio.run(run_clients(url, sockets, 0, tokens, auth_tokens=auth_tokens))
    return WorkerResult(stats, time.process_time() - cpu, time.monotonic() - wall)


def _noop() -> int:
    return os.getpid()


def merge(parts: list[StreamStats]) -> StreamStats:
    merged = StreamStats()
    for part in parts:
        merged.replies += part.replies
        merged.frames += part.frames
        merged.completion_tokens += part.completion_tokens
        merged.itl_s += part.itl_s
        merged.ttft_s += part.ttft_s
        merged.failures += part.failures
        merged.violations += part.violations
        if part.first_token_at is not None:
            first = merged.first_token_at
            merged.first_token_at = (
                part.first_token_at if first is None else min(first, part.first_token_at)
            )
        merged.last_token_at = max(merged.last_token_at, part.last_token_at)
    return merged


@dataclass
class PooledRun:
    stats: StreamStats
    busiest_client_cpu: float  # the highest CPU share of one worker over its run (1.0 = a core)


class ClientPool:
    """`processes` worker processes (spawned once, reused by every run)."""

    def __init__(self, processes: int, nofile: int = 4096) -> None:
        self.processes = processes
        self._pool = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(nofile,),
        )

    async def start(self) -> None:
        """Spawn every worker now, not during the first measured run."""
        loop = asyncio.get_running_loop()
        pids: set[int] = set()
        while len(pids) < self.processes:
            batch = [loop.run_in_executor(self._pool, _noop) for _ in range(self.processes)]
            pids.update(await asyncio.gather(*batch))

    async def run(
        self, url: str, sockets: int, tokens: int, auth_tokens: Sequence[str] | None = None
    ) -> PooledRun:
        """`sockets` streaming clients, each asking for one reply of `tokens` tokens, shared
        out evenly over the workers; with `auth_tokens`, socket i is the user of the i-th."""
        shares = [
            sockets // self.processes + (1 if i < sockets % self.processes else 0)
            for i in range(self.processes)
        ]
        starts = [sum(shares[:i]) for i in range(self.processes)]
        loop = asyncio.get_running_loop()
        results: list[WorkerResult] = await asyncio.gather(
            *(
                loop.run_in_executor(
                    self._pool,
                    _work,
                    url,
                    n,
                    tokens,
                    None if auth_tokens is None else list(auth_tokens[start : start + n]),
                )
                for n, start in zip(shares, starts, strict=True)
                if n
            )
        )
        busiest = max(r.cpu_s / r.wall_s for r in results if r.wall_s > 0)
        return PooledRun(merge([r.stats for r in results]), busiest)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
