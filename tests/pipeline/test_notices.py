"""Every open connection of a user hears about that user's conversations: a turn started
on another connection (and it can follow that reply), a title change, a deletion."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipeline.conftest import Pipeline
from tests.support.app_server import serve_app
from tests.support.script_engine import REPLY, ScriptEngine
from tests.support.wsclient import client

pytestmark = pytest.mark.timeout(60)


async def test_another_connection_hears_of_the_turn_and_follows_its_reply(
    pipeline: Pipeline,
) -> None:
    url, token = pipeline.app.ws_url, pipeline.app.token("alice")
    async with (
        client(url, token) as phone,
        client(url, token) as laptop,
        client(url, pipeline.app.token("bob")) as stranger,
    ):
        accepted = await phone.chat("hi", "from-phone")
        notice = await laptop.recv_type("turn_started")
        assert notice == {
            "type": "turn_started",
            "conversation_id": accepted["conversation_id"],
            "user_message_id": accepted["user_message_id"],
            "reply_id": accepted["reply_id"],
            "client_msg_id": "from-phone",
            "content": "hi",
            "parent_id": None,
        }
        await laptop.send({"type": "resume", "reply_id": notice["reply_id"], "last_seq": 0})
        text, _, end = await laptop.collect_reply(notice["reply_id"])
        assert (text, end["finish_reason"]) == (REPLY, "stop")
        phone_text, _, _ = await phone.collect_reply(accepted["reply_id"])
        assert phone_text == REPLY

        async with pipeline.http() as http:
            path = f"/api/conversations/{accepted['conversation_id']}"
            assert (await http.patch(path, json={"title": "  Trip  plans "})).status_code == 200
            for tab in (phone, laptop):
                renamed = await tab.recv_type("conversation_renamed")
                assert renamed == {
                    "type": "conversation_renamed",
                    "conversation_id": accepted["conversation_id"],
                    "title": "Trip plans",
                }
            assert (await http.delete(path)).status_code == 204
            for tab in (phone, laptop):
                deleted = await tab.recv_type("conversation_deleted")
                assert deleted["conversation_id"] == accepted["conversation_id"]
        # Its reply went with it, though it was still in memory for resumes.
        for frame in (
            {"type": "resume", "reply_id": accepted["reply_id"], "last_seq": 0},
            {"type": "stop", "reply_id": accepted["reply_id"]},
        ):
            await laptop.send(frame)
            error = await laptop.recv_type("error")
            assert (error["code"], error["ref"]) == ("not_found", accepted["reply_id"])
        # The other user heard nothing of it.
        await stranger.send({"type": "ping", "data": "last"})
        assert await stranger.recv() == {"type": "pong", "data": "last"}


async def test_stop_of_a_reply_that_ended_long_ago_does_nothing(tmp_path: Path) -> None:
    """Out of memory (after `resume_retention_s`, or a restart) the reply is read from the
    store: the user's own is a no-op, anyone else's `not_found`."""
    engine = ScriptEngine()
    async with serve_app(
        tmp_path, lambda _: engine, users=("alice", "bob"), resume_retention_s=0.0
    ) as app:
        async with client(app.ws_url, app.token("alice")) as alice:
            accepted = await alice.chat("hi", "stop-late")
            await alice.collect_reply(accepted["reply_id"])
            stop = {"type": "stop", "reply_id": accepted["reply_id"]}
            await alice.send(stop)
            # The same lookups in the same order: its error is the first one to arrive.
            await alice.send({"type": "stop", "reply_id": "no-such-reply"})
            assert (await alice.recv_type("error"))["ref"] == "no-such-reply"
        async with client(app.ws_url, app.token("bob")) as bob:
            await bob.send(stop)
            assert (await bob.recv_type("error"))["code"] == "not_found"
