"""Two replicas behind no balancer at all: clients pick a replica per connection, so every
cross-replica path is exercised on purpose (resume, stop, limits, notices)."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.reliability.drop_resume import drop_resume
from tests.reliability.helpers import env_int, long_params
from tests.replicas.conftest import Deployment
from tests.support.wsclient import Client, client

pytestmark = pytest.mark.postgres

CYCLES = env_int("TICKERTAPE_TEST_REPLICA_CYCLES", 500)
WORKERS = env_int("TICKERTAPE_TEST_REPLICA_WORKERS", 4)
TOKENS = env_int("TICKERTAPE_TEST_REPLICA_TOKENS", 300)


def _metric(base_url: str, name: str, label: str) -> float:
    text = httpx.get(base_url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name) and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.timeout(300)
async def test_drop_and_resume_alternating_replicas(deployment: Deployment) -> None:
    a, b = deployment.replicas[:2]
    seed = int(os.environ.get("TICKERTAPE_TEST_SEED", random.randrange(2**32)))
    print(f"two-replica drop/resume seed {seed}")
    started = time.monotonic()
    stats = await drop_resume(
        [a.ws_url, b.ws_url],
        a.base_url,
        CYCLES,
        WORKERS,
        max_tokens=TOKENS,
        seed=seed,
        token=deployment.tokens["alice"],
    )
    elapsed = time.monotonic() - started
    print(
        f"{stats.cycles} cycles alternating 2 replicas over {len(stats.replies)} replies in "
        f"{elapsed:.1f} s, {stats.snapshots} snapshots"
    )
    assert stats.cycles == CYCLES
    assert stats.violations == []  # no gap, no repeat, received text == stored text
    # Missing frames came from the other replica's stream, not from stale snapshots.
    assert stats.snapshots == 0
    for server in (a, b):
        assert _metric(server.base_url, "tickertape_ws_resumes_total", 'source="redis"') > 0


async def test_stop_sent_to_the_other_replica(deployment: Deployment) -> None:
    a, b = deployment.replicas[:2]
    token = deployment.tokens["bob"]
    async with client(a.ws_url, token) as on_a, client(b.ws_url, token) as on_b:
        accepted = await on_a.chat(
            "Tell me a long story.", uuid.uuid4().hex, params=long_params(3000)
        )
        assert accepted["type"] == "accepted", accepted
        reply_id = accepted["reply_id"]
        first = await on_a.recv_type("token")
        assert first["seq"] == 1
        sent_at = time.monotonic()
        await on_b.send({"type": "stop", "reply_id": reply_id})
        _, _, end = await on_a.collect_reply(reply_id, after_seq=1)
        latency = time.monotonic() - sent_at
        assert end["finish_reason"] == "stopped", end
        print(f"stop through the other replica took effect in {latency * 1000:.0f} ms")
        assert latency < 2.0
        # Another user's reply is not_found on either replica, as on one.
        async with client(b.ws_url, deployment.tokens["erin"]) as intruder:
            await intruder.send({"type": "stop", "reply_id": reply_id})
            error = await intruder.recv_type("error")
            assert error["code"] == "not_found"


async def test_user_at_the_message_limit_on_a_is_refused_on_b(deployment: Deployment) -> None:
    a, b = deployment.replicas[:2]
    token = deployment.tokens["carol"]
    async with client(a.ws_url, token) as on_a:
        started, accepted = time.monotonic(), 0
        while True:
            answer = await on_a.chat("Hi", uuid.uuid4().hex, params={"max_tokens": 1})
            if answer["type"] == "error":
                break
            accepted += 1
            await on_a.collect_reply(answer["reply_id"])
        assert answer["code"] == "rate_limited", answer
        # --messages-per-minute 60: the burst, plus one a second refilled meanwhile
        assert 60 <= accepted <= 61 + (time.monotonic() - started)
    # Per-process limits would give B a fresh burst of 60; shared ones give it only what
    # refilled since A's refusal (one a second).
    async with client(b.ws_url, token) as on_b:
        started, accepted_b = time.monotonic(), 0
        while True:
            refused = await on_b.chat("Hi", uuid.uuid4().hex, params={"max_tokens": 1})
            if refused["type"] == "error":
                break
            accepted_b += 1
            await on_b.collect_reply(refused["reply_id"])
        assert refused["code"] == "rate_limited", refused
        assert refused["message"] == "too many messages"
        assert refused["retry_after_ms"] > 0
        assert accepted_b <= 2 + (time.monotonic() - started)


async def test_replies_in_flight_are_counted_across_replicas(deployment: Deployment) -> None:
    a, b = deployment.replicas[:2]
    token = deployment.tokens["dave"]
    async with client(a.ws_url, token) as on_a, client(b.ws_url, token) as on_b:
        reply_ids = []
        for _ in range(8):  # --max-concurrent-replies 8, all on A
            accepted = await on_a.chat("Go on.", uuid.uuid4().hex, params=long_params(3000))
            assert accepted["type"] == "accepted", accepted
            reply_ids.append(accepted["reply_id"])
        refused = await on_b.chat("Go on.", uuid.uuid4().hex, params=long_params(10))
        assert refused["type"] == "error", refused
        assert refused["code"] == "rate_limited"
        assert refused["message"] == "too many replies in flight"
        for reply_id in reply_ids:  # stopped from B: the places come back
            await on_b.send({"type": "stop", "reply_id": reply_id})
        deadline = time.monotonic() + 10
        while True:
            answer = await on_b.chat("Again.", uuid.uuid4().hex, params={"max_tokens": 2})
            if answer["type"] == "accepted":
                break
            assert time.monotonic() < deadline, answer
            await asyncio.sleep(0.1)


async def test_live_notice_of_a_turn_on_a_reaches_the_socket_on_b(
    deployment: Deployment,
) -> None:
    a, b = deployment.replicas[:2]
    token = deployment.tokens["erin"]
    async with client(b.ws_url, token) as on_b, client(a.ws_url, token) as on_a:
        accepted = await on_a.chat("Tell me about cats.", uuid.uuid4().hex, params=long_params(60))
        notice = await on_b.recv_type("turn_started", timeout=10)
        assert notice["reply_id"] == accepted["reply_id"]
        assert notice["conversation_id"] == accepted["conversation_id"]
        assert notice["content"] == "Tell me about cats."
        # B follows the reply that runs on A, live, from the start.
        await on_b.send({"type": "resume", "reply_id": notice["reply_id"], "last_seq": 0})
        text_b, tokens_b, end_b = await on_b.collect_reply(notice["reply_id"])
        text_a, tokens_a, end_a = await on_a.collect_reply(accepted["reply_id"])
        assert text_b == text_a
        assert len(tokens_b) == len(tokens_a)
        assert [t["seq"] for t in tokens_b] == [t["seq"] for t in tokens_a]
        assert end_b["seq"] == end_a["seq"]
        assert end_b["finish_reason"] == end_a["finish_reason"]


async def _read_tokens(c: Client, reply_id: str, count: int) -> tuple[str, int]:
    text, seq = "", 0
    while seq < count:
        frame = await c.recv_type("token")
        assert frame["reply_id"] == reply_id
        assert frame["seq"] == seq + 1
        text, seq = text + frame["text"], frame["seq"]
    return text, seq


@pytest.mark.timeout(120)
async def test_a_replica_killed_mid_reply_ends_it_interrupted_elsewhere(
    deployment: Deployment,
) -> None:
    """C is SIGKILLed while two of its replies stream: one followed from B, one by nobody.
    Both end `interrupted` in the store and in B's stream, nobody waits forever, and what
    B's client holds is what the store holds."""
    b = deployment.replicas[1]
    c = deployment.start_replica("--redis-owner-timeout-s", "2")
    token = deployment.tokens["frank"]
    async with client(c.ws_url, token) as on_c, client(b.ws_url, token) as on_b:
        followed = await on_c.chat(
            "Tell me a long story.", uuid.uuid4().hex, params=long_params(3000)
        )
        orphan = await on_c.chat("And another one.", uuid.uuid4().hex, params=long_params(3000))
        reply_id = followed["reply_id"]
        await on_b.send({"type": "resume", "reply_id": reply_id, "last_seq": 0})
        text, seq = await _read_tokens(on_b, reply_id, 10)
        c.kill()
        killed_at = time.monotonic()
        while True:  # B's client reads on: frames, maybe a snapshot, then the end
            frame = await on_b.recv_type("token", "snapshot", "end", timeout=30)
            if frame["type"] == "token":
                assert frame["seq"] == seq + 1
                text, seq = text + frame["text"], frame["seq"]
            elif frame["type"] == "snapshot":
                text, seq = frame["text"], frame["seq"]
            else:
                end = frame
                break
        waited = time.monotonic() - killed_at
    print(f"B ended the dead replica's reply {waited:.1f} s after the SIGKILL")
    assert end["finish_reason"] == "interrupted"
    assert end["seq"] == seq
    assert waited < 15
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=b.base_url, headers=headers, timeout=10) as http:
        convo = (await http.get(f"/api/conversations/{followed['conversation_id']}")).json()
        stored = next(m for m in convo["messages"] if m["id"] == reply_id)
        assert stored["status"] == "interrupted"
        assert stored["content"] == text
        assert stored["seq"] == seq
        # The reply nobody followed: the janitor of a live replica ends it too.
        deadline = time.monotonic() + 30
        while True:
            convo = (await http.get(f"/api/conversations/{orphan['conversation_id']}")).json()
            if convo["messages"][-1]["status"] == "interrupted":
                break
            assert time.monotonic() < deadline, convo["messages"][-1]
            await asyncio.sleep(0.5)
    # A resume of the dead reply on a live replica, from where C's own client was, ends.
    async with client(b.ws_url, token) as again:
        await again.send({"type": "resume", "reply_id": reply_id, "last_seq": 3})
        frames = []
        while not frames or frames[-1]["type"] != "end":
            frames.append(await again.recv_type("token", "snapshot", "end", timeout=10))
        assert frames[-1]["finish_reason"] == "interrupted"


