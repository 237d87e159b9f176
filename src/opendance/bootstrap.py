"""Wiring at start-up: the database, the object store and the engine's fallback offer, put
together into the ``AppContext`` every use case receives."""

from __future__ import annotations

import secrets

from opendance.db.database import Database
from opendance.db.hotreads import hot_reads_for
from opendance.db.meta import shared_value
from opendance.db.migrate import migrate
from opendance.engines.registry import capabilities_for
from opendance.net.addresses import AddressPolicy
from opendance.net.resolver import Resolver, SystemResolver
from opendance.services.capacity import FleetCapabilities
from opendance.services.context import AppContext
from opendance.settings import Settings
from opendance.storage.factory import open_store

SIGNING_SECRET_KEY = "url_signing_secret"  # noqa: S105 - a row name, not a secret


async def open_context(
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    policy: AddressPolicy | None = None,
    run_migrations: bool = True,
) -> AppContext:
    """Open the database (migrating it to the newest schema) and the object store."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    if run_migrations:
        await migrate(db)
    secret = await _signing_secret(db, settings)
    try:
        store = await open_store(settings, secret=secret)
    except BaseException:
        await db.dispose()
        raise
    if policy is None:
        policy = (
            AddressPolicy.allow_all_private(also_block=settings.extra_blocked)
            if settings.allow_private_urls
            else AddressPolicy.default(also_block=settings.extra_blocked)
        )
    return AppContext(
        settings=settings,
        db=db,
        store=store,
        policy=policy,
        resolver=resolver or SystemResolver(),
        fleet=FleetCapabilities(
            db, fallback=capabilities_for(settings), seen_within=settings.worker_seen_seconds
        ),
        reads=hot_reads_for(db),
    )


async def _signing_secret(db: Database, settings: Settings) -> bytes:
    """The operator's secret, or one generated on first start and shared through the database
    so that every API process signs and verifies the same URLs."""
    if settings.secret_key:
        return settings.secret_key.encode("utf-8")
    value = await shared_value(db, SIGNING_SECRET_KEY, lambda: secrets.token_urlsafe(32))
    return value.encode("utf-8")
