"""Small helpers shared by the store tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tickertape.store.sql_store import SqlStore
from tickertape.store.types import ReplyFinal


@contextmanager
def count_commits(store: SqlStore) -> Iterator[list[int]]:
    """Counts the store's write COMMITs (the list's single item, updated live)."""
    counter = [0]

    def on_commit(_conn: Any) -> None:
        counter[0] += 1

    event.listen(store.write_engine, "commit", on_commit)
    try:
        yield counter
    finally:
        event.remove(store.write_engine, "commit", on_commit)


def final(reply_id: str, content: str, seq: int, status: str = "complete") -> ReplyFinal:
    return ReplyFinal(
        reply_id=reply_id,
        content=content,
        seq=seq,
        status=status,  # type: ignore[arg-type]
        finish_reason="stop" if status == "complete" else status,
        usage={"prompt_tokens": 3, "completion_tokens": seq},
        timing={"queued_ms": 1.0, "ttft_ms": 2.5, "total_ms": 9.0},
    )
