"""The token path before and after "one pipeline for every turn" (issue 13): server CPU per
1k streamed tokens and ITL p99, at 32 and 256 concurrent streams.

"Before" is the server of an older commit (`--before`, default the last commit with the
per-reply pump task and the engine-side collector), run from a git worktree of that commit
with this checkout's virtualenv; "after" is this checkout. Both serve the demo model with
the same flags. As in benchmarks/persistence.py, both servers run for the whole benchmark
and short runs alternate between them in pairs; the result is the median of the pair
ratios, which cancels the drift of a shared machine.

    .venv/bin/python -m benchmarks.pipeline [--streams 32,256] [--tokens 128] [--pairs 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import cast

from tests.reliability.helpers import RELAXED_LIMITS, percentile
from tests.support.server import ServerProcess, make_server

from benchmarks._report import machine, median, table, write_section
from benchmarks.persistence import Run, one_run

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "2048783"  # main before the pipeline work of issue 13
NEW_FLAGS = ("--max-connections-per-user",)  # unknown to the old server


def old_flags(flags: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    skip = False
    for flag in flags:
        if skip:
            skip = False
            continue
        if flag in NEW_FLAGS:
            skip = True
            continue
        out.append(flag)
    return tuple(out)


# Each stream is a user of its own: with one user for all, every turn would notify all the
# user's other sockets (`turn_started`, which the "after" commit has and "before" has not),
# and that fan-out, not the token path, would be measured.
CREATE_USERS = """
import json, sys
from tests.support.accounts import create_users
names = {f"user{i}": "user" for i in range(int(sys.argv[2]))}
tokens = create_users(sys.argv[1], names)
print(json.dumps([tokens[name] for name in names]))
"""


def create_users_with(checkout: Path, data: Path, users: int) -> list[str]:
    """Users and their tokens, created by the checkout's own code (its own schema)."""
    env = {**os.environ, "PYTHONPATH": f"{checkout / 'backend'}{os.pathsep}{checkout}"}
    database = f"sqlite+aiosqlite:///{data / 'tickertape.db'}"
    done = subprocess.run(
        [sys.executable, "-c", CREATE_USERS, database, str(users)],
        cwd=checkout,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return cast(list[str], json.loads(done.stdout.strip().splitlines()[-1]))


@contextmanager
def server_of(
    ref: str | None, tmp: Path, flags: tuple[str, ...], users: int
) -> Iterator[tuple[ServerProcess, list[str]]]:
    """A running `--auth token` server of commit `ref` (None: this checkout) with `users`
    users; their tokens."""
    env: dict[str, str] = {}
    worktree = tmp / "before"
    checkout = ROOT
    if ref is not None:
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), ref],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        env["PYTHONPATH"] = str(worktree / "backend")
        flags = old_flags(flags)
        checkout = worktree
    data = tmp / ("before-data" if ref else "after-data")
    data.mkdir()
    tokens = create_users_with(checkout, data, users)
    server = make_server(data, "--auth", "token", *flags, env=env)
    server.start()
    try:
        yield server, tokens
    finally:
        server.stop()
        if ref is not None:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
            )


