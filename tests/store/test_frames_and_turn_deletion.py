"""A reply's frame boundaries (`frame_ends`) travel with its checkpoints and its final
write, and survive a crash; deleting a turn takes the rest of the conversation after it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.store.helpers import final
from tickertape.store.sql_store import SqlStore
from tickertape.store.types import Conflict, NotFound, Placement


async def test_frame_ends_follow_checkpoints_and_the_final_write(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "a1", "hi", None, {"response": {"x": 1}})
    store.checkpoint_reply(turn.reply_id, "Hel", 2, [1, 3])
    await store.flush()
    reply = await store.get_message(turn.reply_id)
    assert reply is not None
    assert (reply.content, reply.seq, reply.frame_ends) == ("Hel", 2, [1, 3])
    assert reply.params == {"response": {"x": 1}}
    store.checkpoint_reply(turn.reply_id, "H", 1, [1])  # backwards: ignored, ends included
    await store.finish_reply(replace(final(turn.reply_id, "Hello", 3), frame_ends=(1, 3, 5)))
    reply = await store.get_message(turn.reply_id)
    assert reply is not None
    assert (reply.content, reply.seq, reply.frame_ends) == ("Hello", 3, [1, 3, 5])


async def test_frame_ends_survive_a_crash(migrated_sqlite: str) -> None:
    store = SqlStore.from_url(migrated_sqlite)
    await store.start()
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "a1", "hi", None, {})
    store.checkpoint_reply(turn.reply_id, "abcdef", 3, [2, 4, 6])
    await store.close()  # gone without finishing the reply
    reopened = SqlStore.from_url(migrated_sqlite)
    await reopened.start()
    try:
        assert await reopened.recover_interrupted() == 1
        reply = await reopened.get_message(turn.reply_id)
        assert reply is not None
        assert (reply.status, reply.content, reply.frame_ends) == (
            "interrupted",
            "abcdef",
            [2, 4, 6],
        )
    finally:
        await reopened.close()


async def test_delete_turn_takes_the_rest_of_the_conversation(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    bob = await store.ensure_user("bob", "user")
    first = await store.start_turn(alice.id, "a1", "one", None, {})
    await store.finish_reply(final(first.reply_id, "1", 1))
    conversation = first.conversation_id
    second = await store.start_turn(alice.id, "a2", "two", conversation, {})
    await store.finish_reply(final(second.reply_id, "2", 1))
    third = await store.start_turn(alice.id, "a3", "three", conversation, {})
    with pytest.raises(Conflict):  # its reply still streams
        await store.delete_turn(second.reply_id, alice.id)
    await store.finish_reply(final(third.reply_id, "3", 1))
    with pytest.raises(NotFound):  # another user's, a user message, unknown: all not found
        await store.delete_turn(second.reply_id, bob.id)
    with pytest.raises(NotFound):
        await store.delete_turn(second.user_message_id, alice.id)
    deletion = await store.delete_turn(second.reply_id, alice.id)
    assert (deletion.conversation_id, deletion.conversation_deleted) == (conversation, False)
    transcript = await store.get_transcript(conversation, alice.id)
    assert [m.content for m in transcript.messages] == ["one", "1"]
    assert transcript.summary.message_count == 2
    again = await store.start_turn(alice.id, "a4", "four", conversation, {})  # next ordinal
    await store.finish_reply(final(again.reply_id, "4", 1))
    transcript = await store.get_transcript(conversation, alice.id)
    assert [m.content for m in transcript.messages] == ["one", "1", "four", "4"]
    deletion = await store.delete_turn(first.reply_id, alice.id)
    assert deletion.conversation_deleted
    with pytest.raises(NotFound):
        await store.get_transcript(conversation, alice.id)


async def test_delete_turn_on_a_branched_conversation_takes_only_its_subtree(
    store: SqlStore,
) -> None:
    alice = await store.ensure_user("alice", "user")
    first = await store.start_turn(alice.id, "b1", "one", None, {})
    await store.finish_reply(final(first.reply_id, "1", 1))
    cid = first.conversation_id
    second = await store.start_turn(alice.id, "b2", "two", cid, {})
    await store.finish_reply(final(second.reply_id, "2", 1))
    # Another reply to "two" (a regenerate), then a branch from the first reply.
    again = await store.start_turn(
        alice.id, "b3", "", cid, {}, Placement(second.user_message_id, True)
    )
    await store.finish_reply(final(again.reply_id, "2b", 1))
    branch = await store.start_turn(alice.id, "b4", "other", cid, {}, Placement(first.reply_id))
    await store.finish_reply(final(branch.reply_id, "o", 1))
    # Deleting one of two replies of "two" keeps "two" and its other reply.
    assert not (await store.delete_turn(second.reply_id, alice.id)).conversation_deleted
    transcript = await store.get_transcript(cid, alice.id)
    assert sorted(m.content for m in transcript.messages) == ["1", "2b", "o", "one", "other", "two"]
    # Deleting the last reply of "two" takes "two" too; the other branch stays active.
    await store.delete_turn(again.reply_id, alice.id)
    transcript = await store.get_transcript(cid, alice.id)
    assert [m.content for m in transcript.messages] == ["one", "1", "other", "o"]
    assert transcript.summary.message_count == 4
    assert transcript.summary.active_leaf_id == branch.reply_id
    nxt = await store.start_turn(alice.id, "b5", "next", cid, {})  # a free ordinal
    assert nxt.parent_id == branch.reply_id
