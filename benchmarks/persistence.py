"""Streaming throughput and inter-token latency with persistence on vs off (issue 4).

Off is the same server with an in-memory no-op store (benchmarks/null_store.py). Both
servers run for the whole benchmark; short runs alternate between them (on/off, then
off/on, ...) so that the machine's drift hits both, and each adjacent on/off pair gives one
ratio. The result is the median of the pair ratios: on a shared machine the speed drifts
by more than the effect being measured, and pairing cancels the drift.

    .venv/bin/python -m benchmarks.persistence [--streams 16] [--tokens 256] [--pairs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.reliability.helpers import RELAXED_LIMITS, percentile
from tests.reliability.load import StreamStats, run_clients
from tests.support.server import ServerProcess

from benchmarks._report import machine, median, table, write_section
from benchmarks._servers import bench_server

THROUGHPUT_TARGET = 0.98
ITL_P99_TARGET = 1.05


@dataclass(frozen=True)
class Run:
    streaming_tps: float  # tokens/s while tokens flowed
    end_to_end_tps: float  # tokens/s from the first chat to the last `end`
    itl_p99_ms: float
    cpu_ms_per_1k: float  # the server process's CPU time (all threads) per 1000 tokens
    itl_s: list[float]
    loop_cpu_ms_per_1k: float = float("nan")  # its main thread's (the event loop's)


def process_cpu_s(pid: int, thread: int | None = None) -> float:
    """User + system CPU seconds of a process, or of one of its threads (Linux /proc; NaN
    elsewhere). The main thread's id is the process id."""
    stat = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_run(
    server: ServerProcess, streams: int, tokens: int, auth_tokens: list[str] | None = None
) -> Run:
    """One run of `streams` concurrent replies; with `auth_tokens`, a user per stream."""
    assert server.proc is not None
    loop = asyncio.get_running_loop()
    pid = server.proc.pid
    cpu_before, loop_before = process_cpu_s(pid), process_cpu_s(pid, pid)
    started = loop.time()
    stats: StreamStats = await run_clients(
        server.ws_url, streams, 0, tokens, auth_tokens=auth_tokens
    )
    elapsed, cpu_s = loop.time() - started, process_cpu_s(pid) - cpu_before
    loop_cpu_s = process_cpu_s(pid, pid) - loop_before
    if stats.failures or stats.violations:
        raise RuntimeError(f"the run is invalid: {stats.failures[:3]} {stats.violations[:3]}")
    return Run(
        stats.streaming_tokens_per_s(),
        stats.completion_tokens / elapsed,
        percentile(stats.itl_s, 0.99) * 1000,
        cpu_s * 1000 / (stats.completion_tokens / 1000),
        stats.itl_s,
        loop_cpu_s * 1000 / (stats.completion_tokens / 1000),
    )


METRICS = (
    ("streaming tokens/s", "streaming_tps", f">= {THROUGHPUT_TARGET}"),
    ("end-to-end tokens/s", "end_to_end_tps", ""),
    ("ITL p99 ms", "itl_p99_ms", f"<= {ITL_P99_TARGET}"),
    ("server CPU ms per 1k tokens", "cpu_ms_per_1k", ""),
)


def report(pairs: list[tuple[Run, Run]]) -> str:
    """`pairs` holds (off, on) runs that ran next to each other."""
    rows = []
    for label, index in (("off (null store, baseline)", 0), ("on (SQLite, group commit)", 1)):
        cells = [label]
        for _, attr, _ in METRICS:
            values = [getattr(pair[index], attr) for pair in pairs]
            cells.append(f"{median(values):.1f} ({min(values):.0f}–{max(values):.0f})")
        rows.append(cells)
    ratio_cells = ["on / off: median of pair ratios"]
    for _, attr, target in METRICS:
        ratios = sorted(getattr(on, attr) / getattr(off, attr) for off, on in pairs)
        quartiles = f"{percentile(ratios, 0.25):.3f}–{percentile(ratios, 0.75):.3f}"
        cell = f"**{median(ratios):.3f}** (middle half {quartiles})"
        ratio_cells.append(cell + (f", target {target}" if target else ""))
    rows.append(ratio_cells)
    pooled = ["on / off: pooled ITL percentiles", "", ""]
    cells = []
    for q in (0.5, 0.99, 0.999):
        on = percentile([g for _, run in pairs for g in run.itl_s], q)
        off = percentile([g for run, _ in pairs for g in run.itl_s], q)
        cells.append(f"p{q * 100:g} {on * 1000:.1f}/{off * 1000:.1f} ms = {on / off:.3f}")
    pooled.append("; ".join(cells))
    rows.append([*pooled, ""])
    header = ["persistence", *(f"{name}: median (range)" for name, _, _ in METRICS)]
    return table(header, rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=20)
    args = parser.parse_args()
    setup = machine()
    flags = (*RELAXED_LIMITS, "--max-batch", str(args.streams), "--max-tokens", str(args.tokens))
    with ExitStack() as stack:
        servers = {
            mode: stack.enter_context(bench_server(*flags, persistence=mode))
            for mode in (False, True)
        }
        for server in servers.values():  # warm-up: first-call allocations, caches, pages
            await one_run(server, args.streams, args.tokens)
        pairs: list[tuple[Run, Run]] = []
        for i in range(args.pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            runs = {mode: await one_run(servers[mode], args.streams, args.tokens) for mode in order}
            pairs.append((runs[False], runs[True]))
            off, on = runs[False], runs[True]
            print(
                f"pair {i:2d}: streaming {off.streaming_tps:.0f} -> {on.streaming_tps:.0f} "
                f"tok/s, ITL p99 {off.itl_p99_ms:.1f} -> {on.itl_p99_ms:.1f} ms (off -> on)",
                flush=True,
            )
    body = report(pairs)
    print(body)
    write_section(
        "Persistence on vs off",
        f"`benchmarks/persistence.py --streams {args.streams} --tokens {args.tokens} "
        f"--pairs {args.pairs}`; {setup}.\n\n"
        f"{args.streams} concurrent replies of {args.tokens} tokens (`ignore_eos`), batch "
        f"{args.streams}, demo model. One server of each kind runs for the whole benchmark; "
        f"{args.pairs} pairs of runs alternate between them (off/on, then on/off, ...), and "
        "each pair gives one on/off ratio; the result is the median of those ratios, because "
        "on a shared machine the speed drifts between runs by more than the effect measured. "
        "Streaming tokens/s counts tokens over the span from the first token frame to the "
        "last; end-to-end tokens/s also includes the commit before `accepted` and the commit "
        "before `end` (durability latency, paid once per reply). ITL is measured by the "
        "clients (gaps between token frames). Off = the same server with "
        "`tickertape.resources.build_store` patched to an in-memory no-op store "
        "(`benchmarks/null_store.py`). The pooled row compares percentiles of all the gaps of "
        "every run of each mode. Server CPU is the server process's user + system time over "
        "the run, all threads, from /proc: what persistence costs in CPU.\n\n" + body,
    )


if __name__ == "__main__":
    asyncio.run(main())
