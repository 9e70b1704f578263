"""`python -m benchmarks.null_store serve ...`: tickertape with an in-memory no-op store.

The baseline of benchmarks/persistence.py: everything else (engine, transport, pumps,
frame logs) is the product's own code; only `tickertape.resources.build_store` and the
readiness check are patched, in this process only. Not part of the product.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

from tickertape.store.types import (
    ConversationSummary,
    MessageRecord,
    NotFound,
    Page,
    Placement,
    ReplyFinal,
    Transcript,
    TurnDeletion,
    TurnRecord,
    UserRecord,
)


class NullStore:
    """Commits nothing, waits for nothing; keeps only what idempotent retries need."""

    def __init__(self) -> None:
        self._turns: dict[tuple[str, str], TurnRecord] = {}
        self._users: dict[str, UserRecord] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def recover_interrupted(self) -> int:
        return 0

    async def purge_expired_web_sessions(self) -> int:
        return 0

    def queue_depth(self) -> int:
        return 0

    def observe_commits(self, callback: Callable[[float], None] | None) -> None:
        pass

    async def ensure_user(self, name: str, role: Literal["user", "admin"]) -> UserRecord:
        return self._users.setdefault(name, UserRecord(uuid.uuid4().hex, name, role))

    async def start_turn(
        self,
        user_id: str,
        client_msg_id: str,
        content: str,
        conversation_id: str | None,
        params: dict[str, Any],
        at: Placement | None = None,
    ) -> TurnRecord:
        key = (user_id, client_msg_id)
        if key in self._turns:
            first = self._turns[key]
            return TurnRecord(
                first.conversation_id, first.user_message_id, first.reply_id, client_msg_id, False
            )
        turn = TurnRecord(
            conversation_id or uuid.uuid4().hex,
            uuid.uuid4().hex,
            uuid.uuid4().hex,
            client_msg_id,
            True,
        )
        self._turns[key] = turn
        return turn

    async def find_turn(self, user_id: str, client_msg_id: str) -> TurnRecord | None:
        first = self._turns.get((user_id, client_msg_id))
        if first is None:
            return None
        return TurnRecord(
            first.conversation_id, first.user_message_id, first.reply_id, client_msg_id, False
        )

    def checkpoint_reply(
        self, reply_id: str, content: str, seq: int, frame_ends: list[int] | None = None
    ) -> None:
        pass

    async def finish_reply(self, final: ReplyFinal) -> None:
        pass

    async def history(self, conversation_id: str, before_message_id: str) -> list[MessageRecord]:
        return []

    async def get_message(self, message_id: str) -> MessageRecord | None:
        return None

    async def list_conversations(
        self,
        user_id: str | None,
        limit: int,
        cursor: str | None,
        query: str | None = None,
        user_name: str | None = None,
        status: str | None = None,
    ) -> Page:
        return Page([], None)

    async def get_transcript(self, conversation_id: str, user_id: str | None) -> Transcript:
        if user_id is None:
            raise NotFound("no transcripts in the null store")
        now = datetime.now(UTC)
        user = UserRecord(user_id, "local", "admin")
        return Transcript(ConversationSummary(conversation_id, "", now, now, 0, user), [])

    async def rename_conversation(self, conversation_id: str, user_id: str, title: str) -> None:
        pass

    async def delete_conversation(self, conversation_id: str, user_id: str) -> None:
        pass

    async def set_active_message(self, conversation_id: str, user_id: str, message_id: str) -> str:
        raise NotFound("no messages in the null store")

    async def delete_turn(self, reply_id: str, user_id: str) -> TurnDeletion:
        raise NotFound("no turns in the null store")


async def _build_null_store(settings: object) -> NullStore:
    return NullStore()


def _always_ready(store: object) -> Callable[[], Awaitable[bool]]:
    async def ready() -> bool:
        return True

    return ready


def main() -> None:
    import tickertape.resources
    from tickertape.cli import main as tickertape_main

    # app.py imports these names from tickertape.resources inside its lifespan, at start-up.
    tickertape.resources.build_store = _build_null_store  # type: ignore[assignment]
    tickertape.resources.database_readiness = _always_ready
    tickertape_main()


if __name__ == "__main__":
    main()
