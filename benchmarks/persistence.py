"""Streaming throughput and inter-token latency with persistence on vs off (issue 4).

Off is the same server with an in-memory no-op store (benchmarks/null_store.py). Runs
alternate on/off so that drift in the machine's load hits both; medians are compared.

    .venv/bin/python -m benchmarks.persistence [--streams 16] [--tokens 256] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from tests.reliability.helpers import RELAXED_LIMITS, percentile
from tests.reliability.load import run_clients

from benchmarks._report import machine, median, table, write_section
from benchmarks._servers import bench_server

THROUGHPUT_TARGET = 0.98
ITL_P99_TARGET = 1.05


async def one_run(persistence: bool, streams: int, tokens: int) -> tuple[float, float]:
    """Tokens/s and client-side ITL p99 (ms) of `streams` concurrent replies."""
    flags = (*RELAXED_LIMITS, "--max-batch", str(streams), "--max-tokens", str(tokens))
    with bench_server(*flags, persistence=persistence) as server:
        await run_clients(server.ws_url, streams, 0, 8)  # warm-up: first-call allocations
        started = time.monotonic()
        stats = await run_clients(server.ws_url, streams, 0, tokens)
        elapsed = time.monotonic() - started
    if stats.failures or stats.violations:
        raise RuntimeError(f"the run is invalid: {stats.failures[:3]} {stats.violations[:3]}")
    return stats.completion_tokens / elapsed, percentile(stats.itl_s, 0.99) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    setup = machine()
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for rep in range(args.reps):
        for persistence in (False, True) if rep % 2 == 0 else (True, False):
            tps, p99 = await one_run(persistence, args.streams, args.tokens)
            results[persistence].append((tps, p99))
            print(
                f"rep {rep} persistence={'on' if persistence else 'off'}: {tps:.0f} tok/s, ITL p99 {p99:.1f} ms"
            )
    on_tps = median([r[0] for r in results[True]])
    off_tps = median([r[0] for r in results[False]])
    on_p99 = median([r[1] for r in results[True]])
    off_p99 = median([r[1] for r in results[False]])

    def runs(persistence: bool, index: int, fmt: str) -> str:
        return ", ".join(format(r[index], fmt) for r in results[persistence])

    rows = [
        [
            "off (null store, baseline)",
            f"{off_tps:.0f}",
            f"{off_p99:.1f}",
            "",
            "",
            runs(False, 0, ".0f"),
            runs(False, 1, ".0f"),
        ],
        [
            "on (SQLite, group commit)",
            f"{on_tps:.0f}",
            f"{on_p99:.1f}",
            f"{on_tps / off_tps:.3f} (target >= {THROUGHPUT_TARGET})",
            f"{on_p99 / off_p99:.3f} (target <= {ITL_P99_TARGET})",
            runs(True, 0, ".0f"),
            runs(True, 1, ".0f"),
        ],
    ]
    body = table(
        [
            "persistence",
            "tokens/s",
            "ITL p99 ms",
            "throughput ratio",
            "ITL p99 ratio",
            "tokens/s per run",
            "ITL p99 ms per run",
        ],
        rows,
    )
    on_runs = [r[0] for r in results[True]]
    off_runs = [r[0] for r in results[False]]
    if max(on_runs) < min(off_runs) or min(on_runs) > max(off_runs):
        body += "\n\nThe two modes' throughput ranges do not overlap: the difference is real."
    else:
        # The medians differ by less than the runs scatter: more reps or a quieter machine.
        body += "\n\nThe two modes' throughput ranges overlap: the ratios are not conclusive."
    print(body)
    write_section(
        "Persistence on vs off",
        f"`benchmarks/persistence.py --streams {args.streams} --tokens {args.tokens} "
        f"--reps {args.reps}`; {setup}.\n\n"
        f"{args.streams} concurrent replies of {args.tokens} tokens (`ignore_eos`), batch "
        f"{args.streams}, demo model; medians of {args.reps} alternating runs per mode, each on "
        "a fresh server. ITL is measured by the clients (gaps between token frames). "
        "Off = the same server with `tickertape.resources.build_store` patched to an "
        "in-memory no-op store (`benchmarks/null_store.py`).\n\n" + body,
    )


if __name__ == "__main__":
    asyncio.run(main())
