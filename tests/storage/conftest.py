"""The object store suites: a moto S3 server on loopback for every test that asks for it, and
an application context on either store."""

from collections.abc import AsyncIterator

import pytest

from opendance.bootstrap import open_context
from opendance.services.context import AppContext
from opendance.settings import Settings
from opendance.storage.base import ObjectStore
from tests.support.s3 import S3Server, s3_bucket, s3_server  # noqa: F401 - fixtures of this directory


@pytest.fixture(params=["local", "s3"])
async def ctx(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[AppContext]:
    """The service on the local store, then on a fresh bucket (under a prefix)."""
    if request.param == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        settings = settings.model_copy(update=s3.settings_for(s3.create_bucket(), "od"))
    context = await open_context(settings)
    yield context
    await context.close()


async def stored_keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return sorted([found.key async for page in store.list_objects(prefix) for found in page])