async def test_a_tool_result_sent_to_the_other_replica(deployment: Deployment) -> None:
    """A reply waits for a tool result on A; the result comes in on B, which relays it to
    A; the reply goes on (on A, and for B's follower through Redis)."""
    from tests.e2e.test_tools_live import TOOLS, demo_speaks_tools

    if not demo_speaks_tools():
        pytest.skip("the demo model has no tool-call format yet")
    a, b = deployment.replicas[:2]
    token = deployment.tokens["frank"]
    async with client(a.ws_url, token) as on_a, client(b.ws_url, token) as on_b:
        accepted = await on_a.chat(
            "What is the weather in Paris?",
            uuid.uuid4().hex,
            tools=TOOLS,
            tool_choice="required",
            parallel_tool_calls=False,
            params={"temperature": 0, "max_tokens": 120},
        )
        assert accepted["type"] == "accepted", accepted
        reply_id = accepted["reply_id"]
        skip = ("queued", "token", "reasoning", "tool_call")
        awaiting = await on_a.recv_type("awaiting_tools", skip=skip)
        (call,) = awaiting["calls"]
        await on_b.send(
            {
                "type": "tool_result",
                "reply_id": reply_id,
                "call_id": call["call_id"],
                "content": "{}",
            }
        )
        result = await on_a.recv_type("tool_result", skip=skip)
        assert (result["call_id"], result["content"]) == (call["call_id"], "{}")
        end = await on_a.recv_type("end", "awaiting_tools", skip=(*skip, "tool_result"))
        if end["type"] == "awaiting_tools":  # the model calls again: enough, stop it
            await on_a.send({"type": "stop", "reply_id": reply_id})
            end = await on_a.recv_type("end", skip=skip)
        assert end["finish_reason"] in ("stop", "length", "stopped")


