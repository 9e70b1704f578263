"""Streaming clients that check every frame and time every token; shared with benchmarks/."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.reliability.helpers import long_params, percentile
from tests.support.wsclient import Client, client

# A thousand handshakes at once queue up behind each other on a 2-core box.
OPEN_TIMEOUT_S = 120.0


@dataclass
class StreamStats:
    """What a group of clients saw. Every list is appended to by many tasks on one loop."""

    replies: int = 0
    frames: int = 0
    completion_tokens: int = 0
    itl_s: list[float] = field(default_factory=list)  # gaps between token frames of a reply
    ttft_s: list[float] = field(default_factory=list)  # `accepted` to the first token frame
    failures: list[str] = field(default_factory=list)  # connections that failed, and why
    violations: list[str] = field(default_factory=list)  # seq gaps, repeats, empty frames
    first_token_at: float | None = None  # monotonic time of the first token frame of any reply
    last_token_at: float = 0.0  # ... and of the last one

    def streaming_tokens_per_s(self) -> float:
        """Tokens over the span in which tokens flowed: excludes the commits before
        `accepted` and before `end`, which are latency, not streaming speed."""
        if self.first_token_at is None or self.last_token_at <= self.first_token_at:
            return 0.0
        return self.completion_tokens / (self.last_token_at - self.first_token_at)


async def read_reply(c: Client, reply_id: str, stats: StreamStats, accepted_at: float) -> str:
    """Read one reply's frames to its `end`, recording gaps or repeats instead of raising."""
    text, last_seq = "", 0
    last_at: float | None = None
    while True:
        frame = await c.recv_type("token", "end")
        now = time.monotonic()
        if frame["reply_id"] != reply_id:
            stats.violations.append(f"frame of another reply {frame}")
            continue
        if frame["type"] == "end":
            if frame["seq"] != last_seq:
                stats.violations.append(f"end.seq {frame['seq']} after token {last_seq}")
            stats.replies += 1
            stats.completion_tokens += frame["usage"]["completion_tokens"]
            return text
        if frame["seq"] != last_seq + 1:
            stats.violations.append(f"seq {frame['seq']} after {last_seq} in {reply_id}")
        if not frame["text"]:
            stats.violations.append(f"empty token frame in {reply_id}")
        stats.frames += 1
        if stats.first_token_at is None:
            stats.first_token_at = now
        stats.last_token_at = max(stats.last_token_at, now)
        if last_at is None:
            stats.ttft_s.append(now - accepted_at)
        else:
            stats.itl_s.append(now - last_at)
        last_at, last_seq, text = now, frame["seq"], text + frame["text"]


async def stream_until(
    url: str,
    until: float,
    max_tokens: int,
    stats: StreamStats,
    min_replies: int = 1,
    token: str | None = None,
) -> None:
    """One socket: ask for replies back to back until `until` (monotonic) has passed."""
    try:
        # No client keepalive pings: a measuring client whose own loop lags must not drop
        # its sockets (the server still pings, and the library answers).
        async with client(url, token, open_timeout=OPEN_TIMEOUT_S, ping_interval=None) as c:
            done = 0
            while done < min_replies or time.monotonic() < until:
                accepted = await c.chat(
                    "Tell me about the sea.", uuid.uuid4().hex, params=long_params(max_tokens)
                )
                if accepted["type"] != "accepted":
                    stats.failures.append(f"chat refused: {accepted}")
                    return
                await read_reply(c, accepted["reply_id"], stats, time.monotonic())
                done += 1
    except Exception as exc:  # a failed connection is a result, not a crash of the run
        stats.failures.append(f"{type(exc).__name__}: {exc}")


async def run_clients(
    url: str,
    sockets: int,
    seconds: float,
    max_tokens: int,
    min_replies: int = 1,
    auth_tokens: Sequence[str] | None = None,
) -> StreamStats:
    """`sockets` streaming clients; with `auth_tokens` (one per socket) each socket is its
    own user, else all are the same one (then every turn notifies all the other sockets)."""
    stats = StreamStats()
    until = time.monotonic() + seconds
    tokens = auth_tokens or [None] * sockets
    await asyncio.gather(
        *(
            stream_until(url, until, max_tokens, stats, min_replies, tokens[i])
            for i in range(sockets)
        )
    )
    return stats


def summary(stats: StreamStats) -> dict[str, Any]:
    return {
        "replies": stats.replies,
        "frames": stats.frames,
        "tokens": stats.completion_tokens,
        "failures": len(stats.failures),
        "violations": len(stats.violations),
        "itl_p50_ms": round(percentile(stats.itl_s, 0.50) * 1000, 1),
        "itl_p99_ms": round(percentile(stats.itl_s, 0.99) * 1000, 1),
        "ttft_p50_ms": round(percentile(stats.ttft_s, 0.50) * 1000, 1),
    }
