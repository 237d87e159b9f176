"""Signing in to the dashboard over plain HTTP, as a browser does (cookies, CSRF tokens)."""

from __future__ import annotations

import re

import httpx

from opendance.services import dashboard_users
from tests.support.live import LiveServer

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(server: LiveServer, name: str, *, credits: int = 1000, admin: bool = False) -> str:
    """An account with a dashboard password; returns an API key of it."""
    key = server.create_account(name, credits)
    server.call(lambda c: dashboard_users.set_password(c, name, PASSWORD))
    if admin:
        server.call(lambda c: dashboard_users.set_admin(c, name, True))
    return key


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def browser(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


def sign_in(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(client.get("/dashboard/signin"))
    return client.post(
        "/dashboard/signin",
        data={"csrf_token": token, "identifier": name, "password": password},
    )


def post_form(client: httpx.Client, page: str, action: str, **fields: str) -> httpx.Response:
    """Submit a form of ``page`` (its CSRF token included) to ``action``."""
    token = csrf_of(client.get(page))
    return client.post(action, data={"csrf_token": token, **fields})
