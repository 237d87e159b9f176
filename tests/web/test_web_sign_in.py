"""Sign-in, sessions, CSRF and the sign-in rate limit over real HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from tests.conftest import make_settings
from tests.support.live import LiveServer
from tests.support.web import add_user, browser, csrf_of, post_form, sign_in

from opendance.db.accounts import ApiKeyRecord
from opendance.services import admin


def test_sign_in_sets_an_httponly_samesite_session_and_opens_the_dashboard(
    api_only_server: LiveServer,
) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        answer = sign_in(client, "alice")
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/keys"
        cookie = answer.headers["set-cookie"]
        assert "od_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        keys = client.get("/dashboard/keys")
        assert keys.status_code == 200 and "alice" in keys.text
        assert keys.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in keys.headers["content-security-policy"]


def test_sign_in_by_email_in_any_case(api_only_server: LiveServer) -> None:
    from opendance.services import dashboard_users

    add_user(api_only_server, "bob")
    api_only_server.call(lambda c: dashboard_users.set_email(c, "bob", "Bob@Example.com"))
    with browser(api_only_server) as client:
        assert sign_in(client, "BOB@example.COM").status_code == 303


def test_wrong_password_and_unknown_name_get_the_same_answer(api_only_server: LiveServer) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        wrong = sign_in(client, "alice", "not the password")
        unknown = sign_in(client, "nobody", "not the password")
        for answer in (wrong, unknown):
            assert answer.status_code == 401
            assert "do not match an account" in answer.text
            assert "od_session" not in answer.headers.get("set-cookie", "")
        assert client.get("/dashboard/keys").status_code == 303


def test_pages_need_a_session_and_come_back_after_sign_in(api_only_server: LiveServer) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        away = client.get("/dashboard/credits?page=2")
        assert away.status_code == 303
        assert (
            away.headers["location"] == "/dashboard/signin?next=%2Fdashboard%2Fcredits%3Fpage%3D2"
        )
        form = client.get(away.headers["location"])
        answer = client.post(
            "/dashboard/signin",
            data={
                "csrf_token": csrf_of(form),
                "identifier": "alice",
                "password": "correct horse battery",
                "next": "/dashboard/credits?page=2",
            },
        )
        assert answer.headers["location"] == "/dashboard/credits?page=2"


def test_sign_in_never_redirects_to_another_site(api_only_server: LiveServer) -> None:
    add_user(api_only_server, "alice")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"):
        with browser(api_only_server) as client:
            token = csrf_of(client.get("/dashboard/signin"))
            answer = client.post(
                "/dashboard/signin",
                data={
                    "csrf_token": token,
                    "identifier": "alice",
                    "password": "correct horse battery",
                    "next": target,
                },
            )
            assert answer.headers["location"] == "/dashboard/keys", target


def test_forms_without_a_valid_csrf_token_are_refused(api_only_server: LiveServer) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        client.get("/dashboard/signin")
        fields = {"identifier": "alice", "password": "correct horse battery"}
        assert client.post("/dashboard/signin", data=fields).status_code == 403
        forged = {**fields, "csrf_token": "0" * 64}
        assert client.post("/dashboard/signin", data=forged).status_code == 403
        sign_in(client, "alice")
        # a token of another browser's session does not fit this one
        with browser(api_only_server) as other:
            sign_in(other, "alice")
            foreign = csrf_of(other.get("/dashboard/keys"))
        answer = client.post("/dashboard/keys", data={"csrf_token": foreign, "name": "x"})
        assert answer.status_code == 403 and "refused" in answer.text
        assert "x" not in [k.name for k in _keys(api_only_server, "alice")]


def test_a_post_from_another_origin_is_refused_even_with_a_token(
    api_only_server: LiveServer,
) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        token = csrf_of(client.get("/dashboard/keys"))
        answer = client.post(
            "/dashboard/keys",
            data={"csrf_token": token, "name": "cross"},
            headers={"Origin": "https://evil.example"},
        )
        assert answer.status_code == 403
        same = client.post(
            "/dashboard/keys",
            data={"csrf_token": token, "name": "same"},
            headers={"Origin": api_only_server.url},
        )
        assert same.status_code == 200 and "Your new key" in same.text


def test_sign_out_ends_the_session_and_revokes_its_playground_key(
    api_only_server: LiveServer,
) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        playground = client.get("/playground").text
        secret = playground.split('id="session-key" value="')[1].split('"')[0]
        probe = {"task_id": "task_none"}
        api = httpx.Client(
            base_url=api_only_server.url, headers={"Authorization": f"Bearer {secret}"}
        )
        with api:
            assert api.get("/v1/status", params=probe).status_code == 404  # the key works
            cookie = client.cookies["od_session"]
            out = post_form(client, "/dashboard/keys", "/dashboard/signout")
            assert out.status_code == 303 and out.headers["location"] == "/dashboard/signin"
            assert api.get("/v1/status", params=probe).status_code == 401
        with browser(api_only_server) as replay:
            replay.cookies.set("od_session", cookie)
            assert replay.get("/dashboard/keys").status_code == 303


def test_a_playground_key_stops_working_when_its_session_expires(tmp_path: Path) -> None:
    session_seconds = 5
    settings = make_settings(tmp_path, session_hours=session_seconds / 3600)
    server = LiveServer(settings, with_worker=False).start()
    try:
        add_user(server, "alice")
        with browser(server) as client:
            sign_in(client, "alice")
            secret = _playground_secret(client)
            # the session began before this moment: from here on its end is certainly known
            signed_in = time.monotonic()
            probe = {"task_id": "task_none"}
            body = {"prompt": "a lighthouse in fog", "resolution": "480p", "duration": 4}
            with server.client(secret) as api:
                assert api.get("/v1/status", params=probe).status_code == 404  # the key works
                time.sleep(max(0.0, signed_in + session_seconds + 0.5 - time.monotonic()))
                assert client.get("/dashboard/keys").status_code == 303  # the session ran out
                # no sign-in since: nothing has revoked the key, its session's end is enough
                for answer in (
                    api.get("/v1/status", params=probe),
                    api.post("/v1/generate", json=body),
                ):
                    assert answer.status_code == 401, answer.text
                    assert answer.json()["error"] == "INVALID_API_KEY"
    finally:
        server.stop()


def test_the_playground_key_is_the_same_on_every_load_of_a_session(
    api_only_server: LiveServer,
) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        first = client.get("/playground").text.split('id="session-key" value="')[1][:50]
        second = client.get("/playground").text.split('id="session-key" value="')[1][:50]
        assert first == second
    playground_keys = [
        k for k in _keys(api_only_server, "alice") if k.name and "Playground" in k.name
    ]
    assert len(playground_keys) == 1


def test_failed_sign_ins_are_limited_per_name(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, signin_attempts_per_15_minutes=3)
    server = LiveServer(settings, with_worker=False).start()
    try:
        add_user(server, "alice")
        with browser(server) as client:
            for _ in range(3):
                assert sign_in(client, "alice", "guess").status_code == 401
            limited = sign_in(client, "alice")  # even the right password, for now
            assert limited.status_code == 429
            assert int(limited.headers["retry-after"]) > 800
            assert "Too many failed sign-ins" in limited.text
            assert sign_in(client, "ALICE ", "guess").status_code == 429  # same name, spelled so
    finally:
        server.stop()


def test_a_browser_opening_the_root_is_sent_to_the_dashboard(api_only_server: LiveServer) -> None:
    with browser(api_only_server) as client:
        page = client.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/dashboard"
        assert client.get("/dashboard").headers["location"] == "/dashboard/signin"
        assert client.get("/").json()["data"]["service"] == "opendance"  # API clients: JSON


def test_static_assets_are_served_locally(api_only_server: LiveServer) -> None:
    with browser(api_only_server) as client:
        page = client.get("/dashboard/signin").text
        assert "http" not in page.split("<body")[0].replace('content="width', "")
        for asset in ("/static/app.css", "/static/app.js", "/static/playground.js"):
            assert client.get(asset).status_code == 200, asset


def _playground_secret(client: httpx.Client) -> str:
    return client.get("/playground").text.split('id="session-key" value="')[1].split('"')[0]


def _keys(server: LiveServer, account: str) -> list[ApiKeyRecord]:
    return server.call(lambda c: admin.list_keys(c, account))
