"""reasoning and tool calls

An assistant reply keeps its thinking apart from its answer (`messages.reasoning`) and its
tool calls (`messages.tool_calls`: each complete call with its arguments, its result and
the round it belongs to; chat/reply_parts.py). Both are written by the same statements as
`content` (every checkpoint and the final write). Existing replies have neither (NULL).

A reply's tool round trips are part of that one reply (one id, one `seq` space, resumable
throughout), so its tool results live in its `tool_calls`, not in rows of their own; the
prompt of a later turn renders them as the template's assistant / tool messages.

The downgrade drops both columns (the answer text stays).

Revision ID: 0005_reasoning_tools
Revises: 0004_response_frames
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_reasoning_tools"
down_revision: str | Sequence[str] | None = "0004_response_frames"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("reasoning", sa.Text(), nullable=True))
        batch.add_column(sa.Column("tool_calls", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("tool_calls")
        batch.drop_column("reasoning")
