"""Listing, cursors, search, transcripts and the export."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.store.helpers import final
from tickertape.store.errors import BadRequest
from tickertape.store.listing import escape_like
from tickertape.store.sql_store import SqlStore
from tickertape.store.types import NotFound

INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "'; DROP TABLE messages; --",
    "1; DELETE FROM users",
    "admin'--",
    "' UNION SELECT id, name, role FROM users --",
    "'); INSERT INTO users VALUES ('x','x','admin'); --",
    "\\'; SELECT pg_sleep(10); --",
    "1' AND SLEEP(5)#",
    "%' AND 1=0 UNION ALL SELECT NULL--",
    "_%\\%\\_",
    "' OR ''='",
    "1 OR 1=1",
    "' OR 'x'='x' /*",
    "*/ OR /* comment",
    "$$; DROP TABLE users; $$",
    "E'\\x27'",
    "\\x00 not a nul",
    "'||(SELECT version())||'",
    "' AND extractvalue(1, concat(0x7e, version())) --",
    "';EXEC xp_cmdshell('dir');--",
    "` OR 1=1 `",
    "[brackets] OR [1]=[1]",
    "\"; ATTACH DATABASE '/tmp/x.db' AS x; --",
    "PRAGMA writable_schema=1;",
    "'; COPY users TO '/tmp/x'; --",
    "?; ?; :name; %s; %(name)s; $1",
    "{{7*7}} ${7*7} <%= 7*7 %>",
    "<script>alert(1)</script>",
    "\\\\server\\share",
    "C:\\Windows\\System32",
    "line\nbreak' --",
    "tab\tand\rreturn",
    "😀' OR '😀'='😀",
    "é'; -- ünïcödé",
    "ʼ OR 1=1 --",
    "＇ OR １＝１ --",
    "\u202e'; DROP --",
    "zero\u200bwidth'",
    "' OR 1 IN (SELECT 1) --",
    "1e309",
    "-1 UNION SELECT 1,2,3",
    "' GROUP BY 1 HAVING 1=1 --",
    "' ORDER BY 100 --",
    "admin' #",
    "' OR EXISTS(SELECT * FROM users) AND ''='",
    "\\",
    "''''''''''",
    "%%%%____\\\\\\\\",
]


async def test_fifty_injection_payloads_round_trip(store: SqlStore) -> None:
    assert len(INJECTIONS) == 50
    alice = await store.ensure_user("alice", "user")
    turns = await asyncio.gather(
        *(store.start_turn(alice.id, f"p{i}", text, None, {}) for i, text in enumerate(INJECTIONS))
    )
    await asyncio.gather(
        *(
            store.finish_reply(final(t.reply_id, text, 1))
            for t, text in zip(turns, INJECTIONS, strict=True)
        )
    )
    for turn, text in zip(turns, INJECTIONS, strict=True):
        transcript = await store.get_transcript(turn.conversation_id, alice.id)
        assert [m.content for m in transcript.messages] == [text, text]
        # and searching for the payload finds exactly the conversations containing it
        page = await store.list_conversations(None, 100, None, query=text)
        expected = {
            t.conversation_id
            for t, other in zip(turns, INJECTIONS, strict=True)
            if text.lower() in other.lower()
        }
        assert {c.id for c in page.items} == expected
    assert len((await store.list_conversations(None, 100, None)).items) == 50


async def test_search_treats_wildcards_literally(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    texts = ["100% sure", "100 percent", "snake_case", "snakeXcase", "back\\slash", "backslash"]
    ids = {}
    for i, text in enumerate(texts):
        ids[text] = (await store.start_turn(alice.id, f"w{i}", text, None, {})).conversation_id

    async def search(q: str) -> set[str]:
        return {c.id for c in (await store.list_conversations(None, 100, None, query=q)).items}

    assert await search("0%") == {ids["100% sure"]}
    assert await search("%") == {ids["100% sure"]}
    assert await search("e_c") == {ids["snake_case"]}
    assert await search("_") == {ids["snake_case"]}
    assert await search("k\\s") == {ids["back\\slash"]}
    assert await search("SNAKE") == {ids["snake_case"], ids["snakeXcase"]}  # case-insensitive
    assert await search("") == set(ids.values())  # no filter
    assert escape_like("a%b_c\\") == "a\\%b\\_c\\\\"


async def test_search_is_case_insensitive_beyond_ascii(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "u", "Ein ÉLAN für Ärger", None, {})
    for q in ("élan", "ÄRGER", "für"):
        page = await store.list_conversations(None, 10, None, query=q)
        assert [c.id for c in page.items] == [turn.conversation_id], q


async def test_search_covers_replies_and_filters_by_user(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    bob = await store.ensure_user("bob", "user")
    a = await store.start_turn(alice.id, "a", "question", None, {})
    await store.finish_reply(final(a.reply_id, "the answer is 42", 3))
    b = await store.start_turn(bob.id, "b", "what is 42?", None, {})
    both = await store.list_conversations(None, 10, None, query="42")
    assert {c.id for c in both.items} == {a.conversation_id, b.conversation_id}
    only_bob = await store.list_conversations(None, 10, None, query="42", user_name="bob")
    assert [(c.id, c.user.name) for c in only_bob.items] == [(b.conversation_id, "bob")]
    assert (await store.list_conversations(None, 10, None, user_name="nobody")).items == []
    # A part of the name, in any case.
    for part in ("LIC", "Alice", "al"):
        found = await store.list_conversations(None, 10, None, user_name=part)
        assert [c.user.name for c in found.items] == ["alice"], part
    mine = await store.list_conversations(alice.id, 10, None)
    assert [c.id for c in mine.items] == [a.conversation_id]


async def test_admin_listing_filters_by_dates(store: SqlStore) -> None:
    """`since`: active at or after it (updated_at); `until`: started before it."""
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "d", "dated", None, {})
    now, hour = datetime.now(UTC), timedelta(hours=1)

    async def listed(**dates: datetime) -> list[str]:
        return [c.id for c in (await store.list_conversations(None, 10, None, **dates)).items]

    assert await listed(since=now - hour, until=now + hour) == [turn.conversation_id]
    assert await listed(since=now + hour) == []
    assert await listed(until=now - hour) == []


async def test_cursor_pagination_walks_every_conversation_once(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    bob = await store.ensure_user("bob", "user")
    # one batch: many share an updated_at, so the id tie-break matters
    turns = await asyncio.gather(
        *(
            store.start_turn((alice if i % 3 else bob).id, f"c{i}", f"m{i}", None, {})
            for i in range(57)
        )
    )
    for user_id, limit in ((None, 10), (None, 1), (alice.id, 7), (None, 1000)):
        seen: list[str] = []
        cursor = None
        while True:
            page = await store.list_conversations(user_id, limit, cursor)
            assert len(page.items) <= min(max(limit, 1), 100)
            seen.extend(c.id for c in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = {t.conversation_id for i, t in enumerate(turns) if user_id is None or i % 3}
        assert len(seen) == len(set(seen)) == len(expected)
        assert set(seen) == expected
        stamps = [
            (c.updated_at, c.id) for c in (await store.list_conversations(user_id, 100, None)).items
        ]
        assert stamps == sorted(stamps, reverse=True)
    assert len((await store.list_conversations(None, 0, None)).items) == 1  # clamped


async def test_newest_first_follows_activity(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    first = await store.start_turn(alice.id, "1", "first", None, {})
    await store.finish_reply(final(first.reply_id, "ok", 1))
    second = await store.start_turn(alice.id, "2", "second", None, {})
    await store.finish_reply(final(second.reply_id, "ok", 1))
    page = await store.list_conversations(alice.id, 10, None)
    assert [c.id for c in page.items] == [second.conversation_id, first.conversation_id]
    await store.start_turn(alice.id, "3", "again", first.conversation_id, {})
    page = await store.list_conversations(alice.id, 10, None)
    assert [c.id for c in page.items] == [first.conversation_id, second.conversation_id]
    assert page.items[0].message_count == 4


async def test_bad_cursor_is_bad_request(store: SqlStore) -> None:
    for cursor in (
        "garbage",
        "eyJ4IjogMX0",
        "W10",
        "WyJub3QgYSBkYXRlIiwgIngiXQ",
        "WyIyMDI1LTAxLTAxIiwgIngiXQ",
    ):
        with pytest.raises(BadRequest):
            await store.list_conversations(None, 10, cursor)


async def test_history_and_get_message(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    turn = await store.start_turn(alice.id, "1", "hi", None, {})
    with pytest.raises(NotFound):
        await store.history(turn.conversation_id, "0" * 32)
    assert await store.get_message("0" * 32) is None
    assert [m.id for m in await store.history(turn.conversation_id, turn.user_message_id)] == []


async def test_export_streams_everything_once(store: SqlStore) -> None:
    alice = await store.ensure_user("alice", "user")
    bob = await store.ensure_user("bob", "user")
    turns = await asyncio.gather(
        *(
            store.start_turn((alice if i % 2 else bob).id, f"e{i}", f"m{i}", None, {})
            for i in range(23)
        )
    )
    exported = [t async for t in store.export_conversations(batch_size=5)]
    assert sorted(t.summary.id for t in exported) == sorted(t.conversation_id for t in turns)
    assert all(len(t.messages) == 2 and t.messages[0].role == "user" for t in exported)
    only_alice = [t async for t in store.export_conversations(alice.id, batch_size=4)]
    assert len(only_alice) == 11
    assert {t.summary.user.name for t in only_alice} == {"alice"}
