"""A real chromium (Debian's, at /usr/bin/chromium) driven by Playwright, over a live server.

Browser tests are part of the suite: with ``CI`` set they fail when chromium is missing (`.ci/run`
installs it); on a developer machine without chromium they are skipped, saying why.
Screenshots go to ``artifacts/screenshots/`` (ignored by git) for people to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from tests.support.browser import Site
from tests.support.live import LiveServer

from opendance.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# Per module, not per session: Playwright's sync API marks its event loop as running in this
# thread until it stops, and the asyncio tests that run after the browser modules need none.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if _in_ci():
            pytest.fail(f"{CHROMIUM} is missing; CI installs it (apt-get install chromium)")
        pytest.skip(f"browser tests need {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def site(browser: Browser, settings: Settings) -> Iterator[Site]:
    yield from _site(browser, LiveServer(settings))


@pytest.fixture
def queue_site(browser: Browser, settings: Settings) -> Iterator[Site]:
    """The site with no worker: a task stays queued until it is cancelled."""
    yield from _site(browser, LiveServer(settings, with_worker=False))


def _site(browser: Browser, server: LiveServer) -> Iterator[Site]:
    server.start()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the revoke, rotate, cancel confirmations
    try:
        yield Site(server=server, page=page)
    finally:
        context.close()
        server.stop()
