"""an index of the replies still streaming

The Redis janitor looks for orphans: replies committed `streaming` by a replica that died
before it registered them in Redis, so no replica knows to end them. It asks the store for
the replies streaming since before a cutoff; this partial index holds only the rows with
`status = 'streaming'`, so the question reads a handful of rows, not the messages table,
and a checkpoint (which changes neither `id` nor `status`) never updates it.

Revision ID: 0006_streaming_index
Revises: 0005_reasoning_tools
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_streaming_index"
down_revision: str | Sequence[str] | None = "0005_reasoning_tools"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STREAMING = sa.text("status = 'streaming'")


def upgrade() -> None:
    op.create_index(
        "ix_messages_streaming",
        "messages",
        ["id"],
        sqlite_where=_STREAMING,
        postgresql_where=_STREAMING,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_streaming", table_name="messages")
