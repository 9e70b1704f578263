"""Read a few frames, drop the connection, reconnect, resume; over and over, across replies."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from tests.reliability.helpers import RELAXED_LIMITS, long_params
from tests.support.wsclient import Client, client

DROP_RESUME_FLAGS = (*RELAXED_LIMITS, "--max-tokens", "4000")


@dataclass
class Followed:
    """What the client holds of one reply."""

    reply_id: str
    conversation_id: str
    text: str = ""
    last_seq: int = 0
    ended: bool = False


@dataclass
class DropResumeStats:
    cycles: int = 0
    replies: list[Followed] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    snapshots: int = 0


async def _start_reply(
    url: str, max_tokens: int, stats: DropResumeStats, token: str | None
) -> Followed:
    async with client(url, token) as c:
        accepted = await c.chat(
            "Tell me about the sea.", uuid.uuid4().hex, params=long_params(max_tokens)
        )
        assert accepted["type"] == "accepted", accepted
    # Dropped right after `accepted`: the first cycle resumes from seq 0.
    reply = Followed(accepted["reply_id"], accepted["conversation_id"])
    stats.replies.append(reply)
    return reply


async def _read_some(c: Client, reply: Followed, frames: int, stats: DropResumeStats) -> None:
    for _ in range(frames):
        frame = await c.recv_type("token", "end", "snapshot")
        if frame["type"] == "snapshot":
            # Allowed by the contract; the whole text replaces what we hold.
            stats.snapshots += 1
            reply.text, reply.last_seq = frame["text"], frame["seq"]
            continue
        if frame["type"] == "end":
            if frame["seq"] != reply.last_seq:
                stats.violations.append(
                    f"{reply.reply_id}: end.seq {frame['seq']} after {reply.last_seq}"
                )
            reply.ended = True
            return
        if frame["seq"] != reply.last_seq + 1:
            stats.violations.append(f"{reply.reply_id}: seq {frame['seq']} after {reply.last_seq}")
        reply.text += frame["text"]
        reply.last_seq = frame["seq"]


async def _worker(
    urls: Sequence[str],
    cycles: int,
    max_tokens: int,
    rng: random.Random,
    stats: DropResumeStats,
    token: str | None,
) -> None:
    # With several servers (replicas), every reconnect goes to the next one.
    turn = rng.randrange(len(urls))
    reply = await _start_reply(urls[turn % len(urls)], max_tokens, stats, token)
    for _ in range(cycles):
        turn += 1
        url = urls[turn % len(urls)]
        if reply.ended:
            reply = await _start_reply(url, max_tokens, stats, token)
            turn += 1
            url = urls[turn % len(urls)]
        async with client(url, token) as c:
            await c.send({"type": "resume", "reply_id": reply.reply_id, "last_seq": reply.last_seq})
            await _read_some(c, reply, rng.randint(1, 4), stats)
            if rng.random() < 0.5:
                # An abrupt drop (no close handshake), like a phone leaving Wi-Fi; the other
                # half leave with a normal close.
                c.ws.transport.abort()
        stats.cycles += 1


async def drop_resume(
    url: str | Sequence[str],
    base_url: str,
    cycles: int,
    workers: int,
    max_tokens: int,
    seed: int,
    token: str | None = None,
) -> DropResumeStats:
    """`workers` clients, each on its own reply at a time, `cycles` drops in total.

    Each client finally reads its reply to the end and compares it with the stored text.
    With several URLs (replicas of one deployment), each reconnect goes to the next one."""
    urls = [url] if isinstance(url, str) else list(url)
    stats = DropResumeStats()
    rng = random.Random(seed)
    per_worker = [cycles // workers + (i < cycles % workers) for i in range(workers)]
    await asyncio.gather(
        *(
            _worker(urls, n, max_tokens, random.Random(rng.random()), stats, token)
            for n in per_worker
        )
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as http:
        for i, reply in enumerate(stats.replies):
            while not reply.ended:
                async with client(urls[i % len(urls)], token) as c:
                    await c.send(
                        {"type": "resume", "reply_id": reply.reply_id, "last_seq": reply.last_seq}
                    )
                    await _read_some(c, reply, max_tokens + 1, stats)
            body = (await http.get(f"/api/conversations/{reply.conversation_id}")).json()
            stored = next(m for m in body["messages"] if m["id"] == reply.reply_id)
            if stored["content"] != reply.text:
                stats.violations.append(f"{reply.reply_id}: received text != stored text")
    return stats
