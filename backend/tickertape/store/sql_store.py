"""`SqlStore`: the `Store` protocol on SQLAlchemy (SQLite or PostgreSQL).

Writes go to one writer task (see `writer.py`); reads open their own sessions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session

from tickertape.store import branches, turns, users
from tickertape.store.db import (
    WRITE_OPTION,
    SqliteSync,
    check_connection,
    create_engine,
    create_sqlite_writer_engine,
)
from tickertape.store.listing import Listing
from tickertape.store.models import utcnow
from tickertape.store.reads import Reader
from tickertape.store.records import (
    ApiTokenRecord,
    AuditPage,
    UserAccount,
    WebSessionRecord,
)
from tickertape.store.transactions import AsyncTransactions, ThreadTransactions, Transactions
from tickertape.store.types import (
    ConversationFilter,
    FrameEnd,
    MessageRecord,
    MessageStatus,
    Page,
    Placement,
    ReplyFinal,
    Store,
    Transcript,
    TurnDeletion,
    TurnRecord,
    UserRecord,
)
from tickertape.store.writer import Writer, WriterStats

Role = Literal["user", "admin"]


_CHECKPOINTS_KEY = "checkpoints"


class SqlStore:
    """Create with `SqlStore(engine)` or `SqlStore.from_url(url)`; `await start()` before
    writing, `await close()` at shutdown (flushes pending writes, disposes the engine)."""

    def __init__(
        self, engine: AsyncEngine, *, writer_engine: Engine | None = None, max_batch: int = 500
    ) -> None:
        """`writer_engine`: a synchronous engine on the same SQLite file for the writer's
        thread (`create_sqlite_writer_engine`); without one, writes use `engine`."""
        self.engine = engine
        # The engine whose connections run the writes (for commit listeners and tests).
        self.write_engine: Engine = writer_engine or engine.sync_engine
        reads = async_sessionmaker(engine, expire_on_commit=False)
        transactions: Transactions
        if writer_engine is not None:
            transactions = ThreadTransactions(writer_engine)
        else:
            transactions = AsyncTransactions(
                async_sessionmaker(
                    engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
                )
            )
        self._transactions = transactions
        self._writer = Writer(transactions, max_batch=max_batch)
        self._checkpoints: dict[str, turns.Checkpoint] = {}
        self._reader = Reader(reads)
        self._listing = Listing(reads)
        self._users = users.UserReader(reads)

    @classmethod
    def from_url(
        cls,
        database_url: str,
        *,
        max_batch: int = 500,
        sqlite_synchronous: SqliteSync = "FULL",
        **engine_kwargs: Any,
    ) -> SqlStore:
        """Raises InvalidDatabaseUrl; connection problems surface in `start()`."""
        return cls(
            create_engine(database_url, sqlite_synchronous=sqlite_synchronous, **engine_kwargs),
            writer_engine=create_sqlite_writer_engine(
                database_url, sqlite_synchronous=sqlite_synchronous
            ),
            max_batch=max_batch,
        )

    @property
    def stats(self) -> WriterStats:
        return self._writer.stats

    def queue_depth(self) -> int:
        """Writes waiting for the writer (for the `tickertape_store_write_queue` gauge)."""
        return self._writer.queue_depth

    def observe_commits(self, callback: Callable[[float], None] | None) -> None:
        """`callback(seconds)` after each committed batch, BEGIN to COMMIT (a histogram's
        `observe`). Runs in the writer task: keep it cheap; its exceptions are logged."""
        self._writer.commit_observer = callback

    async def start(self) -> None:
        """Check the database answers (DatabaseUnavailable otherwise), start the writer."""
        await check_connection(self.engine)
        self._writer.start()

    async def close(self) -> None:
        try:
            await self._writer.close()
        finally:
            try:
                await self._transactions.close()
            finally:
                await self.engine.dispose()

    async def flush(self) -> None:
        """Return once every write queued so far (checkpoints included) is committed."""
        await self._writer.flush()

    async def recover_interrupted(self) -> int:
        """Call at startup, before serving: every `streaming` reply becomes `interrupted`."""
        return await self._writer.submit(turns.recover_interrupted)

    # --- the write path of a turn ---------------------------------------------------------

    async def start_turn(
        self,
        user_id: str,
        client_msg_id: str,
        content: str,
        conversation_id: str | None,
        params: dict[str, Any],
        at: Placement | None = None,
    ) -> TurnRecord:
        return await self._writer.submit(
            lambda s: turns.start_turn(
                s, user_id, client_msg_id, content, conversation_id, params, at
            )
        )

    async def find_turn(self, user_id: str, client_msg_id: str) -> TurnRecord | None:
        return await self._reader.find_turn(user_id, client_msg_id)

    def checkpoint_reply(
        self,
        reply_id: str,
        content: str,
        seq: int,
        frame_ends: list[FrameEnd] | None = None,
        *,
        reasoning: str | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> None:
        # The latest checkpoint per reply wins; all of them go out in one statement.
        self._checkpoints[reply_id] = turns.Checkpoint(
            content, seq, frame_ends, reasoning, tool_calls
        )
        self._writer.submit_coalesced(_CHECKPOINTS_KEY, self._take_checkpoints)

    def _take_checkpoints(self) -> Callable[[Session], None] | None:
        pending, self._checkpoints = self._checkpoints, {}
        if not pending:
            return None
        return lambda session: turns.checkpoint_replies(session, pending)

    async def finish_reply(self, final: ReplyFinal) -> None:
        self._checkpoints.pop(final.reply_id, None)
        await self._writer.submit(lambda s: turns.finish_reply(s, final))

    async def delete_turn(self, reply_id: str, user_id: str) -> TurnDeletion:
        return await self._writer.submit(lambda s: branches.delete_turn(s, reply_id, user_id))

    async def streaming_before(self, cutoff: datetime, limit: int = 100) -> list[str]:
        """Replies still `streaming` with no write since `cutoff` (the orphan sweep)."""
        return await self._reader.streaming_before(cutoff, limit)

    async def interrupt_reply(self, reply_id: str, content: str, seq: int) -> bool:
        """A reply of a dead replica ends `interrupted` (only if still `streaming`)."""
        self._checkpoints.pop(reply_id, None)
        return await self._writer.submit(lambda s: turns.interrupt_reply(s, reply_id, content, seq))

    async def rename_conversation(self, conversation_id: str, user_id: str, title: str) -> None:
        await self._writer.submit(
            lambda s: turns.rename_conversation(s, conversation_id, user_id, title)
        )

    async def delete_conversation(self, conversation_id: str, user_id: str) -> None:
        await self._writer.submit(lambda s: turns.delete_conversation(s, conversation_id, user_id))

    async def set_active_message(self, conversation_id: str, user_id: str, message_id: str) -> str:
        return await self._writer.submit(
            lambda s: branches.set_active_message(s, conversation_id, user_id, message_id)
        )

    # --- reads ----------------------------------------------------------------------------

    async def history(self, conversation_id: str, before_message_id: str) -> list[MessageRecord]:
        return await self._reader.history(conversation_id, before_message_id)

    async def get_message(self, message_id: str) -> MessageRecord | None:
        return await self._reader.get_message(message_id)

    async def list_conversations(
        self,
        user_id: str | None,
        limit: int,
        cursor: str | None,
        query: str | None = None,
        user_name: str | None = None,
        status: MessageStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page:
        where = ConversationFilter(
            query=query, user_name=user_name, status=status, since=since, until=until
        )
        return await self._listing.list_conversations(user_id, limit, cursor, where)

    async def get_transcript(self, conversation_id: str, user_id: str | None) -> Transcript:
        return await self._reader.get_transcript(conversation_id, user_id)

    def export_conversations(
        self,
        user_id: str | None = None,
        batch_size: int = 100,
        where: ConversationFilter | None = None,
    ) -> AsyncIterator[Transcript]:
        """Every conversation (`where` selects) with all its messages, oldest first, read
        in batches."""
        return self._listing.export_conversations(
            user_id, batch_size, where or ConversationFilter()
        )

    # --- users, tokens, sessions, audit ---------------------------------------------------

    async def ensure_user(self, name: str, role: Role) -> UserRecord:
        return await self._writer.submit(lambda s: users.ensure_user(s, name, role))

    async def create_user(
        self, name: str, role: Role, password_hash: str | None = None
    ) -> UserAccount:
        """Raises Conflict when the name is taken, BadRequest for a bad name or role."""
        return await self._writer.submit(lambda s: users.create_user(s, name, role, password_hash))

    async def get_user(self, user_id: str) -> UserAccount | None:
        return await self._users.get_user(user_id)

    async def get_user_by_name(self, name: str) -> UserAccount | None:
        return await self._users.get_user_by_name(name)

    async def list_users(self) -> list[UserAccount]:
        return await self._users.list_users()

    async def set_password_hash(self, user_id: str, password_hash: str | None) -> None:
        await self._writer.submit(lambda s: users.set_password_hash(s, user_id, password_hash))

    async def set_user_disabled(self, user_id: str, disabled: bool) -> None:
        await self._writer.submit(lambda s: users.set_user_disabled(s, user_id, disabled))

    async def add_api_token(self, user_id: str, token_hash: str, name: str) -> ApiTokenRecord:
        return await self._writer.submit(
            lambda s: users.add_api_token(s, user_id, token_hash, name)
        )

    async def user_by_token_hash(self, token_hash: str) -> UserRecord | None:
        """The user of an unrevoked token (None if revoked, unknown or the user is disabled).
        Records `last_used_at` in the background (coalesced)."""
        user = await self._users.user_by_token_hash(token_hash)
        if user is not None:
            when = utcnow()
            self._writer.submit_coalesced(
                ("touch", token_hash), lambda: lambda s: users.touch_token(s, token_hash, when)
            )
        return user

    async def list_api_tokens(self, user_id: str) -> list[ApiTokenRecord]:
        return await self._users.list_api_tokens(user_id)

    async def revoke_tokens(self, user_id: str, token_id: str | None = None) -> int:
        """Revoke every live token of the user (or only `token_id`); return how many."""
        return await self._writer.submit(lambda s: users.revoke_tokens(s, user_id, token_id))

    async def add_audit(self, actor_user_id: str | None, action: str, target: str | None) -> None:
        await self._writer.submit(lambda s: users.add_audit(s, actor_user_id, action, target))

    async def list_audit(self, limit: int = 50, cursor: str | None = None) -> AuditPage:
        return await self._users.list_audit(limit, cursor)

    async def create_web_session(
        self, session_id: str, user_id: str, csrf_hash: str, expires_at: datetime
    ) -> None:
        await self._writer.submit(
            lambda s: users.create_web_session(s, session_id, user_id, csrf_hash, expires_at)
        )

    async def get_web_session(self, session_id: str) -> WebSessionRecord | None:
        return await self._users.get_web_session(session_id)

    async def delete_web_session(self, session_id: str) -> None:
        await self._writer.submit(lambda s: users.delete_web_sessions(s, session_id, None, False))

    async def delete_user_web_sessions(self, user_id: str) -> int:
        return await self._writer.submit(
            lambda s: users.delete_web_sessions(s, None, user_id, False)
        )

    async def purge_expired_web_sessions(self) -> int:
        return await self._writer.submit(lambda s: users.delete_web_sessions(s, None, None, True))


def _conforms(store: SqlStore) -> Store:  # mypy checks SqlStore against the protocol here
    return store


__all__ = ["SqlStore"]
