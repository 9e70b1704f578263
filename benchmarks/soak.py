"""1,000 sockets streaming replies for 60 s: failures, gaps, latency, server memory.

.venv/bin/python -m benchmarks.soak [--sockets 1000] [--seconds 60] [--max-batch 128]
"""

from __future__ import annotations

import argparse
import asyncio

from tests.reliability.helpers import raise_nofile
from tests.reliability.load import summary
from tests.reliability.soak import soak, soak_flags

from benchmarks._report import machine, table, write_section
from benchmarks._servers import bench_server


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-batch", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=24)
    args = parser.parse_args()
    setup = machine()
    raise_nofile(4 * args.sockets + 256)  # before the server starts: it inherits the limit
    with bench_server(*soak_flags(args.max_batch)) as server:
        result = await soak(server, args.sockets, args.seconds, args.tokens)
    s = summary(result.stats)
    rows = [
        [
            args.sockets,
            f"{result.seconds:.0f}",
            s["replies"],
            s["frames"],
            s["failures"],
            s["violations"],
            s["ttft_p50_ms"],
            s["itl_p50_ms"],
            s["itl_p99_ms"],
            f"{result.rss_before_kib // 1024} -> {result.rss_after_kib // 1024}",
        ]
    ]
    body = table(
        [
            "sockets",
            "s",
            "replies",
            "frames",
            "failed conns",
            "gaps/repeats",
            "TTFT p50 ms",
            "ITL p50 ms",
            "ITL p99 ms",
            "server RSS MiB",
        ],
        rows,
    )
    print(body)
    for failure in result.stats.failures[:10]:
        print("failure:", failure)
    write_section(
        "Soak: many sockets",
        f"`benchmarks/soak.py --sockets {args.sockets} --seconds {args.seconds:g} "
        f"--max-batch {args.max_batch} --tokens {args.tokens}`; {setup}.\n\n"
        f"Every socket asks for {args.tokens}-token replies back to back (`ignore_eos`) until "
        "the time is up; replies beyond the batch wait in the queue (their TTFT includes the "
        "wait). RSS is the server's VmRSS before the first socket and after the last one "
        "closed (finished replies stay in memory for `--resume-retention-s`).\n\n" + body,
    )


if __name__ == "__main__":
    asyncio.run(main())
