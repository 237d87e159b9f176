"""mixed fleets: what a task needs, what served it, what each worker can do

Create Date: 2026-11-28 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# What existing tasks need, from the request as stored at submit: "generate_audio" is a JSON
# boolean there, and an input image is either stored (input_image_key, a data: URL) or an
# http(s) URL in "image_urls".
BACKFILL = {
    "sqlite": [
        "UPDATE tasks SET needs_audio = 1 WHERE json_extract(request, '$.generate_audio') = 1",
        "UPDATE tasks SET needs_image = 1 WHERE input_image_key IS NOT NULL"
        " OR coalesce(json_array_length(request, '$.image_urls'), 0) > 0",
    ],
    "postgresql": [
        "UPDATE tasks SET needs_audio = true WHERE request->>'generate_audio' = 'true'",
        # CASE, because PostgreSQL does not promise to evaluate AND's operands in order
        "UPDATE tasks SET needs_image = true WHERE input_image_key IS NOT NULL OR CASE"
        " WHEN json_typeof(request->'image_urls') = 'array'"
        " THEN json_array_length(request->'image_urls') > 0 ELSE false END",
    ],
}


def upgrade() -> None:
    bind = op.get_bind()
    # On SQLite, making tasks.engine nullable rebuilds the table: opendance.db.migrate turns
    # the foreign keys off around it (and checks them before the commit).
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("needs_audio", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("needs_image", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("model", sa.String(length=200), nullable=True))
        batch_op.alter_column("engine", existing_type=sa.String(length=40), nullable=True)
        batch_op.drop_index("ix_tasks_status_created_at")
        batch_op.create_index(
            "ix_tasks_queue",
            ["status", "created_at", "id", "needs_audio", "needs_image"],
            unique=False,
        )
    for statement in BACKFILL[bind.dialect.name]:
        op.execute(statement)
    # Until now the engine was the API's at submit; a task no worker has claimed yet was
    # served by none, and the one that claims it will say which it is.
    op.execute("UPDATE tasks SET engine = NULL WHERE status = 'queued'")

    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("audio", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("image_to_video", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("concurrency", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("tasks_in_hand", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_column("tasks_in_hand")
        batch_op.drop_column("concurrency")
        batch_op.drop_column("image_to_video")
        batch_op.drop_column("audio")
        batch_op.drop_column("model")
    op.execute("UPDATE tasks SET engine = 'preview' WHERE engine IS NULL")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_queue")
        batch_op.create_index("ix_tasks_status_created_at", ["status", "created_at"], unique=False)
        batch_op.alter_column("engine", existing_type=sa.String(length=40), nullable=False)
        batch_op.drop_column("model")
        batch_op.drop_column("needs_image")
        batch_op.drop_column("needs_audio")
