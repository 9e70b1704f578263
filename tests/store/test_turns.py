"""The write path of a turn: idempotency, ownership, conflicts, checkpoints, recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.store.helpers import count_commits, final
from tickertape.store.errors import BadRequest, StoreClosed
from tickertape.store.sql_store import SqlStore
from tickertape.store.turns import derive_title
from tickertape.store.types import Conflict, NotFound, ReplyFinal, TurnRecord


async def test_start_turn_creates_conversation_and_streaming_reply(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "m1", "Hello\n  there,   world", None, {"seed": 7})
    assert turn.created
    assert turn.client_msg_id == "m1"
    transcript = await store.get_transcript(turn.conversation_id, alice.id)
    assert transcript.summary.title == "Hello there, world"
    assert transcript.summary.message_count == 2
    assert transcript.summary.user == alice
    user_msg, reply = transcript.messages
    assert (user_msg.id, user_msg.role, user_msg.content) == (
        turn.user_message_id,
        "user",
        "Hello\n  there,   world",
    )
    assert (reply.id, reply.role, reply.status, reply.content, reply.seq) == (
        turn.reply_id,
        "assistant",
        "streaming",
        "",
        0,
    )
    assert reply.created_at.tzinfo is not None
    assert reply.created_at.utcoffset() == timedelta(0)
    assert await store.history(turn.conversation_id, turn.reply_id) == [user_msg]


async def test_retry_returns_the_original_turn(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    first = await store.start_turn(alice.id, "same", "hi", None, {})
    again = await store.start_turn(alice.id, "same", "something else", None, {})
    assert not again.created
    assert (again.conversation_id, again.user_message_id, again.reply_id) == (
        first.conversation_id,
        first.user_message_id,
        first.reply_id,
    )
    page = await store.list_conversations(alice.id, 10, None)
    assert [c.message_count for c in page.items] == [2]


async def test_concurrent_retries_in_one_batch_store_one_turn(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    turns = await asyncio.gather(
        *(store.start_turn(alice.id, "dup", "hi", None, {}) for _ in range(10))
    )
    assert sum(t.created for t in turns) == 1
    assert len({(t.conversation_id, t.user_message_id, t.reply_id) for t in turns}) == 1
    assert len((await store.list_conversations(alice.id, 100, None)).items) == 1


async def test_client_msg_id_is_per_user(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    bob = await store.ensure_user("bob", "user")
    a = await store.start_turn(alice.id, "x", "hi", None, {})
    b = await store.start_turn(bob.id, "x", "hi", None, {})
    assert a.created
    assert b.created
    assert a.conversation_id != b.conversation_id


async def test_other_users_or_missing_conversation_is_not_found(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    bob = await store.ensure_user("bob", "user")
    turn = await store.start_turn(alice.id, "a1", "hi", None, {})
    with pytest.raises(NotFound):
        await store.start_turn(bob.id, "b1", "mine now", turn.conversation_id, {})
    with pytest.raises(NotFound):
        await store.start_turn(bob.id, "b2", "hi", "0" * 32, {})
    transcript = await store.get_transcript(turn.conversation_id, alice.id)
    assert len(transcript.messages) == 2
    with pytest.raises(NotFound):
        await store.get_transcript(turn.conversation_id, bob.id)
    with pytest.raises(NotFound):
        await store.rename_conversation(turn.conversation_id, bob.id, "x")
    with pytest.raises(NotFound):
        await store.delete_conversation(turn.conversation_id, bob.id)
    assert (await store.get_transcript(turn.conversation_id, None)).summary.title == "hi"


async def test_conflict_while_a_reply_streams_then_next_turn(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "a1", "hi", None, {})
    with pytest.raises(Conflict):
        await store.start_turn(alice.id, "a2", "again", turn.conversation_id, {})
    # the rejected turn left nothing behind, and its id stays usable
    assert (await store.get_transcript(turn.conversation_id, alice.id)).summary.message_count == 2
    await store.finish_reply(final(turn.reply_id, "Hello!", 2))
    nxt = await store.start_turn(alice.id, "a2", "again", turn.conversation_id, {})
    assert nxt.created
    assert nxt.conversation_id == turn.conversation_id
    history = await store.history(turn.conversation_id, nxt.reply_id)
    assert [(m.role, m.content) for m in history] == [
        ("user", "hi"),
        ("assistant", "Hello!"),
        ("user", "again"),
    ]
    # a retry of an in-flight turn is not a conflict: it is the same turn
    retry = await store.start_turn(alice.id, "a2", "again", turn.conversation_id, {})
    assert not retry.created
    assert retry.reply_id == nxt.reply_id


async def test_finish_reply_is_durable(migrated_url: str) -> None:
    store = SqlStore.from_url(migrated_url)
    await store.start()
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "a1", "hi", None, {"max_tokens": 5})
    store.checkpoint_reply(turn.reply_id, "Hel", 1)
    await store.finish_reply(final(turn.reply_id, "Hello", 2, "stopped"))
    await store.close()

    reopened = SqlStore.from_url(migrated_url)
    await reopened.start()
    try:
        assert await reopened.recover_interrupted() == 0
        reply = await reopened.get_message(turn.reply_id)
        assert reply is not None
        assert (reply.content, reply.seq, reply.status, reply.finish_reason) == (
            "Hello",
            2,
            "stopped",
            "stopped",
        )
        assert reply.usage == {"prompt_tokens": 3, "completion_tokens": 2}
        assert reply.timing == {"queued_ms": 1.0, "ttft_ms": 2.5, "total_ms": 9.0}
    finally:
        await reopened.close()


async def test_checkpoint_crash_recover(migrated_url: str) -> None:
    store = SqlStore.from_url(migrated_url)
    await store.start()
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "a1", "hi", None, {})
    for seq in range(1, 6):
        store.checkpoint_reply(turn.reply_id, "tok" * seq, seq)
    await store.close()  # the server goes away without finishing the reply

    reopened = SqlStore.from_url(migrated_url)
    await reopened.start()
    try:
        assert await reopened.recover_interrupted() == 1
        reply = await reopened.get_message(turn.reply_id)
        assert reply is not None
        assert (reply.content, reply.seq, reply.status, reply.finish_reason) == (
            "tok" * 5,
            5,
            "interrupted",
            "interrupted",
        )
        # a late checkpoint cannot resurrect it, and the conversation is usable again
        reopened.checkpoint_reply(turn.reply_id, "zzz", 9)
        await reopened.flush()
        assert (await reopened.get_message(turn.reply_id)).content == "tok" * 5  # type: ignore[union-attr]
        nxt = await reopened.start_turn(alice.id, "a2", "more", turn.conversation_id, {})
        assert nxt.created
    finally:
        await reopened.close()


async def test_checkpoints_coalesce_and_never_go_backwards(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "a1", "hi", None, {})
    with count_commits(store) as commits:
        for seq in range(1, 201):
            store.checkpoint_reply(turn.reply_id, "x" * seq, seq)
        await store.flush()
    assert commits[0] <= 2
    store.checkpoint_reply(turn.reply_id, "old", 3)  # older than what is stored: ignored
    await store.flush()
    reply = await store.get_message(turn.reply_id)
    assert reply is not None
    assert (reply.content, reply.seq) == ("x" * 200, 200)
    await store.finish_reply(final(turn.reply_id, "final", 201))
    store.checkpoint_reply(turn.reply_id, "late", 202)  # after the end: ignored
    await store.flush()
    assert (await store.get_message(turn.reply_id)).content == "final"  # type: ignore[union-attr]


async def test_group_commit_batches(store: SqlStore) -> None:
    users = [await store.ensure_user(f"u{i}", "user") for i in range(4)]
    with count_commits(store) as commits:
        turns = await asyncio.gather(
            *(store.start_turn(users[i % 4].id, f"c{i}", f"msg {i}", None, {}) for i in range(100))
        )
    assert all(t.created for t in turns)
    assert commits[0] <= 10, commits[0]
    with count_commits(store) as commits:
        for i, t in enumerate(turns):
            store.checkpoint_reply(t.reply_id, f"partial {i}", 1)
        await store.flush()
    assert commits[0] <= 2, commits[0]
    with count_commits(store) as commits:
        await asyncio.gather(*(store.finish_reply(final(t.reply_id, "done", 2)) for t in turns))
    assert commits[0] <= 10, commits[0]
    assert store.stats.batches < store.stats.operations


async def test_a_failing_op_does_not_fail_its_batch(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    bob = await store.ensure_user("bob", "user")
    busy = await store.start_turn(alice.id, "busy", "hi", None, {})
    with count_commits(store) as commits:
        results = await asyncio.gather(
            store.start_turn(alice.id, "ok1", "one", None, {}),
            store.start_turn(bob.id, "bad1", "not yours", busy.conversation_id, {}),
            store.start_turn(alice.id, "bad2", "busy", busy.conversation_id, {}),
            store.create_user("carol", "user"),
            store.create_user("carol", "user"),  # a real UNIQUE violation inside the batch
            store.start_turn(alice.id, "bad3", "nul \x00", None, {}),
            store.start_turn(alice.id, "ok2", "two", None, {}),
            return_exceptions=True,
        )
    assert commits[0] == 1  # one batch, one commit
    ok1, bad1, bad2, carol, carol2, bad3, ok2 = results
    assert isinstance(bad1, NotFound)
    assert isinstance(bad2, Conflict)
    assert isinstance(bad3, BadRequest)
    assert sorted(type(r).__name__ for r in (carol, carol2)) == ["Conflict", "UserAccount"]
    for good in (ok1, ok2):
        assert isinstance(good, TurnRecord)
        assert (
            await store.get_transcript(good.conversation_id, alice.id)
        ).summary.message_count == 2
    assert await store.get_user_by_name("carol") is not None


async def test_failed_reply_keeps_its_reason_and_unknown_reply(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "a1", "hi", None, {})
    failed = ReplyFinal(
        turn.reply_id,
        "",
        0,
        "error",
        "error",
        {},
        {},
        error_code="overloaded",
        error_message="the generation queue is full",
    )
    await store.finish_reply(failed)
    reply = await store.get_message(turn.reply_id)
    assert reply is not None
    assert (reply.status, reply.finish_reason) == ("error", "error")
    assert (reply.error_code, reply.error_message) == (
        "overloaded",
        "the generation queue is full",
    )
    with pytest.raises(NotFound):
        await store.finish_reply(final("f" * 32, "x", 1))


async def test_rename_and_delete(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "a1", "hi", None, {})
    await store.rename_conversation(turn.conversation_id, alice.id, "  My\nchat ")
    assert (await store.get_transcript(turn.conversation_id, alice.id)).summary.title == "My chat"
    with pytest.raises(BadRequest):
        await store.rename_conversation(turn.conversation_id, alice.id, "   ")
    await store.delete_conversation(turn.conversation_id, alice.id)
    with pytest.raises(NotFound):
        await store.get_transcript(turn.conversation_id, alice.id)
    assert await store.get_message(turn.reply_id) is None  # messages went with it
    with pytest.raises(NotFound):
        await store.delete_conversation(turn.conversation_id, alice.id)


async def test_writes_after_close_raise(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    await store.close()
    with pytest.raises(StoreClosed):
        await store.start_turn(alice.id, "late", "hi", None, {})
    with pytest.raises(StoreClosed):
        store.checkpoint_reply("r", "x", 1)


def test_derive_title() -> None:
    assert derive_title("  hello\n\tworld  ") == "hello world"
    assert derive_title("\n \n") == "New conversation"
    long = derive_title("word " * 40)
    assert len(long) <= 61
    assert long.endswith("…")
    assert "\n" not in long
    assert derive_title("x" * 100) == "x" * 60 + "…"


async def test_commit_observer_and_queue_depth(store: SqlStore) -> None:
    seen: list[float] = []
    store.observe_commits(seen.append)
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "a1", "hi", None, {})
    store.checkpoint_reply(turn.reply_id, "x", 1)
    assert store.queue_depth() == 1
    await store.flush()
    assert store.queue_depth() == 0
    assert len(seen) >= 3
    assert all(s >= 0 for s in seen)
