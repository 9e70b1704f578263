"""message tree

Conversations become trees: `messages.parent_id` (the message a message answers; siblings
are regenerated replies and edited user messages) and `conversations.active_leaf_id` (the
end of the branch shown and continued). Existing conversations are linear: each message's
parent is the previous one by `ordinal`, and the active leaf is the last one.

The downgrade drops both columns and keeps every message: branches then read as one
conversation in creation order.

Revision ID: 0003_message_tree
Revises: 0002_reply_error_code
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_message_tree"
down_revision: str | Sequence[str] | None = "0002_reply_error_code"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_messages_parent_id_messages"
INDEX = "ix_messages_parent_id"

# Correlated subqueries that both SQLite and PostgreSQL run as index seeks on
# uq_messages_conversation_id_ordinal.
BACKFILL_PARENTS = """
UPDATE messages SET parent_id = (
    SELECT p.id FROM messages AS p
    WHERE p.conversation_id = messages.conversation_id AND p.ordinal < messages.ordinal
    ORDER BY p.ordinal DESC
    LIMIT 1
)
"""
BACKFILL_LEAVES = """
UPDATE conversations SET active_leaf_id = (
    SELECT m.id FROM messages AS m
    WHERE m.conversation_id = conversations.id
    ORDER BY m.ordinal DESC
    LIMIT 1
)
"""


def upgrade() -> None:
    # SQLite rebuilds the table (batch mode) to add a foreign key; PostgreSQL alters it.
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(32), nullable=True))
        batch.create_foreign_key(FK, "messages", ["parent_id"], ["id"], ondelete="CASCADE")
        batch.create_index(INDEX, ["parent_id"])
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("active_leaf_id", sa.String(32), nullable=True))
    op.execute(BACKFILL_PARENTS)
    op.execute(BACKFILL_LEAVES)


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("active_leaf_id")
    with op.batch_alter_table("messages") as batch:
        batch.drop_index(INDEX)
        batch.drop_constraint(FK, type_="foreignkey")
        batch.drop_column("parent_id")
