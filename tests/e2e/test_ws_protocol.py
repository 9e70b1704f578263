"""Protocol v1 end to end: a real server process, a real `websockets` client."""

from __future__ import annotations

import json
import uuid

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.server import ServerProcess
from tests.support.wsclient import client

LONG = {"max_tokens": 200, "ignore_eos": True, "temperature": 0}


def msg_id() -> str:
    return uuid.uuid4().hex


async def test_hello_describes_session_and_limits(live_server: ServerProcess) -> None:
    async with client(live_server.ws_url) as c:
        hello = c.hello
        assert hello["protocol"] == 1
        assert hello["user"] == {"id": hello["user"]["id"], "name": "local", "role": "admin"}
        assert hello["model"]
        assert set(hello["limits"]) == {
            "max_frame_bytes",
            "max_content_chars",
            "max_tokens",
            "max_concurrent_replies",
        }
        assert hello["session_id"]


async def test_reply_streams_and_matches_history(server: ServerProcess) -> None:
    async with client(server.ws_url) as c:
        accepted = await c.chat("Hello! How are you today?", msg_id(), params={"temperature": 0})
        assert accepted["type"] == "accepted"
        text, tokens, end = await c.collect_reply(accepted["reply_id"])
    assert tokens, "no token frames"
    assert end["seq"] == tokens[-1]["seq"]
    assert end["finish_reason"] in ("stop", "length")
    assert end["usage"]["completion_tokens"] > 0
    assert end["usage"]["prompt_tokens"] > 0
    assert set(end["timing"]) == {"queued_ms", "ttft_ms", "total_ms"}
    with server.http() as http:
        convo = http.get(f"/api/conversations/{accepted['conversation_id']}").json()
    roles = [(m["role"], m["status"]) for m in convo["messages"]]
    assert roles == [("user", "complete"), ("assistant", "complete")]
    assert convo["messages"][1]["content"] == text
    assert convo["messages"][0]["id"] == accepted["user_message_id"]


async def test_second_turn_sees_the_first(server: ServerProcess) -> None:
    async with client(server.ws_url) as c:
        first = await c.chat("Tell me about cats.", msg_id(), params={"temperature": 0})
        _, _, end1 = await c.collect_reply(first["reply_id"])
        second = await c.chat(
            "And dogs?",
            msg_id(),
            conversation_id=first["conversation_id"],
            params={"temperature": 0},
        )
        assert second["conversation_id"] == first["conversation_id"]
        _, _, end2 = await c.collect_reply(second["reply_id"])
    # The second prompt carries the first question and answer.
    assert (
        end2["usage"]["prompt_tokens"]
        > end1["usage"]["prompt_tokens"] + end1["usage"]["completion_tokens"]
    )


async def test_stop_ends_reply_as_stopped(server: ServerProcess) -> None:
    async with client(server.ws_url) as c:
        accepted = await c.chat("Write a long story.", msg_id(), params=LONG)
        first = await c.recv_type("token")
        await c.send({"type": "stop", "reply_id": accepted["reply_id"]})
        text, _, end = await c.collect_reply(accepted["reply_id"], after_seq=first["seq"])
    assert end["finish_reason"] == "stopped"
    assert end["usage"]["completion_tokens"] < LONG["max_tokens"]
    with server.http() as http:
        convo = http.get(f"/api/conversations/{accepted['conversation_id']}").json()
    reply = convo["messages"][1]
    assert reply["status"] == "stopped"
    assert reply["content"] == first["text"] + text


