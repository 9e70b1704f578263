"""Drop-and-resume cycles at scale: gaps, repeats, snapshots, cycles per second.

.venv/bin/python -m benchmarks.drop_resume [--cycles 10000] [--workers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from tests.reliability.drop_resume import DROP_RESUME_FLAGS, drop_resume

from benchmarks._report import machine, table, write_section
from benchmarks._servers import bench_server


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    args = parser.parse_args()
    setup = machine()
    with bench_server(*DROP_RESUME_FLAGS) as server:
        started = time.monotonic()
        stats = await drop_resume(
            server.ws_url, server.base_url, args.cycles, args.workers, args.tokens, args.seed
        )
        elapsed = time.monotonic() - started
    rows = [
        [
            stats.cycles,
            args.workers,
            len(stats.replies),
            len(stats.violations),
            stats.snapshots,
            f"{elapsed:.0f}",
            f"{stats.cycles / elapsed:.0f}",
        ]
    ]
    body = table(
        ["cycles", "clients", "replies", "gaps/repeats/mismatches", "snapshots", "s", "cycles/s"],
        rows,
    )
    print(body)
    for violation in stats.violations[:10]:
        print("violation:", violation)
    write_section(
        "Drop and resume",
        f"`benchmarks/drop_resume.py --cycles {args.cycles} --workers {args.workers} "
        f"--tokens {args.tokens} --seed {args.seed}`; {setup}.\n\n"
        "Each client reads 1-4 frames of its reply, drops the connection (half abruptly, half "
        "with a close frame), reconnects and sends `resume` with its last seq; when the reply "
        f"ends it starts another ({args.tokens} tokens, `ignore_eos`). At the end every reply's "
        "received text is compared with the stored one.\n\n" + body,
    )


if __name__ == "__main__":
    asyncio.run(main())
