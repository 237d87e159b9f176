"""dashboard sign-in: passwords, admins, sessions, invites

Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendance.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_unique_constraint("uq_accounts_email", ["email"])

    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", opendance.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", opendance.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("playground_key_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_web_sessions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["playground_key_id"],
            ["api_keys.id"],
            name=op.f("fk_web_sessions_playground_key_id_api_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_web_sessions_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "account_invites",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", opendance.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", opendance.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", opendance.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_invites_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_account_invites")),
    )
    with op.batch_alter_table("account_invites", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_invites_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("account_invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_invites_account_id"))
    op.drop_table("account_invites")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_account_id"))
    op.drop_table("web_sessions")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_accounts_email", type_="unique")
        batch_op.drop_column("is_admin")
        batch_op.drop_column("password_hash")
        batch_op.drop_column("email")