async def _stored(base_url: str, token: str, conversation_id: str, reply_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as http:
        convo = (await http.get(f"/api/conversations/{conversation_id}")).json()
    return next(m for m in convo["messages"] if m["id"] == reply_id)


async def test_on_disconnect_stop_counts_the_readers_of_every_replica(
    deployment: Deployment,
) -> None:
    """A reply with `on_disconnect: stop` runs on A. Its reader on A leaves while a reader
    on B follows it: it goes on. The reader on B leaves: it stops."""
    a, b = deployment.replicas[:2]
    token = deployment.tokens["grace"]
    params = {**long_params(3000), "on_disconnect": "stop"}
    async with client(a.ws_url, token) as on_a:
        accepted = await on_a.chat("Tell me a long story.", uuid.uuid4().hex, params=params)
        started = time.monotonic()
        reply_id, conversation_id = accepted["reply_id"], accepted["conversation_id"]
        await on_a.recv_type("token")
        async with client(b.ws_url, token) as on_b:
            await on_b.send({"type": "resume", "reply_id": reply_id, "last_seq": 0})
            _, seq = await _read_tokens(on_b, reply_id, 1)
            # B's reader is in Redis (written when it started following)
            deadline = time.monotonic() + 5
            while not deployment.redis.command("SMEMBERS", f"tt:rd:{reply_id}").startswith(b"*1"):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            on_a.ws.transport.abort()  # A's only reader goes (a close would wait behind
            # the frames this client does not read)
            left_at = time.monotonic()
            while time.monotonic() - left_at < 0.5:  # B's reader still gets frames
                frame = await on_b.recv_type("token", "end", timeout=10)
                assert frame["type"] == "token", frame
                assert frame["seq"] == seq + 1
                seq = frame["seq"]
            stored = await _stored(a.base_url, token, conversation_id, reply_id)
            assert stored["status"] == "streaming"
            on_b.ws.transport.abort()  # now the last reader anywhere goes
            left_at = time.monotonic()
        while (stored := await _stored(b.base_url, token, conversation_id, reply_id))[
            "status"
        ] == "streaming":
            assert time.monotonic() - left_at < 10
            await asyncio.sleep(0.1)
        print(
            f"stopped {time.monotonic() - left_at:.2f} s after the last reader (on B) left, "
            f"{time.monotonic() - started:.2f} s after the start"
        )
        assert stored["status"] == "stopped"
        assert stored["seq"] >= seq


async def test_deleting_a_conversation_on_b_stops_its_reply_on_a(deployment: Deployment) -> None:
    a, b = deployment.replicas[:2]
    token = deployment.tokens["heidi"]
    async with client(a.ws_url, token) as on_a:
        accepted = await on_a.chat(
            "Tell me a long story.", uuid.uuid4().hex, params=long_params(3000)
        )
        reply_id = accepted["reply_id"]
        await on_a.recv_type("token")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=b.base_url, headers=headers, timeout=10) as http:
            deleted_at = time.monotonic()
            answer = await http.delete(f"/api/conversations/{accepted['conversation_id']}")
            assert answer.status_code == 204
        _, _, end = await on_a.collect_reply(reply_id, after_seq=1)
        waited = time.monotonic() - deleted_at
        print(f"the reply on A ended {waited * 1000:.0f} ms after the deletion on B")
        assert end["finish_reason"] == "stopped", end
        assert waited < 3
