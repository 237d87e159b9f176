"""Invite links over real HTTP: a password chosen through one ends the account's sessions, and
only the newest link of an account works."""

from __future__ import annotations

import httpx
from tests.support.live import LiveServer
from tests.support.web import PASSWORD, add_user, browser, csrf_of, sign_in

from opendance.services import invites

NEW_PASSWORD = "a brand new password"
PROBE = {"task_id": "task_none"}


def _invite_path(server: LiveServer, name: str) -> str:
    invite = server.call(lambda c: invites.create_invite(c, name))
    return invite.url.removeprefix(server.url)


def _accept(server: LiveServer, path: str, password: str = NEW_PASSWORD) -> httpx.Response:
    with browser(server) as newcomer:
        form = newcomer.get(path)
        fields = {"csrf_token": csrf_of(form), "password": password, "confirm": password}
        return newcomer.post(path, data=fields)


def _playground_secret(client: httpx.Client) -> str:
    page = client.get("/playground").text
    return page.split('id="session-key" value="')[1].split('"')[0]


def test_a_password_set_through_an_invite_ends_every_session_and_its_playground_key(
    api_only_server: LiveServer,
) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as old, browser(api_only_server) as other:
        sign_in(old, "alice")
        sign_in(other, "alice")
        secret = _playground_secret(old)
        with api_only_server.client(secret) as api:
            assert api.get("/v1/status", params=PROBE).status_code == 404  # the key works

            accepted = _accept(api_only_server, _invite_path(api_only_server, "alice"))
            assert accepted.status_code == 303

            answer = api.get("/v1/status", params=PROBE)
            assert answer.status_code == 401 and answer.json()["error"] == "INVALID_API_KEY"
        for client in (old, other):
            assert client.get("/dashboard/keys").status_code == 303  # to the sign-in page
    with browser(api_only_server) as fresh:
        assert sign_in(fresh, "alice", PASSWORD).status_code == 401
        assert sign_in(fresh, "alice", NEW_PASSWORD).status_code == 303


def test_a_new_invite_cancels_the_older_links_of_the_account(api_only_server: LiveServer) -> None:
    add_user(api_only_server, "bob")
    older = _invite_path(api_only_server, "bob")
    with browser(api_only_server) as holder:
        form = holder.get(older)  # opened before the operator sent a new link
        assert form.status_code == 200
        newer = _invite_path(api_only_server, "bob")
        assert holder.get(older).status_code == 404
        stale = "an old link's password"
        fields = {"csrf_token": csrf_of(form), "password": stale, "confirm": stale}
        refused = holder.post(older, data=fields)
        assert refused.status_code == 400 and "used already or has expired" in refused.text
    assert _accept(api_only_server, newer).status_code == 303
    with browser(api_only_server) as client:
        assert sign_in(client, "bob", stale).status_code == 401
        assert sign_in(client, "bob", NEW_PASSWORD).status_code == 303
