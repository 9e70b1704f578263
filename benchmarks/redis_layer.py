"""Redis on vs off on one replica (1,000 sockets streaming), and cross-replica resume latency.

Part 1, the cost of the shared layer: two servers run for the whole benchmark, the same but
for `--redis-url`; short runs alternate between them (off/on, then on/off, ...) and each
adjacent pair gives one on/off ratio (the paired design of benchmarks/persistence.py). Redis
commands per streamed token come from Redis' own `INFO stats` over the "on" runs (which
count the calls Lua scripts make too); the commands the server itself sends (one script
call counts once: what its event loop packs and parses) come from `MONITOR` over the
warm-up run of the "on" server, which is not measured otherwise. The
sockets are driven by `--client-processes` worker processes (benchmarks/_clients.py), each
with its own event loop and a share of the sockets, so that what the ITL shows is the
server, not a client's lag. Each socket is a user of its own (`--auth token`): 1,000
sockets of one user would make every turn a `turn_started` notice to the 999 others, a
million notices per run that swamp both the server and the clients (what the first
version of this benchmark measured).

Part 2, resume on another replica: two replicas share a database and Redis. A client reads
a few frames of a long reply on replica A, drops the connection (abort, like a phone leaving
Wi-Fi), connects to replica B and sends `resume`; the latency is from the start of the
reconnect to the first missed frame on B. The same on A is the reference.

    .venv/bin/python -m benchmarks.redis_layer [--sockets 1000] [--tokens 32] [--pairs 5]
        [--resumes 200] [--client-processes 4] [--skip-socket-tier]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import redis.asyncio as aioredis
from tests.reliability.helpers import RELAXED_LIMITS, long_params, percentile, raise_nofile
from tests.support.accounts import create_users
from tests.support.redis_server import RedisServer, running_redis
from tests.support.server import ServerProcess, make_server
from tests.support.wsclient import client

from benchmarks._clients import ClientPool
from benchmarks._report import machine, median, table, write_section
from benchmarks.persistence import Run, process_cpu_s

THROUGHPUT_TARGET = 0.95
ITL_P99_TARGET = 1.1


async def _commands(url: str) -> int:
    r = aioredis.from_url(url)
    try:
        return int((await r.info("stats"))["total_commands_processed"])
    finally:
        await r.aclose()


class _Monitor:
    """The commands clients send to Redis (not those of Lua scripts), by `redis-cli MONITOR`."""

    def __init__(self, redis: RedisServer, directory: Path) -> None:
        cli = shutil.which("redis-cli") or str(Path(redis.binary).with_name("redis-cli"))
        self._path = directory / "monitor.txt"
        self._out = self._path.open("w")
        self._proc = subprocess.Popen(
            [cli, "-p", str(redis.port), "monitor"], stdout=self._out, stderr=subprocess.DEVNULL
        )

    async def stop(self) -> dict[str, int]:
        await asyncio.sleep(0.3)  # the last lines
        self._proc.terminate()
        self._proc.wait()
        self._out.close()
        counts: dict[str, int] = {}
        for line in self._path.read_text().splitlines():
            found = re.match(r'[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"', line)
            if found and found.group(1) != "lua":
                name = found.group(2).lower()
                counts[name] = counts.get(name, 0) + 1
        return counts


async def _memory_per_stream(url: str) -> tuple[float, int]:
    """Redis' used memory per reply key pair (stream + meta) now, and how many replies."""
    r = aioredis.from_url(url)
    try:
        streams = 0
        async for _ in r.scan_iter(match="tt:r:*", count=1000):
            streams += 1
        used = int((await r.info("memory"))["used_memory"])
        baseline = 1_000_000  # an empty redis-server uses about 0.9-1 MB
        return (used - baseline) / max(1, streams), streams
    finally:
        await r.aclose()


