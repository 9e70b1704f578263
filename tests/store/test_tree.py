"""The message tree in the store: where turns go, idempotency, branch switching, and the
admin's filters and export."""

from __future__ import annotations

import pytest

from tests.store.helpers import final
from tickertape.store.errors import BadRequest
from tickertape.store.sql_store import SqlStore
from tickertape.store.tree import Tree
from tickertape.store.types import Conflict, ConversationFilter, NotFound, Placement


async def test_regenerate_edit_and_branch_from_an_older_reply(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    first = await store.start_turn(alice.id, "a", "hi", None, {})
    assert first.parent_id is None
    await store.finish_reply(final(first.reply_id, "hello", 1))
    cid = first.conversation_id
    second = await store.start_turn(alice.id, "b", "more", cid, {})  # after the active leaf
    assert second.parent_id == first.reply_id
    await store.finish_reply(final(second.reply_id, "sure", 1))

    again = Placement(second.user_message_id, regenerate=True)
    regen = await store.start_turn(alice.id, "c", "more", cid, {"seed": 1}, again)
    assert (regen.user_message_id, regen.parent_id) == (
        second.user_message_id,
        second.user_message_id,
    )
    assert await store.start_turn(alice.id, "c", "more", cid, {}, again) == (
        type(regen)(cid, regen.user_message_id, regen.reply_id, "c", False, regen.parent_id)
    )
    await store.finish_reply(final(regen.reply_id, "other", 1))
    edit = await store.start_turn(alice.id, "d", "edited", cid, {}, Placement(first.reply_id))
    assert edit.parent_id == first.reply_id
    assert await store.find_turn(alice.id, "d") == type(edit)(
        cid, edit.user_message_id, edit.reply_id, "d", False, first.reply_id
    )
    await store.finish_reply(final(edit.reply_id, "ok", 1))
    root = await store.start_turn(alice.id, "e", "new root", cid, {}, Placement(None))
    assert root.parent_id is None
    await store.finish_reply(final(root.reply_id, "fresh", 1))

    transcript = await store.get_transcript(cid, alice.id)
    assert transcript.summary.message_count == 9  # 2 + 2 + 1 + 2 + 2
    assert transcript.summary.active_leaf_id == root.reply_id
    tree = Tree(transcript.messages)
    assert tree.sibling_ids(second.reply_id) == [second.reply_id, regen.reply_id]
    assert tree.sibling_ids(edit.user_message_id) == [
        second.user_message_id,
        edit.user_message_id,
    ]
    assert tree.sibling_ids(first.user_message_id) == [first.user_message_id, root.user_message_id]
    assert next(m for m in transcript.messages if m.id == regen.reply_id).params == {"seed": 1}
    history = await store.history(cid, edit.reply_id)
    assert [m.id for m in history] == [first.user_message_id, first.reply_id, edit.user_message_id]

    # Switching: the newest leaf under the message named.
    assert await store.set_active_message(cid, alice.id, first.user_message_id) == edit.reply_id
    assert await store.set_active_message(cid, alice.id, second.user_message_id) == regen.reply_id
    assert await store.set_active_message(cid, alice.id, second.reply_id) == second.reply_id
    summary = (await store.get_transcript(cid, alice.id)).summary
    assert (summary.active_leaf_id, summary.updated_at) == (
        second.reply_id,
        transcript.summary.updated_at,
    )
    nxt = await store.start_turn(alice.id, "f", "on", cid, {})
    assert nxt.parent_id == second.reply_id


async def test_placement_errors(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    bob = await store.ensure_user("bob", "user")
    turn = await store.start_turn(alice.id, "a", "hi", None, {})
    cid = turn.conversation_id
    other = await store.start_turn(alice.id, "b", "elsewhere", None, {})
    with pytest.raises(Conflict):  # its reply still streams
        await store.start_turn(alice.id, "c", "x", cid, {}, Placement(turn.reply_id))
    await store.finish_reply(final(turn.reply_id, "hello", 1))
    for placement in (Placement("0" * 32), Placement(other.reply_id)):
        with pytest.raises(NotFound):
            await store.start_turn(alice.id, "c", "x", cid, {}, placement)
    with pytest.raises(BadRequest):  # a user message cannot be continued
        await store.start_turn(alice.id, "c", "x", cid, {}, Placement(turn.user_message_id))
    with pytest.raises(BadRequest):  # a reply cannot be regenerated
        await store.start_turn(alice.id, "c", "x", cid, {}, Placement(turn.reply_id, True))
    with pytest.raises(NotFound):
        await store.start_turn(bob.id, "c", "x", cid, {}, Placement(turn.reply_id))
    for who, message in ((bob.id, turn.reply_id), (alice.id, other.reply_id)):
        with pytest.raises(NotFound):
            await store.set_active_message(cid, who, message)
    transcript = await store.get_transcript(cid, alice.id)
    assert transcript.summary.message_count == 2  # nothing of the refused turns stayed


async def test_admin_status_filter_and_export_selection(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    ok = await store.start_turn(alice.id, "a", "fine", None, {})
    await store.finish_reply(final(ok.reply_id, "yes", 1))
    bad = await store.start_turn(alice.id, "b", "broken", None, {})
    await store.finish_reply(final(bad.reply_id, "", 0, status="error"))
    page = await store.list_conversations(None, 10, None)
    assert {(c.id, c.has_error) for c in page.items} == {
        (ok.conversation_id, False),
        (bad.conversation_id, True),
    }
    failed = await store.list_conversations(None, 10, None, status="error")
    assert [c.id for c in failed.items] == [bad.conversation_id]
    selected = [
        t.summary.id
        async for t in store.export_conversations(
            where=ConversationFilter(query="FINE", status="complete")
        )
    ]
    assert selected == [ok.conversation_id]
    one = [
        t
        async for t in store.export_conversations(
            where=ConversationFilter(conversation_id=bad.conversation_id)
        )
    ]
    assert [(t.summary.id, t.summary.has_error, len(t.messages)) for t in one] == [
        (bad.conversation_id, True, 2)
    ]
