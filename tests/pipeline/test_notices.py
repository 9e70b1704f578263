"""Every open connection of a user hears about that user's conversations: a turn started
on another connection (and it can follow that reply), a title change, a deletion."""

from __future__ import annotations

import pytest

from tests.pipeline.conftest import Pipeline
from tests.support.script_engine import REPLY
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
        # The other user heard nothing of it.
        await stranger.send({"type": "ping", "data": "last"})
        assert await stranger.recv() == {"type": "pong", "data": "last"}
