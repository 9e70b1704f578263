"""100+ hand-written malformed frames, and the frames a JSON library cannot even build."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.security.conftest import Deployment, assert_clean_log
from tests.security.fuzzclient import RECV_TIMEOUT_S, FuzzClient

NEAR_LIMIT = 60_000  # under the default 64 KiB frame limit
OK_CHAT = '"client_msg_id": "m1", "content": "hi", "params": {"max_tokens": 1}'


def chat(**fields: object) -> str:
    frame = {
        "type": "chat",
        "client_msg_id": "malformed-1",
        "content": "hi",
        "params": {"max_tokens": 1},
    }
    frame.update(fields)
    return json.dumps(frame, ensure_ascii=False)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


MALFORMED: list[str] = [
    # not JSON, or not an object
    "",
    " ",
    "\n",
    "{",
    "}",
    "[",
    "]",
    "null",
    "true",
    "1",
    '"ping"',
    "[]",
    "{}",
    "{'type': 'ping'}",
    '{"type": "ping",}',
    '{"type": "ping"} {"type": "ping"}',
    "\ufeff" + '{"type": "ping"}',
    "\x00",
    '{"type": "ping"}\x00',
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    '{"type": NaN}',
    '{"type": Infinity}',
    "\u202e{}",
    '{"type": "ping", "data": undefined}',
    '{"type": "ping" "data": 1}',
    "{" * 10,
    # deep nesting (under the frame limit): the parser's recursion limit, not the server's
    nested(30_000),
    '{"a":' * 10_000 + "1" + "}" * 10_000,
    '{"type": "ping", "data": ' + nested(30_000) + "}",
    '{"type": "chat", ' + OK_CHAT + ', "x": ' + nested(25_000) + "}",
    '{"type": "resume", "reply_id": "r", "last_seq": ' + nested(25_000) + "}",
    # huge and odd numbers
    '{"type": "resume", "reply_id": "r", "last_seq": 1e400}',
    '{"type": "resume", "reply_id": "r", "last_seq": ' + "9" * 5000 + "}",
    '{"type": "resume", "reply_id": "r", "last_seq": -1}',
    '{"type": "resume", "reply_id": "r", "last_seq": 9007199254740993}',
    '{"type": "resume", "reply_id": "r", "last_seq": 1.0}',
    '{"type": "resume", "reply_id": "r", "last_seq": NaN}',
    '{"type": "ping", "data": ' + "1" * 4000 + "}",
    '{"type": "ping", "data": 1e400}',
    '{"type": "ping", "data": -0.0}',
    chat(params={"max_tokens": 10**30}),
    chat(params={"max_tokens": 0}),
    chat(params={"max_tokens": -1}),
    chat(params={"max_tokens": 1.5}),
    chat(params={"max_tokens": True}),
    chat(params={"max_tokens": "1"}),
    chat(params={"max_tokens": 1, "seed": 2**64}),
    chat(params={"max_tokens": 1, "seed": -(2**63) - 1}),
    chat(params={"max_tokens": 1, "temperature": 1e308}),
    chat(params={"max_tokens": 1, "temperature": -0.0001}),
    chat(params={"max_tokens": 1, "top_p": 0}),
    chat(params={"max_tokens": 1, "top_k": -1}),
    '{"type": "chat", ' + OK_CHAT[:-1] + ', "temperature": NaN}}',
    '{"type": "chat", ' + OK_CHAT[:-1] + ', "temperature": Infinity}}',
    '{"type": "chat", ' + OK_CHAT[:-1] + ', "top_p": -Infinity}}',
    # wrong types
    '{"type": 1}',
    '{"type": null}',
    '{"type": ["ping"]}',
    '{"type": {"ping": 1}}',
    '{"type": "PING"}',
    '{"type": " ping"}',
    '{"type": "ping\\u0000"}',
    '{"Type": "ping"}',
    chat(content=["hi"]),
    chat(content=None),
    chat(content=1),
    chat(content=""),
    chat(client_msg_id=1),
    chat(client_msg_id=""),
    chat(client_msg_id="a" * 65),
    chat(client_msg_id="a b"),
    chat(client_msg_id="ü"),
    chat(client_msg_id="../../etc"),
    chat(conversation_id=1),
    chat(conversation_id=""),
    chat(conversation_id="x" * 65),
    chat(params="fast"),
    chat(params=[1]),
    chat(params={"max_tokens": 1, "stop": "x"}),
    chat(params={"max_tokens": 1, "stop": [1]}),
    chat(params={"max_tokens": 1, "stop": [""]}),
    chat(params={"max_tokens": 1, "stop": ["a", "b", "c", "d", "e"]}),
    chat(params={"max_tokens": 1, "on_disconnect": "maybe"}),
    chat(params={"max_tokens": 1, "ignore_eos": "true"}),
    chat(params={"max_tokens": 1, "unknown": 1}),
    '{"type": "stop"}',
    '{"type": "stop", "reply_id": 5}',
    '{"type": "stop", "reply_id": ""}',
    '{"type": "resume", "reply_id": "r"}',
    '{"type": "resume", "last_seq": 0}',
    '{"type": "auth"}',
    '{"type": "auth", "token": ""}',
    '{"type": "auth", "token": 5}',
    '{"type": "auth", "token": "' + "t" * 513 + '"}',
    # duplicate keys: the last one wins, and the result is still checked
    '{"type": "ping", "type": "nope"}',
    '{"type": "nope", "type": "ping", "data": 1}',
    '{"type": "chat", ' + OK_CHAT + ', "params": {"max_tokens": 100000}}',
    '{"type": "chat", ' + OK_CHAT + ', "content": ""}',
    # text no database can store, smuggled in as JSON escapes
    chat(content="\\ud800").replace("\\\\", "\\"),
    '{"type": "ping", "data": "\\udfff"}',
    '{"type": "chat", "client_msg_id": "nul-1", "content": "a\\u0000b", "params": {"max_tokens": 1}}',
    # big but under the frame limit
    json.dumps({"type": "ping", "data": "x" * NEAR_LIMIT}),
    chat(content="x" * NEAR_LIMIT),
    chat(content="é" * (NEAR_LIMIT // 2)),
    json.dumps({"type": "ping", "data": ["x"] * (NEAR_LIMIT // 5)}),
    json.dumps({"type": "ping", "data": {str(i): i for i in range(4000)}}),
    json.dumps({"type": "stop", "reply_id": "r" * NEAR_LIMIT}),
]


@pytest.fixture(scope="module")
def fuzz(deployment: Deployment) -> FuzzClient:
    with FuzzClient(deployment.server.ws_url, deployment.user_token) as client:
        yield client  # type: ignore[misc]


def test_at_least_a_hundred_cases() -> None:
    assert len(MALFORMED) >= 100
    assert all(len(text.encode()) < 64 * 1024 for text in MALFORMED)


def test_each_malformed_frame_gets_its_typed_answer(
    fuzz: FuzzClient, deployment: Deployment
) -> None:
    for text in MALFORMED:
        fuzz.exchange(text)
    fuzz.ping()
    assert_clean_log(deployment.server)


def closing_code(deployment: Deployment, send: object) -> int | None:
    with FuzzClient(deployment.server.ws_url, deployment.user_token) as client:
        send(client.ws)  # type: ignore[operator]
        try:
            extra = client.ws.recv(timeout=RECV_TIMEOUT_S)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        raise AssertionError(f"the server answered {extra!r} instead of closing")


def test_invalid_utf8_closes_1007(deployment: Deployment) -> None:
    for payload in (b"\xff", b'{"type": "ping", "data": "\xc3"}', b"\xed\xa0\x80", b"\xc0\xaf"):
        assert closing_code(deployment, lambda ws, p=payload: ws.send(p, text=True)) == 1007


def test_binary_frame_closes_1003(deployment: Deployment) -> None:
    assert closing_code(deployment, lambda ws: ws.send(b'{"type": "ping"}')) == 1003


def test_oversized_frame_closes_1009(deployment: Deployment) -> None:
    big = json.dumps({"type": "ping", "data": "x" * (64 * 1024)})
    assert closing_code(deployment, lambda ws: ws.send(big)) == 1009


def test_still_serving_afterwards(deployment: Deployment) -> None:
    with FuzzClient(deployment.server.ws_url, deployment.user_token) as client:
        client.ping()
    assert_clean_log(deployment.server)
