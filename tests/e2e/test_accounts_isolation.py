"""Two users on a token-mode server: neither can see, stop, resume or extend the other's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.accounts import create_users
from tests.support.server import ServerProcess, make_server
from tests.support.wsclient import client

LONG = {"max_tokens": 300, "ignore_eos": True, "temperature": 0}


@pytest.fixture(scope="module")
def token_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("tokens")
    server = make_server(tmp, "--auth", "token", "--auth-timeout-s", "1")
    url = next(a for a in server.args if a.startswith("sqlite"))
    tokens = create_users(url, {"alice": "user", "bob": "user", "root": "admin"})
    server.start()
    try:
        yield server, tokens
    finally:
        server.stop()


async def test_no_credentials_closes_1008(
    token_server: tuple[ServerProcess, dict[str, str]],
) -> None:
    server, _ = token_server
    from websockets.asyncio.client import connect

    async with connect(server.ws_url) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()  # nothing before the 5 s first-frame deadline... or a bad frame
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1008


async def test_first_frame_auth_and_bad_token(
    token_server: tuple[ServerProcess, dict[str, str]],
) -> None:
    server, tokens = token_server
    from websockets.asyncio.client import connect

    async with connect(server.ws_url) as ws:
        await ws.send('{{"type": "auth", "token": "{}"}}'.format(tokens["alice"]))
        hello = await ws.recv()
        assert '"hello"' in str(hello)
        assert '"alice"' in str(hello)
    async with connect(server.ws_url) as ws:
        await ws.send('{"type": "auth", "token": "tt_wrong"}')
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1008
    async with connect(server.ws_url, additional_headers={"Authorization": "Bearer nope"}) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1008


async def test_other_users_ids_are_not_found(
    token_server: tuple[ServerProcess, dict[str, str]],
) -> None:
    server, tokens = token_server
    async with (
        client(server.ws_url, tokens["alice"]) as alice,
        client(server.ws_url, tokens["bob"]) as bob,
    ):
        assert alice.hello["user"]["name"] == "alice"
        accepted = await alice.chat("Alice's secret", uuid.uuid4().hex, params=LONG)
        reply_id, conversation_id = accepted["reply_id"], accepted["conversation_id"]
        await bob.send({"type": "resume", "reply_id": reply_id, "last_seq": 0})
        assert (await bob.recv_type("error"))["code"] == "not_found"
        await bob.send({"type": "stop", "reply_id": reply_id})
        assert (await bob.recv_type("error"))["code"] == "not_found"
        await bob.send(
            {
                "type": "chat",
                "client_msg_id": "b1",
                "content": "hi",
                "conversation_id": conversation_id,
            }
        )
        assert (await bob.recv_type("error"))["code"] == "not_found"
        # Alice's reply was untouched by all that.
        await alice.send({"type": "stop", "reply_id": reply_id})
        end = await alice.recv_type("end", skip=("queued", "token"))
        assert end["finish_reason"] == "stopped"
        # The same client_msg_id is per user: bob may use alice's.
        same = await bob.chat("Bob's own", accepted["client_msg_id"], params={"max_tokens": 2})
        assert same["type"] == "accepted"
        assert same["reply_id"] != reply_id
        await bob.collect_reply(same["reply_id"])
    with server.http(tokens["bob"]) as http:
        assert http.get(f"/api/conversations/{conversation_id}").status_code == 404
        assert (
            http.patch(f"/api/conversations/{conversation_id}", json={"title": "x"}).status_code
            == 404
        )
        assert http.delete(f"/api/conversations/{conversation_id}").status_code == 404
        assert http.get("/api/admin/conversations").status_code == 403
        listed = http.get("/api/conversations").json()["items"]
        assert conversation_id not in {c["id"] for c in listed}
    with server.http() as anonymous:
        assert anonymous.get("/api/conversations").status_code == 401
        assert anonymous.get("/api/conversations").json()["error"]["code"] == "unauthorized"
    with server.http(tokens["root"]) as admin:
        found = admin.get("/api/admin/conversations", params={"q": "secret"}).json()["items"]
        assert [c["id"] for c in found] == [conversation_id]
        assert found[0]["user"]["name"] == "alice"
