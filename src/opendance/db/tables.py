"""The schema, as SQLAlchemy Core tables. Alembic migrations must produce exactly this
(tests/db/test_migrations.py compares them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from opendance.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


def _serial_id() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _ref(name: str, target: str, *, nullable: bool, index: bool | None = None) -> Column[str]:
    """A reference to another table's 40-character id."""
    return Column(name, String(40), ForeignKey(target), nullable=nullable, index=index)


def _moment(name: str, *, nullable: bool) -> Column[datetime]:
    return Column(name, UTCDateTime, nullable=nullable)


def _flag(name: str) -> Column[bool]:
    """A boolean that is false unless set, also for rows written before it existed."""
    return Column(name, Boolean, nullable=False, default=False, server_default=false())


accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    # The ledger is the truth; this is its running sum, kept in the same transactions, so that a
    # conditional debit can be one UPDATE that never lets the balance go below zero.
    Column("balance", BigInteger, nullable=False, default=0),
    _moment("created_at", nullable=False),
    # Standard Webhooks signing secret; after a rotation the previous one keeps signing too
    # until the overlap ends, so receivers can switch without losing a delivery.
    Column("webhook_secret", String(100), nullable=True),
    Column("webhook_previous_secret", String(100), nullable=True),
    _moment("webhook_secret_rotated_at", nullable=True),
    # Dashboard sign-in: an optional e-mail (stored lower-case) and an Argon2 hash; no hash
    # means the account cannot sign in to the dashboard (API keys work regardless).
    Column("email", String(254), nullable=True, unique=True),
    Column("password_hash", String(200), nullable=True),
    _flag("is_admin"),
    CheckConstraint("balance >= 0", name="balance_not_negative"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    _ref("account_id", "accounts.id", nullable=False, index=True),
    Column("name", String(100), nullable=True),
    # SHA-256 of the key: keys are 256-bit random secrets, so a fast hash is enough to make a
    # leaked table useless, and lookups stay one indexed equality.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("last4", String(4), nullable=False),
    _moment("created_at", nullable=False),
    _moment("last_used_at", nullable=True),
    _moment("revoked_at", nullable=True),
    # Set on a session's playground key (the session's end): checked with the key's own row,
    # so it costs the API's key lookup nothing. NULL for keys made by hand, which never expire.
    _moment("expires_at", nullable=True),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(40), primary_key=True),
    _ref("account_id", "accounts.id", nullable=False),
    _ref("api_key_id", "api_keys.id", nullable=True),
    Column("status", String(16), nullable=False),
    Column("request", JSON, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("price", Integer, nullable=False),
    # What the task needs from a worker, fixed at submit: a claim takes only tasks the
    # claiming worker can serve.
    _flag("needs_audio"),
    _flag("needs_image"),
    # What served it, set by every claim (so: the last worker that ran it); NULL until then.
    Column("engine", String(40), nullable=True),
    Column("model", String(200), nullable=True),
    Column("callback_url", Text, nullable=True),
    Column("input_image_key", String(200), nullable=True),
    _moment("created_at", nullable=False),
    _moment("updated_at", nullable=False),
    _moment("started_at", nullable=True),
    _moment("finished_at", nullable=True),
    Column("progress", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(120), nullable=True),
    # Fencing token: bumped on every claim; a completion must present the token it claimed with.
    Column("lease_token", BigInteger, nullable=False, default=0),
    _moment("lease_expires_at", nullable=True),
    Column("video_key", String(200), nullable=True),
    Column("poster_key", String(200), nullable=True),
    Column("error_message", Text, nullable=True),
    # The door (API dialect) it came through, and the model name its client asked for there
    # (echoed by the OpenAI and Ark dialects; NULL from the Seedance door).
    Column("door", String(16), nullable=False, default="seedance", server_default="seedance"),
    Column("client_model", String(200), nullable=True),
    _ref("remixed_from", "tasks.id", nullable=True),
    # What the worker makes alongside the video: a sprite sheet of frames and the last frame.
    Column("sprite_key", String(200), nullable=True),
    Column("last_frame_key", String(200), nullable=True),
    # Deleted by its owner: gone from every dialect's reads and lists (the ledger keeps its
    # rows, so the row stays); expired: retention removed its files.
    _moment("deleted_at", nullable=True),
    _moment("expired_at", nullable=True),
    # The queue: a claim walks the queued rows in claim order, reading what each needs from
    # the index itself, so that skipping tasks this worker cannot serve costs no table reads.
    # Its status prefix also serves the reaper (running rows) and the queue depth.
    Index("ix_tasks_queue", "status", "created_at", "id", "needs_audio", "needs_image"),
    Index("ix_tasks_account_id_created_at", "account_id", "created_at"),
)

