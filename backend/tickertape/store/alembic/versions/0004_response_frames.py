"""response frames

A reply keeps its frame boundaries: `frame_ends`, the character offset in `content` where
each of frames 1..seq ends, written by the same statements as `content` and `seq` (every
checkpoint and the final write). A reply read back from the store then replays frame by
frame, exactly as it streamed: the OpenAI Responses API resumes a stream after event N
(`starting_after`) from the store after the reply left memory or after a restart.

Revision ID: 0004_response_frames
Revises: 0003_message_tree
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_response_frames"
# The message tree adds 0003 in parallel: at merge this is re-pointed to "0003_message_tree".
down_revision: str | Sequence[str] | None = "0003_message_tree"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("frame_ends", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("frame_ends")