async def test_resume_after_drop_has_no_gap_or_repeat(server: ServerProcess) -> None:
    async with client(server.ws_url) as c:
        accepted = await c.chat("Tell me a story.", msg_id(), params=LONG)
        received = ""
        last_seq = 0
        for _ in range(3):
            frame = await c.recv_type("token")
            assert frame["seq"] == last_seq + 1
            received += frame["text"]
            last_seq = frame["seq"]
    async with client(server.ws_url) as c2:
        await c2.send({"type": "resume", "reply_id": accepted["reply_id"], "last_seq": last_seq})
        while True:
            frame = await c2.recv_type("token", "snapshot", "end")
            if frame["type"] == "end":
                break
            if frame["type"] == "snapshot":
                received = frame["text"]
            else:
                assert frame["seq"] == last_seq + 1, "gap or repeat after resume"
                received += frame["text"]
            last_seq = frame["seq"]
    assert frame["seq"] == last_seq
    with server.http() as http:
        convo = http.get(f"/api/conversations/{accepted['conversation_id']}").json()
    assert convo["messages"][1]["content"] == received


async def test_resume_of_finished_reply_sends_only_what_is_missing(
    live_server: ServerProcess,
) -> None:
    async with client(live_server.ws_url) as c:
        accepted = await c.chat("Hi there", msg_id(), params={"temperature": 0})
        text, _tokens, end = await c.collect_reply(accepted["reply_id"])
        await c.send({"type": "resume", "reply_id": accepted["reply_id"], "last_seq": end["seq"]})
        again = await c.recv_type("end", "token", "snapshot")
        assert again["type"] == "end"
        assert again["seq"] == end["seq"]
        await c.send({"type": "resume", "reply_id": accepted["reply_id"], "last_seq": 0})
        resent = ""
        while (frame := await c.recv_type("end", "token", "snapshot"))["type"] != "end":
            resent = frame["text"] if frame["type"] == "snapshot" else resent + frame["text"]
        assert resent == text


async def test_retried_client_msg_id_creates_one_turn(server: ServerProcess) -> None:
    cid = msg_id()
    async with client(server.ws_url) as c:
        first = await c.chat("Remember me", cid, params={"temperature": 0})
    async with client(server.ws_url) as c:
        again = await c.chat("Remember me", cid, params={"temperature": 0})
        assert {k: again[k] for k in first} == first
        await c.collect_reply(first["reply_id"])
    with server.http() as http:
        convo = http.get(f"/api/conversations/{first['conversation_id']}").json()
    assert len(convo["messages"]) == 2


async def test_a_retry_answers_the_original_accepted_and_never_repeats_frames(
    server: ServerProcess,
) -> None:
    """The original `accepted` (its `truncated` too, also from the store on another
    connection); on the connection that got the reply, only `end` again."""
    long_turn = "Tell me everything about cats and dogs. " * 60  # ~600 tokens
    async with client(server.ws_url) as c:
        first = await c.chat(long_turn, msg_id(), params={"max_tokens": 8})
        await c.collect_reply(first["reply_id"])
        cid = msg_id()
        turn = {"conversation_id": first["conversation_id"], "params": {"max_tokens": 8}}
        second = await c.chat(long_turn, cid, **turn)
        assert second["truncated"] > 0  # the first turn no longer fits beside this one
        _, tokens, end = await c.collect_reply(second["reply_id"])
        assert tokens
        again = await c.chat(long_turn, cid, **turn)
        assert again == second
        repeated = await c.recv_type("end", skip=("queued",))  # a token frame fails here
        assert repeated == end
    async with client(server.ws_url) as other:
        retried = await other.chat(long_turn, cid, **turn)
        assert retried == second  # looked up in the store: no new turn, same truncated
        _, replayed, _ = await other.collect_reply(second["reply_id"])
        assert "".join(t["text"] for t in replayed) == "".join(t["text"] for t in tokens)


async def test_second_reply_in_one_conversation_conflicts(server: ServerProcess) -> None:
    async with client(server.ws_url) as c:
        first = await c.chat("Go on at length.", msg_id(), params=LONG)
        await c.recv_type("token")
        await c.send(
            {
                "type": "chat",
                "client_msg_id": msg_id(),
                "content": "Interrupting",
                "conversation_id": first["conversation_id"],
            }
        )
        error = await c.recv_type("error", skip=("queued", "token"))
        assert error["code"] == "conflict"
        assert error["ref"]
        await c.send({"type": "stop", "reply_id": first["reply_id"]})
        end = await c.recv_type("end", skip=("queued", "token"))
        assert end["finish_reason"] == "stopped"