def report(results: dict[int, list[tuple[Run, Run]]]) -> str:
    rows = []
    for streams, pairs in results.items():
        for label, index in (("before", 0), ("after", 1)):
            cpu = [pair[index].cpu_ms_per_1k for pair in pairs]
            loop_cpu = [pair[index].loop_cpu_ms_per_1k for pair in pairs]
            p99 = [pair[index].itl_p99_ms for pair in pairs]
            tps = [pair[index].streaming_tps for pair in pairs]
            rows.append(
                [
                    streams,
                    label,
                    f"{median(loop_cpu):.0f} ({min(loop_cpu):.0f}–{max(loop_cpu):.0f})",
                    f"{median(cpu):.0f} ({min(cpu):.0f}–{max(cpu):.0f})",
                    f"{median(p99):.1f} ({min(p99):.0f}–{max(p99):.0f})",
                    f"{median(tps):.0f}",
                ]
            )
        cpu_ratios = sorted(a.cpu_ms_per_1k / b.cpu_ms_per_1k for b, a in pairs)
        loop_ratios = sorted(a.loop_cpu_ms_per_1k / b.loop_cpu_ms_per_1k for b, a in pairs)
        p99_ratios = sorted(a.itl_p99_ms / b.itl_p99_ms for b, a in pairs)
        tps_ratios = sorted(a.streaming_tps / b.streaming_tps for b, a in pairs)
        rows.append(
            [
                streams,
                "after / before (median of pair ratios)",
                f"**{median(loop_ratios):.3f}** (middle half {percentile(loop_ratios, 0.25):.3f}–"
                f"{percentile(loop_ratios, 0.75):.3f})",
                f"**{median(cpu_ratios):.3f}** (middle half {percentile(cpu_ratios, 0.25):.3f}–"
                f"{percentile(cpu_ratios, 0.75):.3f})",
                f"**{median(p99_ratios):.3f}**",
                f"{median(tps_ratios):.3f}",
            ]
        )
    header = [
        "streams",
        "server",
        "event loop CPU ms per 1k tokens: median (range)",
        "server CPU ms per 1k tokens, all threads: median (range)",
        "ITL p99 ms: median (range)",
        "streaming tokens/s",
    ]
    return table(header, rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", default="32,256")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--before", default=BEFORE)
    args = parser.parse_args()
    setup = machine()
    counts = [int(n) for n in args.streams.split(",")]
    batch = max(counts)
    flags = (*RELAXED_LIMITS, "--max-batch", str(batch), "--max-tokens", str(args.tokens))
    results: dict[int, list[tuple[Run, Run]]] = {}
    with tempfile.TemporaryDirectory(prefix="tickertape-pipeline-") as tmp, ExitStack() as stack:
        servers = {
            "before": stack.enter_context(server_of(args.before, Path(tmp), flags, batch)),
            "after": stack.enter_context(server_of(None, Path(tmp), flags, batch)),
        }
        for streams in counts:
            for server, users in servers.values():  # warm-up
                await one_run(server, streams, args.tokens, users[:streams])
            pairs: list[tuple[Run, Run]] = []
            for i in range(args.pairs):
                order = ("before", "after") if i % 2 == 0 else ("after", "before")
                runs = {}
                for name in order:
                    server, users = servers[name]
                    runs[name] = await one_run(server, streams, args.tokens, users[:streams])
                pairs.append((runs["before"], runs["after"]))
                print(
                    f"{streams} streams, pair {i}: event loop CPU/1k "
                    f"{runs['before'].loop_cpu_ms_per_1k:.0f} -> "
                    f"{runs['after'].loop_cpu_ms_per_1k:.0f} ms, all threads "
                    f"{runs['before'].cpu_ms_per_1k:.0f} -> "
                    f"{runs['after'].cpu_ms_per_1k:.0f} ms, ITL p99 "
                    f"{runs['before'].itl_p99_ms:.1f} -> {runs['after'].itl_p99_ms:.1f} ms",
                    flush=True,
                )
            results[streams] = pairs
    body = report(results)
    print(body)
    write_section(
        "Token path: one pipeline vs per-reply pumps",
        f"`benchmarks/pipeline.py --streams {args.streams} --tokens {args.tokens} "
        f"--pairs {args.pairs}`; {setup}; before = commit {args.before}.\n\n"
        "Concurrent WebSocket replies of the demo model (`ignore_eos`), batch = streams, "
        "each stream a user of its own (`--auth token`). "
        "Before: each reply had an engine-side collector and a pump task that merged text "
        "and fed the reply log. After: the engine's per-step hand-off calls each reply's "
        "sink, which appends to the log directly (no task per reply while it streams). Both "
        "servers run for the whole benchmark and alternate in pairs; ratios are medians of "
        "pair ratios. Server CPU is user + system time of the server process over the run, "
        "per 1000 streamed tokens: of its main thread, the event loop that carries every "
        "token from the engine's hand-off to the sockets (what this change is about), and "
        "of all its threads. The all-threads figure includes the generation thread, and "
        "the engine itself changed between the two commits (issue 12: the model's own "
        "transformers forward over a paged cache replaced the hand-written Llama forward), "
        "so only the event loop column isolates the token path.\n\n" + body,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main())
