"""Conversations as trees over real `websockets` clients and a real server: regenerate,
edit and chat with a parent_id (idempotent, refused like chat), branch switching, the tree
in the HTTP API, every device of the user hearing of it, and catching up after a reconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.app_server import AppServer, serve_app
from tests.support.script_engine import REPLY, ScriptEngine
from tests.support.wsclient import Client, client
from tickertape.settings import Settings

pytestmark = pytest.mark.timeout(60)


class Server:
    def __init__(self, app: AppServer, engine: ScriptEngine) -> None:
        self.app, self.engine = app, engine

    def ws(self, user: str = "alice") -> Any:
        return client(self.app.ws_url, self.app.token(user))

    def http(self, user: str = "alice") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.app.token(user)}"}
        return httpx.AsyncClient(base_url=self.app.url, headers=headers, timeout=20)

    def prompt(self, reply_id: str) -> list[tuple[str, str]]:
        return [(m.role, m.content) for m in self.engine.submitted[reply_id][2].messages]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    engine = ScriptEngine()

    def factory(settings: Settings) -> ScriptEngine:
        return engine

    async with serve_app(tmp_path, factory, users=("alice", "bob"), messages_per_minute=60) as app:
        yield Server(app, engine)


async def turn(ws: Client, frame: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Send a turn frame; its `accepted` and the reply's whole text."""
    await ws.send(frame)
    accepted = await ws.recv_type("accepted", "error")
    assert accepted["type"] == "accepted", accepted
    text, _, end = await ws.collect_reply(accepted["reply_id"])
    assert end["finish_reason"] == "stop"
    return accepted, text


async def refused(ws: Client, frame: dict[str, Any]) -> str:
    await ws.send(frame)
    error = await ws.recv_type("error", "accepted")
    assert (error["type"], error["ref"]) == ("error", frame["client_msg_id"]), error
    return str(error["code"])


def chat(cid: str | None, key: str, content: str, **fields: Any) -> dict[str, Any]:
    frame = {"type": "chat", "client_msg_id": key, "content": content, **fields}
    return frame if cid is None else {**frame, "conversation_id": cid}


async def test_regenerate_edit_and_parent_id_grow_a_tree(server: Server) -> None:
    async with server.ws() as ws, server.ws() as laptop:
        first, _ = await turn(ws, chat(None, "c1", "hi"))
        assert first["parent_id"] is None
        cid = first["conversation_id"]
        second, _ = await turn(ws, chat(cid, "c2", "more"))
        assert second["parent_id"] == first["reply_id"]
        more_id = second["user_message_id"]

        regenerate = {
            "type": "regenerate",
            "client_msg_id": "r1",
            "conversation_id": cid,
            "user_message_id": more_id,
            "params": {"seed": 5},
        }
        regen, text = await turn(ws, regenerate)
        assert text == REPLY
        assert (regen["user_message_id"], regen["parent_id"]) == (more_id, more_id)
        assert server.prompt(regen["reply_id"]) == [
            ("user", "hi"),
            ("assistant", REPLY),
            ("user", "more"),
        ]
        # A retry: the original turn; this connection had the reply, so only its `end`.
        assert await turn(ws, regenerate) == (regen, "")

        edit = {
            "type": "edit",
            "client_msg_id": "e1",
            "conversation_id": cid,
            "message_id": more_id,
            "content": "changed",
        }
        edited, _ = await turn(ws, edit)
        assert edited["parent_id"] == first["reply_id"]
        assert server.prompt(edited["reply_id"])[-2:] == [("assistant", REPLY), ("user", "changed")]
        assert await turn(ws, edit) == (edited, "")  # a retry: only `end` again

        branch = chat(cid, "p1", "aside", parent_id=first["reply_id"])
        aside, _ = await turn(ws, branch)
        assert aside["parent_id"] == first["reply_id"]
        assert await turn(ws, branch) == (aside, "")
        assert server.prompt(aside["reply_id"]) == [
            ("user", "hi"),
            ("assistant", REPLY),
            ("user", "aside"),
        ]

        async with server.http() as http:
            path = f"/api/conversations/{cid}"
            got = (await http.get(path)).json()
            assert got["active_leaf_id"] == aside["reply_id"]
            assert [m["content"] for m in got["messages"]] == ["hi", REPLY, "aside", REPLY]
            hi, hi_reply, aside_msg, _ = got["messages"]
            assert (hi["parent_id"], hi_reply["parent_id"]) == (None, hi["id"])
            user_turns = [more_id, edited["user_message_id"], aside["user_message_id"]]
            assert aside_msg["sibling_ids"] == user_turns
            assert hi_reply["error"] is None
            assert hi_reply["params"]["max_tokens"] == server.app.settings.default_max_tokens
            assert hi["params"] is None
            assert len(got["tree"]) == 9  # 2 + 2 + 1 (regenerated) + 2 + 2
            assert set(got["tree"][0]) == {"id", "parent_id", "role", "status", "created_at"}
            listed = (await http.get("/api/conversations")).json()["items"]
            assert [c["message_count"] for c in listed] == [9]

            # Show the "more" branch: its newest leaf is the regenerated reply.
            switched = await http.patch(path, json={"active_message_id": more_id})
            assert switched.status_code == 200
            assert switched.json()["active_leaf_id"] == regen["reply_id"]
            notice = await laptop.recv_type("branch_changed")
            assert notice == {
                "type": "branch_changed",
                "conversation_id": cid,
                "active_leaf_id": regen["reply_id"],
            }
            got = (await http.get(path)).json()
            assert [m["id"] for m in got["messages"]][2:] == [more_id, regen["reply_id"]]
            assert got["messages"][3]["sibling_ids"] == [second["reply_id"], regen["reply_id"]]
            assert got["messages"][3]["params"]["seed"] == 5
            # A v1 chat continues the branch shown.
            onward, _ = await turn(ws, chat(cid, "c3", "onward"))
            assert onward["parent_id"] == regen["reply_id"]

            bad = await http.patch(path, json={"active_message_id": "0" * 32})
            assert (bad.status_code, bad.json()["error"]["code"]) == (404, "not_found")
            assert (await http.patch(path, json={})).status_code == 400
            # The newest child at each step: "aside" is newer than "more" (and its "onward").
            both = await http.patch(path, json={"title": "Two", "active_message_id": hi["id"]})
            assert (both.json()["title"], both.json()["active_leaf_id"]) == (
                "Two",
                aside["reply_id"],
            )