async def test_unknown_ids_are_not_found(live_server: ServerProcess) -> None:
    async with client(live_server.ws_url) as c:
        await c.send({"type": "resume", "reply_id": "nope", "last_seq": 0})
        assert (await c.recv_type("error"))["code"] == "not_found"
        await c.send(
            {
                "type": "chat",
                "client_msg_id": msg_id(),
                "content": "x",
                "conversation_id": "missing",
            }
        )
        assert (await c.recv_type("error"))["code"] == "not_found"
        await c.send({"type": "stop", "reply_id": "nope"})
        assert (await c.recv_type("error"))["code"] == "not_found"


MALFORMED: list[str] = [
    "",
    "not json",
    "[]",
    "42",
    "null",
    '"chat"',
    "{}",
    '{"type": 1}',
    '{"type": "nope"}',
    '{"type": "chat"}',
    '{"type": "chat", "client_msg_id": "a"}',
    '{"type": "chat", "client_msg_id": "a", "content": ""}',
    '{"type": "chat", "client_msg_id": "bad id!", "content": "x"}',
    '{"type": "chat", "client_msg_id": "' + "a" * 65 + '", "content": "x"}',
    '{"type": "chat", "client_msg_id": "a", "content": 5}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": []}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"temperature": 3}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"temperature": "1"}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"top_p": 0}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"top_p": 1.5}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"top_k": -1}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"max_tokens": 0}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"max_tokens": 99999999}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"max_tokens": true}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"stop": "x"}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"stop": ["a","b","c","d","e"]}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"stop": [""]}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"seed": 1e400}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"seed": 1.5}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"seed": ' + "9" * 40 + "}}",
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"on_disconnect": "x"}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": {"nope": 1}}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "conversation_id": 7}',
    '{"type": "stop"}',
    '{"type": "stop", "reply_id": 5}',
    '{"type": "stop", "reply_id": ""}',
    '{"type": "resume", "reply_id": "r"}',
    '{"type": "resume", "reply_id": "r", "last_seq": -1}',
    '{"type": "resume", "reply_id": "r", "last_seq": "1"}',
    '{"type": "resume", "reply_id": "r", "last_seq": 1.5}',
    '{"type": "auth"}',
    '{"type": "auth", "token": ""}',
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    '{"type": "chat", "client_msg_id": "a", "content": "\\ud800"}',
    "{'type': 'ping'}",
    '{"type": "ping",}',
    '{"type": "PING"}',
    '{"type": ["ping"]}',
    '{"type": null}',
    "true",
    "1e999",
    '{"type": "chat", "client_msg_id": null, "content": "x"}',
    '{"type": "chat", "client_msg_id": "a", "content": "x", "params": null}',
    '{"type": "hello"}',
    '{"type": "token", "reply_id": "x", "seq": 1, "text": "x"}',
    '{"type": "chat", "client_msg_id": ["a"], "content": "x"}',
]


async def test_fifty_malformed_frames_each_get_a_typed_error(live_server: ServerProcess) -> None:
    assert len(MALFORMED) >= 50
    async with client(live_server.ws_url) as c:
        for raw in MALFORMED:
            await c.ws.send(raw)
            frame = await c.recv_type("error")
            assert frame["code"] in ("bad_request", "not_found"), (raw[:80], frame)
        await c.send({"type": "ping", "data": {"still": "here"}})
        assert await c.recv_type("pong") == {"type": "pong", "data": {"still": "here"}}


async def test_binary_frame_closes_with_1003(live_server: ServerProcess) -> None:
    async with client(live_server.ws_url) as c:
        await c.ws.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed) as info:
            await c.recv()
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1003