async def users_server(tmp: Path, users: int, *flags: str) -> tuple[ServerProcess, list[str]]:
    """A started `--auth token` server whose database holds `users` users; their tokens."""
    server = make_server(tmp, "--auth", "token", *flags)
    names = {f"user{i}": "user" for i in range(users)}
    database = f"sqlite+aiosqlite:///{tmp / 'tickertape.db'}"
    tokens = await asyncio.to_thread(create_users, database, names)  # type: ignore[arg-type]
    server.start()
    return server, [tokens[name] for name in names]


async def pooled_run(
    server: ServerProcess, pool: ClientPool, sockets: int, tokens: int, auth_tokens: list[str]
) -> tuple[Run, float]:
    """One run of `sockets` clients (a user each) spread over the pool; the busiest client
    process's CPU share."""
    assert server.proc is not None
    loop = asyncio.get_running_loop()
    cpu_before, started = process_cpu_s(server.proc.pid), loop.time()
    pooled = await pool.run(server.ws_url, sockets, tokens, auth_tokens[:sockets])
    elapsed, cpu_s = loop.time() - started, process_cpu_s(server.proc.pid) - cpu_before
    stats = pooled.stats
    if stats.failures or stats.violations:
        raise RuntimeError(f"the run is invalid: {stats.failures[:3]} {stats.violations[:3]}")
    run = Run(
        stats.streaming_tokens_per_s(),
        stats.completion_tokens / elapsed,
        percentile(stats.itl_s, 0.99) * 1000,
        cpu_s * 1000 / (stats.completion_tokens / 1000),
        stats.itl_s,
    )
    return run, pooled.busiest_client_cpu


