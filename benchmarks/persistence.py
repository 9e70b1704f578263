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


async def one_run(persistence: bool, streams: int, tokens: int) -> tuple[float, float, float]:
    """Streaming tokens/s, end-to-end tokens/s and client-side ITL p99 (ms)."""
    flags = (*RELAXED_LIMITS, "--max-batch", str(streams), "--max-tokens", str(tokens))
    with bench_server(*flags, persistence=persistence) as server:
        await run_clients(server.ws_url, streams, 0, 8)  # warm-up: first-call allocations
        started = time.monotonic()
        stats = await run_clients(server.ws_url, streams, 0, tokens)
        elapsed = time.monotonic() - started
    if stats.failures or stats.violations:
        raise RuntimeError(f"the run is invalid: {stats.failures[:3]} {stats.violations[:3]}")
    itl_p99 = percentile(stats.itl_s, 0.99) * 1000
    return stats.streaming_tokens_per_s(), stats.completion_tokens / elapsed, itl_p99


COLUMNS = ("streaming tokens/s", "end-to-end tokens/s", "ITL p99 ms")
TARGETS = (f">= {THROUGHPUT_TARGET}", "", f"<= {ITL_P99_TARGET}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=384)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    setup = machine()
    results: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    for rep in range(args.reps):
        for persistence in (False, True) if rep % 2 == 0 else (True, False):
            run = await one_run(persistence, args.streams, args.tokens)
            results[persistence].append(run)
            print(
                f"rep {rep} persistence={'on' if persistence else 'off'}: streaming "
                f"{run[0]:.0f} tok/s, end-to-end {run[1]:.0f} tok/s, ITL p99 {run[2]:.1f} ms"
            )
    rows = []
    for label, mode in (("off (null store, baseline)", False), ("on (SQLite, group commit)", True)):
        cells = [label]
        for i in range(len(COLUMNS)):
            value = median([r[i] for r in results[mode]])
            spread = ", ".join(f"{r[i]:.0f}" for r in results[mode])
            cells.append(f"{value:.1f} ({spread})")
        rows.append(cells)
    ratios = ["on / off"]
    for i, target in enumerate(TARGETS):
        ratio = median([r[i] for r in results[True]]) / median([r[i] for r in results[False]])
        ratios.append(f"{ratio:.3f}" + (f" (target {target})" if target else ""))
    rows.append(ratios)
    body = table(["persistence", *(f"{c} median (runs)" for c in COLUMNS)], rows)
    on_runs = [r[0] for r in results[True]]
    off_runs = [r[0] for r in results[False]]
    if max(on_runs) < min(off_runs) or min(on_runs) > max(off_runs):
        body += "\n\nThe two modes' streaming throughput ranges do not overlap."
    else:
        # The medians differ by less than the runs scatter: more reps or a quieter machine.
        body += "\n\nThe two modes' streaming throughput ranges overlap (run-to-run noise)."
    print(body)
    write_section(
        "Persistence on vs off",
        f"`benchmarks/persistence.py --streams {args.streams} --tokens {args.tokens} "
        f"--reps {args.reps}`; {setup}.\n\n"
        f"{args.streams} concurrent replies of {args.tokens} tokens (`ignore_eos`), batch "
        f"{args.streams}, demo model; medians of {args.reps} alternating runs per mode, each on "
        "a fresh server. Streaming tokens/s counts tokens over the span from the first token "
        "frame to the last; end-to-end tokens/s also includes the commit before `accepted` "
        "and the commit before `end` (durability latency, paid once per reply). ITL is "
        "measured by the clients (gaps between token frames). Off = the same server with "
        "`tickertape.resources.build_store` patched to an in-memory no-op store "
        "(`benchmarks/null_store.py`).\n\n" + body,
    )


if __name__ == "__main__":
    asyncio.run(main())
