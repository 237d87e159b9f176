"""What browser tests share: a live server with users, a Playwright page, screenshots."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page

from opendance.services import dashboard_users
from tests.support.live import LiveServer

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"


@dataclass
class Site:
    """A live server with a signed-up user, and a fresh browser page."""

    server: LiveServer
    page: Page

    @property
    def url(self) -> str:
        return self.server.url

    def add_user(self, name: str, *, credits: int = 1000, admin: bool = False) -> str:
        """An account with a password (and an API key, returned)."""
        key = self.server.create_account(name, credits)
        self.server.call(lambda c: dashboard_users.set_password(c, name, PASSWORD))
        if admin:
            self.server.call(lambda c: dashboard_users.set_admin(c, name, True))
        return key

    def sign_in(self, name: str, password: str = PASSWORD) -> None:
        page = self.page
        page.goto(self.url + "/dashboard")
        page.get_by_label("Account name or e-mail").fill(name)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()

    def go(self, link: str) -> None:
        """Follow a link of the main navigation."""
        self.page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def media_duration(video: Locator, timeout: float = 30) -> float:
    """The duration of a <video> once its metadata has loaded. Polled from here: the pages'
    CSP (no 'unsafe-eval') rules out Playwright's wait_for_function."""
    deadline = time.monotonic() + timeout
    while video.evaluate("v => v.readyState") < 1:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the video did not load: {video.evaluate('v => v.error?.message')}")
        time.sleep(0.05)
    duration: float = video.evaluate("v => v.duration")
    return duration
