"""playground keys end with their session: api_keys.expires_at

Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendance.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# the playground keys of existing sessions take their session's end
BACKFILL = (
    "UPDATE api_keys SET expires_at = (SELECT web_sessions.expires_at FROM web_sessions"
    " WHERE web_sessions.playground_key_id = api_keys.id)"
    " WHERE id IN (SELECT playground_key_id FROM web_sessions)"
)


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", opendance.db.types.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