async def test_branch_frames_are_refused_like_chat(server: Server) -> None:
    async with server.ws() as ws, server.ws("bob") as bob:
        mine, _ = await turn(ws, chat(None, "a1", "hi"))
        cid, user_msg, reply = (mine[k] for k in ("conversation_id", "user_message_id", "reply_id"))
        other, _ = await turn(ws, chat(None, "a2", "elsewhere"))
        theirs, _ = await turn(bob, chat(None, "b1", "bob's"))

        def regen(key: str, conversation: str, message: str) -> dict[str, Any]:
            return {
                "type": "regenerate",
                "client_msg_id": key,
                "conversation_id": conversation,
                "user_message_id": message,
            }

        def edit(key: str, message: str) -> dict[str, Any]:
            return {
                "type": "edit",
                "client_msg_id": key,
                "conversation_id": cid,
                "message_id": message,
                "content": "x",
            }

        # Existence is never revealed: another user's, another conversation's, unknown.
        for frame in (
            regen("n1", theirs["conversation_id"], theirs["user_message_id"]),
            regen("n2", cid, theirs["user_message_id"]),
            regen("n3", cid, other["user_message_id"]),
            edit("n4", "f" * 32),
            chat(cid, "n5", "x", parent_id=theirs["reply_id"]),
        ):
            assert await refused(ws, frame) == "not_found", frame
        for frame in (
            regen("b1", cid, reply),  # a reply is not a user message
            edit("b2", reply),
            chat(cid, "b3", "x", parent_id=user_msg),  # a user message is not a reply
            chat(None, "b4", "x", parent_id=reply),  # parent_id needs its conversation
            {"type": "regenerate", "client_msg_id": "b5", "conversation_id": cid},
            {**edit("b6", user_msg), "content": ""},
        ):
            assert await refused(ws, frame) == "bad_request", frame

        # One reply at a time per conversation, whichever branch asks.
        await ws.send(chat(cid, "f1", "forever"))
        streaming = await ws.recv_type("accepted")
        await ws.send(regen("k1", cid, user_msg))
        await ws.send(edit("k2", user_msg))
        codes, last_seq = {}, 0
        while len(codes) < 2:  # the errors come between the streaming reply's tokens
            frame = await ws.recv()
            if frame["type"] == "error":
                codes[frame["ref"]] = frame["code"]
            elif frame["type"] == "token":
                last_seq = frame["seq"]
        assert codes == {"k1": "conflict", "k2": "conflict"}
        await ws.send({"type": "stop", "reply_id": streaming["reply_id"]})
        _, _, end = await ws.collect_reply(streaming["reply_id"], last_seq)
        assert end["finish_reason"] == "stopped"
        # The refused ids were never stored: they work now.
        regenerated, _ = await turn(ws, regen("k1", cid, user_msg))
        assert regenerated["parent_id"] == user_msg
    async with server.http() as http:
        got = (await http.get(f"/api/conversations/{cid}")).json()
        assert len(got["tree"]) == 5  # hi, reply, forever, its reply, the regenerated reply


