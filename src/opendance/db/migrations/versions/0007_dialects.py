"""three doors over one store: tasks.door and friends, idempotency_keys

Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opendance.db.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NEW_TASK_COLUMNS = ("door", "client_model", "remixed_from", "sprite_key", "last_frame_key")
NEW_TASK_MOMENTS = ("deleted_at", "expired_at")


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("door", sa.String(16), nullable=False, server_default="seedance")
        )
        batch_op.add_column(sa.Column("client_model", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("remixed_from", sa.String(40), nullable=True))
        batch_op.add_column(sa.Column("sprite_key", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("last_frame_key", sa.String(200), nullable=True))
        for name in NEW_TASK_MOMENTS:
            batch_op.add_column(sa.Column(name, UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            "fk_tasks_remixed_from_tasks", "tasks", ["remixed_from"], ["id"]
        )
    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_idempotency_keys_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_idempotency_keys_task_id_tasks"
        ),
        sa.PrimaryKeyConstraint("account_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint("fk_tasks_remixed_from_tasks", type_="foreignkey")
        for name in (*NEW_TASK_COLUMNS, *NEW_TASK_MOMENTS):
            batch_op.drop_column(name)
