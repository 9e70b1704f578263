"""a failed reply keeps its retry_after_ms

A reply that failed after its commit for a reason a client may retry later (the engine's
queue was full: `overloaded`) told its followers when to retry (`end.error.retry_after_ms`).
The store now keeps that too, so a resume or a retry answered from the store says the same
as the live `end` did.

Revision ID: 0007_reply_retry_after
Revises: 0006_streaming_index
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_reply_retry_after"
down_revision: str | Sequence[str] | None = "0006_streaming_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("error_retry_after_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("error_retry_after_ms")