async def test_every_device_hears_of_branches_and_follows_them(server: Server) -> None:
    async with server.ws() as phone, server.ws() as laptop:
        first, _ = await turn(phone, chat(None, "t1", "hi"))
        started = await laptop.recv_type("turn_started")
        assert started["parent_id"] is None
        await phone.send(
            {
                "type": "regenerate",
                "client_msg_id": "t2",
                "conversation_id": first["conversation_id"],
                "user_message_id": first["user_message_id"],
            }
        )
        regen = await phone.recv_type("accepted")
        notice = await laptop.recv_type("turn_started")
        assert notice == {
            "type": "turn_started",
            "conversation_id": first["conversation_id"],
            "user_message_id": first["user_message_id"],
            "reply_id": regen["reply_id"],
            "client_msg_id": "t2",
            "content": "hi",
            "parent_id": first["user_message_id"],
        }
        await laptop.send({"type": "resume", "reply_id": notice["reply_id"], "last_seq": 0})
        text, _, end = await laptop.collect_reply(notice["reply_id"])
        assert (text, end["finish_reason"]) == (REPLY, "stop")
        await phone.collect_reply(regen["reply_id"])

        await phone.send(
            {
                "type": "edit",
                "client_msg_id": "t3",
                "conversation_id": first["conversation_id"],
                "message_id": first["user_message_id"],
                "content": "hello instead",
            }
        )
        edited = await phone.recv_type("accepted")
        assert edited["parent_id"] is None  # an edit of the first message: a second root
        notice = await laptop.recv_type("turn_started")
        assert (notice["content"], notice["parent_id"]) == ("hello instead", None)
        assert notice["user_message_id"] == edited["user_message_id"]
        await phone.collect_reply(edited["reply_id"])


async def test_a_reconnected_tab_catches_up_from_the_http_api(server: Server) -> None:
    async with server.ws() as phone:
        kept, _ = await turn(phone, chat(None, "u1", "keep me"))
        dropped, _ = await turn(phone, chat(None, "u2", "drop me"))
        async with server.ws() as tab:  # open, then offline while the phone goes on
            assert tab.hello["type"] == "hello"
        cid = kept["conversation_id"]
        async with server.http() as http:
            await http.patch(f"/api/conversations/{cid}", json={"title": "Kept"})
            await http.delete(f"/api/conversations/{dropped['conversation_id']}")
        await phone.send(chat(cid, "u3", "forever"))
        streaming = await phone.recv_type("accepted")
        first_words = await phone.recv_type("token")
        assert first_words["seq"] == 1

        async with server.ws() as tab, server.http() as http:  # back online: one list, one get
            listed = (await http.get("/api/conversations")).json()["items"]
            assert [(c["id"], c["title"], c["message_count"]) for c in listed] == [(cid, "Kept", 4)]
            got = (await http.get(f"/api/conversations/{cid}")).json()
            last = got["messages"][-1]
            assert (last["id"], last["status"]) == (streaming["reply_id"], "streaming")
            assert got["active_leaf_id"] == last["id"]
            await tab.send({"type": "resume", "reply_id": last["id"], "last_seq": 0})
            await phone.send({"type": "stop", "reply_id": last["id"]})
            text, _, end = await tab.collect_reply(last["id"])
            assert (text, end["finish_reason"]) == (" w0 w1 w2 w3 w4", "stopped")
            gone = await http.get(f"/api/conversations/{dropped['conversation_id']}")
            assert gone.status_code == 404