async def test_oversized_frame_closes_with_1009(live_server: ServerProcess) -> None:
    limit = 65536
    async with client(live_server.ws_url) as c:
        await c.ws.send(json.dumps({"type": "ping", "data": "x" * (limit + 10)}))
        with pytest.raises(ConnectionClosed) as info:
            await c.recv()
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1009


async def test_foreign_origin_is_refused_before_accept(live_server: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(
            live_server.ws_url, additional_headers={"Origin": "http://evil.example"}
        ):
            pass
    assert info.value.response.status_code == 403
    async with client(live_server.ws_url, origin=live_server.base_url):
        pass


async def test_two_connections_follow_one_reply(live_server: ServerProcess) -> None:
    params = {"max_tokens": 60, "ignore_eos": True, "temperature": 0}
    async with client(live_server.ws_url) as a, client(live_server.ws_url) as b:
        accepted = await a.chat("Share this story.", msg_id(), params=params)
        await b.send({"type": "resume", "reply_id": accepted["reply_id"], "last_seq": 0})
        text_a, _, end_a = await a.collect_reply(accepted["reply_id"])
        text_b, _, end_b = await b.collect_reply(accepted["reply_id"])
    assert text_a == text_b
    assert end_a == end_b
    assert end_a["usage"]["completion_tokens"] == 60


async def test_on_disconnect_stop_and_continue(live_server: ServerProcess) -> None:
    params = {"max_tokens": 400, "ignore_eos": True, "temperature": 0}
    async with client(live_server.ws_url) as c:
        stopping = await c.chat("A", msg_id(), params={**params, "on_disconnect": "stop"})
        continuing = await c.chat("B", msg_id(), params=params)
        await c.recv_type("token")
    async with client(live_server.ws_url) as c:
        ends = {}
        for accepted in (stopping, continuing):
            await c.send({"type": "resume", "reply_id": accepted["reply_id"], "last_seq": 0})
            _, _, ends[accepted["reply_id"]] = await c.collect_reply(accepted["reply_id"])
    assert ends[stopping["reply_id"]]["finish_reason"] == "stopped"
    assert ends[continuing["reply_id"]]["finish_reason"] == "length"
    assert ends[continuing["reply_id"]]["usage"]["completion_tokens"] == 400


async def test_regenerate_and_edit_with_the_real_engine(live_server: ServerProcess) -> None:
    """A regenerated reply gets the same prompt as the original (same seed, same text);
    an edit is a sibling of the message it replaces; history shows the active path."""
    params = {"seed": 11, "temperature": 0.9, "max_tokens": 12}
    async with client(live_server.ws_url) as c:
        first = await c.chat("Tell me about the sea.", msg_id(), params=params)
        original, _, _ = await c.collect_reply(first["reply_id"])
        cid, asked = first["conversation_id"], first["user_message_id"]
        regenerate = {"conversation_id": cid, "user_message_id": asked, "params": params}
        await c.send({"type": "regenerate", "client_msg_id": msg_id(), **regenerate})
        again = await c.recv_type("accepted")
        assert (again["user_message_id"], again["parent_id"]) == (asked, asked)
        text, _, _ = await c.collect_reply(again["reply_id"])
        assert text == original
        edit = {"conversation_id": cid, "message_id": asked, "content": "Tell me about cats."}
        await c.send({"type": "edit", "client_msg_id": msg_id(), **edit})
        edited = await c.recv_type("accepted")
        assert edited["parent_id"] is None
        edited_text, _, _ = await c.collect_reply(edited["reply_id"])
    with live_server.http() as http:
        convo = http.get(f"/api/conversations/{cid}").json()
    assert [m["content"] for m in convo["messages"]] == ["Tell me about cats.", edited_text]
    assert convo["messages"][0]["sibling_ids"] == [asked, edited["user_message_id"]]
    assert len(convo["tree"]) == 5