async def on_off(
    args: argparse.Namespace, redis: RedisServer, pool: ClientPool
) -> tuple[str, dict[str, float]]:
    redis_url = redis.url
    assert redis.proc is not None
    # Clients that lag on a busy machine must not be dropped for a late pong (the same for
    # both servers).
    flags = (
        *RELAXED_LIMITS,
        "--max-batch",
        str(args.max_batch),
        "--max-tokens",
        "4000",
        "--ws-ping-interval-s",
        "600",
    )
    pairs: list[tuple[Run, Run]] = []
    busiest: list[float] = []
    loads: list[float] = []
    commands = tokens = 0
    redis_cpu_s = 0.0
    with ExitStack() as stack:
        servers: dict[bool, ServerProcess] = {}
        users: dict[bool, list[str]] = {}
        for mode in (False, True):
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tt-bench-")))
            extra = ("--redis-url", redis_url) if mode else ()
            server, users[mode] = await users_server(tmp, args.sockets, *flags, *extra)
            stack.callback(server.stop)
            servers[mode] = server
        warm = min(args.sockets, 200)
        await pooled_run(servers[False], pool, warm, args.tokens, users[False])  # warm-ups
        monitor = _Monitor(redis, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        await pooled_run(servers[True], pool, warm, args.tokens, users[True])
        sent = await monitor.stop()
        sent.pop("monitor", None)
        sent_per_token = sum(sent.values()) / (warm * args.tokens)
        top = ", ".join(
            f"{k} {v / warm:.2f}" for k, v in sorted(sent.items(), key=lambda kv: -kv[1])
        )
        print(f"commands the server sent per turn: {sum(sent.values()) / warm:.1f} ({top})")
        for i in range(args.pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            runs: dict[bool, Run] = {}
            for mode in order:
                before = await _commands(redis_url) if mode else 0
                redis_before = process_cpu_s(redis.proc.pid)
                runs[mode], cpu = await pooled_run(
                    servers[mode], pool, args.sockets, args.tokens, users[mode]
                )
                busiest.append(cpu)
                if mode:
                    commands += await _commands(redis_url) - before - 1  # minus our INFO
                    redis_cpu_s += process_cpu_s(redis.proc.pid) - redis_before
                    tokens += args.sockets * args.tokens
            pairs.append((runs[False], runs[True]))
            off, on = runs[False], runs[True]
            loads.append(os.getloadavg()[0])
            print(
                f"pair {i}: streaming {off.streaming_tps:.0f} -> {on.streaming_tps:.0f} tok/s, "
                f"ITL p99 {off.itl_p99_ms:.1f} -> {on.itl_p99_ms:.1f} ms (off -> on), "
                f"busiest client process {max(busiest[-2:]) * 100:.0f} % of a core, "
                f"load {loads[-1]:.1f}",
                flush=True,
            )
    rows = []
    for label, index in (("off (one process)", 0), ("on (--redis-url)", 1)):
        cells = [label]
        for attr in ("streaming_tps", "itl_p99_ms", "cpu_ms_per_1k"):
            values = [getattr(pair[index], attr) for pair in pairs]
            cells.append(f"{median(values):.1f} ({min(values):.0f}–{max(values):.0f})")
        rows.append(cells)
    ratios: dict[str, float] = {}
    cells = ["on / off: median of pair ratios"]
    for attr, target in (
        ("streaming_tps", f"target >= {THROUGHPUT_TARGET}"),
        ("itl_p99_ms", f"target <= {ITL_P99_TARGET}"),
        ("cpu_ms_per_1k", ""),
    ):
        values = sorted(getattr(on, attr) / getattr(off, attr) for off, on in pairs)
        ratios[attr] = median(values)
        spread = f"{values[0]:.3f}–{values[-1]:.3f}"
        cells.append(f"**{ratios[attr]:.3f}** (pairs {spread}{', ' + target if target else ''})")
    rows.append(cells)
    ratios["redis_commands_per_token"] = commands / tokens if tokens else float("nan")
    ratios["sent_commands_per_token"] = sent_per_token
    ratios["bytes_per_reply"], ratios["replies_kept"] = await _memory_per_stream(redis_url)
    ratios["redis_cpu_ms_per_1k"] = redis_cpu_s * 1000 / (tokens / 1000) if tokens else float("nan")
    ratios["busiest_client_cpu"] = max(busiest)
    ratios["load_min"], ratios["load_max"] = min(loads), max(loads)
    header = ["Redis", "streaming tokens/s", "ITL p99 ms", "server CPU ms per 1k tokens"]
    return table(header, rows), ratios


async def _one_resume(first: str, second: str, frames_before: int) -> float:
    """Latency from the reconnect to the first missed frame, in seconds."""
    async with client(first) as c:
        accepted = await c.chat(
            "Tell me about the sea.", uuid.uuid4().hex, params=long_params(3000)
        )
        reply_id, seq = accepted["reply_id"], 0
        while seq < frames_before:
            seq = (await c.recv_type("token"))["seq"]
        c.ws.transport.abort()
    started = time.monotonic()
    async with client(second) as c:
        await c.send({"type": "resume", "reply_id": reply_id, "last_seq": seq})
        frame = await c.recv_type("token", "snapshot")
        latency = time.monotonic() - started
        if frame["type"] != "token" or frame["seq"] != seq + 1:
            raise RuntimeError(f"resume did not continue where the client was: {frame}")
        await c.send({"type": "stop", "reply_id": reply_id})
        await c.recv_type("end", skip=("queued", "token"))
    return latency


async def resume_latency(args: argparse.Namespace, redis_url: str) -> tuple[str, dict[str, float]]:
    flags = (*RELAXED_LIMITS, "--max-tokens", "4000", "--redis-url", redis_url)
    with tempfile.TemporaryDirectory(prefix="tt-bench-") as tmp:
        a = make_server(Path(tmp), *flags)
        b = make_server(Path(tmp), *flags)  # the same database file: one deployment
        a.start()
        b.start()
        try:
            results: dict[str, list[float]] = {"same replica": [], "other replica": []}
            for i in range(args.resumes):
                await _one_resume(a.ws_url, a.ws_url, 3)  # keeps both paths equally warm
                kind = "other replica" if i % 2 == 0 else "same replica"
                target = b.ws_url if kind == "other replica" else a.ws_url
                results[kind].append(await _one_resume(a.ws_url, target, 3))
        finally:
            a.stop()
            b.stop()
    rows, numbers = [], {}
    for kind, values in results.items():
        p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
        rows.append([kind, len(values), f"{p50:.1f}", f"{p99:.1f}", f"{max(values) * 1000:.1f}"])
        numbers[f"{kind} p99 ms"] = p99
    header = ["resume on", "resumes", "p50 ms", "p99 ms", "max ms"]
    return table(header, rows), numbers


async def socket_tier(
    args: argparse.Namespace, redis_url: str, pool: ClientPool
) -> tuple[str, dict[str, float]]:
    """CPU of a socket-tier replica (`--engine remote`, Redis on) per 1k streamed tokens:
    what sizing the socket tier rests on. The upstream is a local-engine tickertape."""
    rows, numbers = [], {}
    with tempfile.TemporaryDirectory(prefix="tt-bench-") as tmp:
        upstream = make_server(
            Path(tmp) / "up", *RELAXED_LIMITS, "--max-batch", "64", "--max-tokens", "4000"
        )
        (Path(tmp) / "up").mkdir()
        upstream.start()
        try:
            for redis_on in (False, True):
                sub = Path(tmp) / f"socket{int(redis_on)}"
                sub.mkdir()
                extra = ("--redis-url", redis_url) if redis_on else ()
                replica, users = await users_server(
                    sub, 64, *RELAXED_LIMITS, "--engine", "remote", "--upstream-url",
                    upstream.base_url, "--max-batch", "64", "--max-tokens", "4000", *extra,
                )  # fmt: skip
                try:
                    await pooled_run(replica, pool, 64, args.tokens, users)  # warm-up
                    run, _ = await pooled_run(replica, pool, 64, 4 * args.tokens, users)
                finally:
                    replica.stop()
                label = "on" if redis_on else "off"
                rows.append(
                    [
                        f"Redis {label}",
                        f"{run.streaming_tps:.0f}",
                        f"{run.cpu_ms_per_1k:.0f}",
                        f"{1_000_000 / run.cpu_ms_per_1k:.0f}",
                    ]
                )
                numbers[f"cpu_ms_per_1k_{label}"] = run.cpu_ms_per_1k
        finally:
            upstream.stop()
    header = [
        "socket replica",
        "tokens/s (upstream-bound)",
        "CPU ms per 1k tokens",
        "tokens/s per core at 100 % CPU",
    ]
    return table(header, rows), numbers


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--resumes", type=int, default=200)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--only-socket-tier", action="store_true")
    parser.add_argument("--skip-socket-tier", action="store_true")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the results, leave docs/benchmarks.md"
    )
    args = parser.parse_args()
    write = _print_section if args.dry_run else write_section
    setup = machine()
    raise_nofile(4 * args.sockets + 256)
    pool = ClientPool(args.client_processes, nofile=2 * args.sockets + 256)
    with running_redis() as redis_server, ExitStack() as stack:
        stack.callback(pool.close)
        await pool.start()
        if args.skip_socket_tier:
            part3 = ""
        else:
            part3, _ = await socket_tier(args, redis_server.url, pool)
        print(part3)
        if part3:
            write(
                "Redis: CPU of a socket-tier replica",
                f"`benchmarks/redis_layer.py --tokens {args.tokens}` (part 3); {setup}.\n\n"
                "One local-engine tickertape (batch 64) is the upstream; a socket replica "
                "(`--engine remote`, batch 64) streams 64 replies of "
                f"{4 * args.tokens} tokens from it (64 sockets, a user each, driven by "
                f"{args.client_processes} client processes), without then with `--redis-url`. "
                "Its CPU (user "
                "+ system, all threads, from /proc) per 1k streamed tokens is what a socket tier "
                "is sized on; tokens/s here is bound by the upstream, not by the replica.\n\n"
                + part3,
            )
        if args.only_socket_tier:
            return
        part1, ratios = await on_off(args, redis_server, pool)
        part2, _ = await resume_latency(args, redis_server.url)
    load_end = os.getloadavg()[0]
    print(part1, part2, sep="\n\n")
    print(f"redis commands per streamed token: {ratios['redis_commands_per_token']:.3f}")
    print(f"commands the server sent per streamed token: {ratios['sent_commands_per_token']:.3f}")
    print(f"redis-server CPU per 1k streamed tokens: {ratios['redis_cpu_ms_per_1k']:.0f} ms")
    write(
        "Redis: the shared layer on vs off, and resume on another replica",
        f"`benchmarks/redis_layer.py --sockets {args.sockets} --tokens {args.tokens} --max-batch "
        f"{args.max_batch} --pairs {args.pairs} --resumes {args.resumes} --client-processes "
        f"{args.client_processes}`; {setup}, {ratios['load_min']:.1f}–"
        f"{ratios['load_max']:.1f} after the pairs, {load_end:.1f} at the end.\n\n"
        f"**On vs off.** {args.sockets} sockets on one replica each stream one reply of "
        f"{args.tokens} tokens (`ignore_eos`, batch {args.max_batch}, the rest queued), demo "
        "model, SQLite, `--auth token` with a user per socket (sockets of one user would "
        "each get a `turn_started` notice of every other socket's turn: a million frames a "
        "run, which is what the first version of this benchmark measured). Two servers, "
        "the same but for `--redis-url` (a local redis-server), "
        f"run side by side; {args.pairs} pairs of runs alternate between them and the result "
        "is the median of the pair ratios (see Persistence above for why). On, every reply "
        "is registered in Redis before it starts, its frames are mirrored every 50 ms, and "
        "every turn runs the shared limit scripts. The sockets are driven by "
        f"{args.client_processes} client processes (`benchmarks/_clients.py`), each with its "
        f"own event loop and {args.sockets // args.client_processes} sockets, so that the "
        "ITL is the server's, not a client's lag: the busiest client process used "
        f"{ratios['busiest_client_cpu'] * 100:.0f} % of a core over its run (near 100 % "
        "would mean a client that cannot keep up).\n\n" + part1 + "\n\nRedis commands per "
        f"streamed token (Redis' `total_commands_processed` over the on runs, which counts "
        f"the calls Lua scripts make too): **{ratios['redis_commands_per_token']:.3f}**; "
        "commands the server sent (one script call counts once; `MONITOR` over the warm-up "
        f"run): **{ratios['sent_commands_per_token']:.3f}** per streamed token; "
        f"the redis-server process (on the same "
        f"cores) used **{ratios['redis_cpu_ms_per_1k']:.0f} ms of CPU per 1k streamed tokens**, "
        "part of what the on runs pay here and a separate Redis host would take away. "
        "Redis memory per finished reply of "
        f"{args.tokens} tokens kept for resume (stream + meta; used memory over "
        f"{ratios['replies_kept']:.0f} kept replies): **{ratios['bytes_per_reply']:.0f} bytes**."
        "\n\n"
        "**Resume on another replica.** Two replicas on one database and Redis. A client "
        "reads 3 frames of a long reply on A, aborts the connection, reconnects and sends "
        "`resume`: to B (the frames come from the reply's Redis stream) or to A (from "
        "memory, the reference). Latency: from the start of the reconnect (TCP, WebSocket "
        "handshake, `hello`) to the first missed `token` frame.\n\n" + part2,
    )


def _print_section(title: str, body: str) -> None:
    print(f"## {title}\n\n{body}\n")


if __name__ == "__main__":
    asyncio.run(main())