ledger = Table(
    "ledger",
    metadata,
    _serial_id(),
    _ref("account_id", "accounts.id", nullable=False, index=True),
    _ref("task_id", "tasks.id", nullable=True),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("note", Text, nullable=True),
    _moment("created_at", nullable=False),
    # A task is charged at most once and refunded at most once, whatever races happen.
    UniqueConstraint("task_id", "kind"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("engine", String(40), nullable=False),
    Column("model", String(200), nullable=True),
    # What its engine can do: the API accepts what some recently seen worker can serve.
    _flag("audio"),
    _flag("image_to_video"),
    Column("concurrency", Integer, nullable=False, default=1, server_default="1"),
    Column("state", String(16), nullable=False),
    # How many tasks it holds; current_task_id is the one it has held longest (every task it
    # holds has lease_owner = this id).
    Column("tasks_in_hand", Integer, nullable=False, default=0, server_default="0"),
    Column("current_task_id", String(40), nullable=True),
    _moment("started_at", nullable=False),
    _moment("last_seen_at", nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    # The Standard Webhooks message id ("webhook-id"): the same on every retry.
    Column("id", String(40), primary_key=True),
    _ref("task_id", "tasks.id", nullable=False, index=True),
    _ref("account_id", "accounts.id", nullable=False, index=True),
    Column("url", Text, nullable=False),
    # The body exactly as sent, frozen when the task became terminal.
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    _moment("next_attempt_at", nullable=False),
    # A dispatcher's claim: only the holder of the current token may record an outcome.
    Column("claimed_by", String(120), nullable=True),
    Column("claim_token", BigInteger, nullable=False, default=0),
    _moment("claim_expires_at", nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    _moment("created_at", nullable=False),
    _moment("updated_at", nullable=False),
    _moment("delivered_at", nullable=True),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    _serial_id(),
    _ref("delivery_id", "webhook_deliveries.id", nullable=False),
    Column("attempt", Integer, nullable=False),
    _moment("started_at", nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    # an attempt is recorded once, whichever dispatcher made it
    UniqueConstraint("delivery_id", "attempt"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # SHA-256 of the session cookie's value: a leaked table signs nobody in.
    Column("id", String(64), primary_key=True),
    _ref("account_id", "accounts.id", nullable=False, index=True),
    _moment("created_at", nullable=False),
    _moment("expires_at", nullable=False),
    # The API key the playground uses in this session; revoked when the session ends.
    _ref("playground_key_id", "api_keys.id", nullable=True),
)

account_invites = Table(
    "account_invites",
    metadata,
    # SHA-256 of the token in the invite link; the link itself is printed once.
    Column("token_hash", String(64), primary_key=True),
    _ref("account_id", "accounts.id", nullable=False, index=True),
    _moment("created_at", nullable=False),
    _moment("expires_at", nullable=False),
    _moment("used_at", nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # An Idempotency-Key is the account's own: the same string from two accounts is two keys.
    _ref("account_id", "accounts.id", nullable=False),
    Column("key", String(255), nullable=False),
    # SHA-256 of the route and the body: the same key with another request is a conflict.
    Column("fingerprint", String(64), nullable=False),
    _ref("task_id", "tasks.id", nullable=False),
    _moment("created_at", nullable=False),
    PrimaryKeyConstraint("account_id", "key"),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

__all__ = [
    "account_invites",
    "accounts",
    "api_keys",
    "idempotency_keys",
    "ledger",
    "meta",
    "metadata",
    "tasks",
    "web_sessions",
    "webhook_attempts",
    "webhook_deliveries",
    "workers",
]
