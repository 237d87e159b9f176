"""Alembic environment. Migrations run on a connection handed in by ``opendance.db.migrate``
(``config.attributes["connection"]``), so they share the service's engine and driver."""

from __future__ import annotations

from alembic import context

from opendance.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with 'opendance migrate' (opendance.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
