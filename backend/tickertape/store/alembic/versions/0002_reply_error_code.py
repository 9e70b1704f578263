"""reply error code

A failed reply keeps why it failed: `error_code` (a contract error code such as
`overloaded` or `internal`) beside the existing `error` text, so that `end`, history and
the admin viewer can say it in words a person can act on.

Revision ID: 0002_reply_error_code
Revises: 0001_initial
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_reply_error_code"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("error_code", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("error_code")
