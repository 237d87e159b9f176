"""Everything a use case needs, built once at start-up (``opendance.bootstrap``) and passed in."""

from __future__ import annotations

from dataclasses import dataclass

from opendance.db.database import Database
from opendance.db.hotreads import HotReads
from opendance.net.addresses import AddressPolicy
from opendance.net.resolver import Resolver
from opendance.services.capacity import FleetCapabilities
from opendance.settings import Settings
from opendance.storage.base import ObjectStore


@dataclass
class AppContext:
    settings: Settings
    db: Database
    store: ObjectStore
    policy: AddressPolicy
    resolver: Resolver
    fleet: FleetCapabilities  # what the workers can serve: the API accepts that
    reads: HotReads

    async def close(self) -> None:
        await self.reads.close()
        await self.db.dispose()
