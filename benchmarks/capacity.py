"""The capacity model of docs/scaling.md: what N users with S streaming replies need.

A calculation, not a measurement: it combines the numbers measured on the test machine
(pass them from docs/benchmarks.md) with the stated assumptions, and prints the table.

    .venv/bin/python -m benchmarks.capacity --socket-cpu-ms-per-1k 180 \
        --redis-bytes-per-reply 1500 [--users 100000 --streaming 10000 ...]
"""

from __future__ import annotations

import argparse
import math

from benchmarks._report import table

TURN_COMMANDS = 7  # acquire place + message bucket + register (4) + notice, per turn


def model(a: argparse.Namespace) -> list[list[str]]:
    seconds_per_reply = a.reply_tokens / a.tokens_per_s
    turns_per_s = a.streaming / seconds_per_reply
    tokens_per_s = a.streaming * a.tokens_per_s
    # Socket tier: CPU for the streamed tokens, memory for the open sockets.
    cores = tokens_per_s / 1000 * a.socket_cpu_ms_per_1k / 1000
    by_cpu = cores / (a.cores_per_replica * a.target_cpu)
    by_memory = a.users * a.socket_kib / 1024 / 1024 / a.replica_memory_gib
    replicas = max(2, math.ceil(max(by_cpu, by_memory)))
    # Redis: one XADD per streaming reply per tick with news, plus the turns' commands.
    ticks_per_s = 1000 / a.mirror_interval_ms
    xadds = a.streaming * min(ticks_per_s, a.tokens_per_s)
    redis_ops = xadds + turns_per_s * TURN_COMMANDS + replicas * 2
    kept = a.streaming + turns_per_s * a.retention_s
    redis_gib = kept * a.redis_bytes_per_reply * (a.reply_tokens / a.measured_tokens) / 2**30
    # PostgreSQL: checkpoints of every streaming reply, and each turn's three writes.
    checkpoints = a.streaming * 1000 / a.checkpoint_interval_ms
    gpus = math.ceil(a.streaming / a.streams_per_gpu)
    return [
        [
            "turns started",
            f"{turns_per_s:,.0f}/s",
            f"{a.streaming:,} replies of {seconds_per_reply:.1f} s",
        ],
        ["streamed tokens", f"{tokens_per_s:,.0f}/s", f"{a.tokens_per_s:g} tokens/s per reply"],
        [
            "socket replicas",
            f"{replicas}",
            f"{cores:.1f} cores of CPU (at {a.target_cpu:.0%} of {a.cores_per_replica} cores each: {by_cpu:.1f}); memory {a.users * a.socket_kib / 2**20:.1f} GiB for {a.users:,} sockets ({by_memory:.1f} replicas of {a.replica_memory_gib:g} GiB)",
        ],
        [
            "sockets per replica",
            f"{a.users / replicas:,.0f}",
            f"{a.streaming / replicas:,.0f} of them streaming",
        ],
        [
            "Redis commands",
            f"{redis_ops:,.0f}/s",
            f"{xadds:,.0f} XADD/s ({a.mirror_interval_ms} ms ticks) + {turns_per_s * TURN_COMMANDS:,.0f}/s for turns; {redis_ops / tokens_per_s:.2f} per streamed token",
        ],
        [
            "Redis memory",
            f"{redis_gib:.1f} GiB",
            f"{kept:,.0f} replies live or kept {a.retention_s:g} s",
        ],
        [
            "PostgreSQL writes",
            f"{checkpoints + turns_per_s * 2:,.0f} rows/s",
            f"{checkpoints:,.0f} checkpoint updates/s (every {a.checkpoint_interval_ms} ms) + {turns_per_s * 2:,.0f} inserts/s + {turns_per_s:,.0f} final updates/s; per turn: 1 start transaction, {seconds_per_reply * 1000 / a.checkpoint_interval_ms:.0f} checkpoints, 1 final write",
        ],
        [
            "inference",
            f"{gpus} GPUs",
            f"{a.streaming:,} concurrent sequences at {a.streams_per_gpu} per GPU (assumption)",
        ],
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--streaming", type=int, default=10_000)
    p.add_argument("--tokens-per-s", type=float, default=30)
    p.add_argument("--reply-tokens", type=int, default=400)
    p.add_argument("--socket-cpu-ms-per-1k", type=float, required=True)
    p.add_argument("--socket-kib", type=float, default=85)
    p.add_argument("--cores-per-replica", type=int, default=4)
    p.add_argument("--replica-memory-gib", type=float, default=8)
    p.add_argument("--target-cpu", type=float, default=0.6)
    p.add_argument("--mirror-interval-ms", type=int, default=50)
    p.add_argument("--redis-bytes-per-reply", type=float, required=True)
    p.add_argument("--measured-tokens", type=int, default=32)
    p.add_argument("--retention-s", type=float, default=300)
    p.add_argument("--checkpoint-interval-ms", type=int, default=1000)
    p.add_argument("--streams-per-gpu", type=int, default=150)
    args = p.parse_args()
    print(table(["what", "needs", "how"], model(args)))


if __name__ == "__main__":
    main()
