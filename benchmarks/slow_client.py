"""Readers' inter-token latency with and without one client that never reads.

.venv/bin/python -m benchmarks.slow_client [--readers 100] [--tokens 64] [--reps 2]
"""

from __future__ import annotations

import argparse
import asyncio

from tests.reliability.helpers import percentile
from tests.reliability.slow_client import readers_beside_non_reader, slow_client_flags

from benchmarks._report import machine, median, table, write_section
from benchmarks._servers import bench_server

ITL_P99_TARGET = 1.2
TIMEOUT_S = 3.0


async def one_run(readers: int, tokens: int, with_non_reader: bool) -> tuple[float, float | None]:
    with bench_server(*slow_client_flags(readers, TIMEOUT_S)) as server:
        result = await readers_beside_non_reader(
            server, readers, tokens, with_non_reader, TIMEOUT_S
        )
    stats = result.readers
    if stats.failures or stats.violations:
        raise RuntimeError(f"the run is invalid: {stats.failures[:3]} {stats.violations[:3]}")
    return percentile(stats.itl_s, 0.99) * 1000, result.disconnect_after_s


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    setup = machine()
    p99: dict[bool, list[float]] = {False: [], True: []}
    drops: list[float] = []
    for rep in range(args.reps):
        for non_reader in (False, True) if rep % 2 == 0 else (True, False):
            value, dropped = await one_run(args.readers, args.tokens, non_reader)
            p99[non_reader].append(value)
            if dropped is not None:
                drops.append(dropped)
            print(f"rep {rep} non-reader={non_reader}: readers' ITL p99 {value:.1f} ms")
    base, with_nr = median(p99[False]), median(p99[True])
    rows = [
        ["readers + 1 heavy client that reads (baseline)", f"{base:.1f}", "", ""],
        [
            "readers + 1 non-reader",
            f"{with_nr:.1f}",
            f"{with_nr / base:.3f} (target <= {ITL_P99_TARGET})",
            f"{median(drops):.1f} s after it stalled (timeout {TIMEOUT_S:g} s)",
        ],
    ]
    body = table(["run", "readers' ITL p99 ms", "ratio", "non-reader dropped"], rows)
    print(body)
    write_section(
        "Slow client",
        f"`benchmarks/slow_client.py --readers {args.readers} --tokens {args.tokens} "
        f"--reps {args.reps}`; {setup}.\n\n"
        f"{args.readers} readers each stream one {args.tokens}-token reply (batch "
        f"{args.readers + 1}) beside one more client that asks for a long reply and sends "
        "~5 MiB of big pings (so that a non-reader fills the server's send buffers at once; "
        "Linux grows them to 4 MiB). In the baseline that client reads everything; in the "
        "second run it never reads (raw socket, 4 KiB receive buffer) and the server drops "
        f"it after `--slow-client-timeout-s {TIMEOUT_S:g}`. Same work in both runs, so the "
        "ratio is the cost of the client being slow. The harness learns of the drop from "
        "the server's log line; it used to poll `/metrics` every 100 ms with a new HTTP "
        "client, in the process that measures the readers and in the non-reader run only, "
        "which inflated that run (1.217 with polling, same code). Medians of "
        f"{args.reps} runs per mode, fresh server each.\n\n" + body,
    )


if __name__ == "__main__":
    asyncio.run(main())
