"""The account pages and the operator view over real HTTP: each user sees only their own."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from tests.conftest import make_settings
from tests.support.live import LiveServer, wait_for_status
from tests.support.web import PASSWORD, add_user, browser, csrf_of, post_form, sign_in

from opendance.services import admin


def _generate(server: LiveServer, key: str, **extra: object) -> str:
    with server.client(key) as api:
        body = {"prompt": "a lighthouse in fog", "resolution": "480p", "duration": 4, **extra}
        answer = api.post("/v1/generate", json=body)
        assert answer.status_code == 200, answer.text
        task_id: str = answer.json()["data"]["task_id"]
        return task_id


def test_keys_are_created_once_shown_listed_and_revoked_at_once(server: LiveServer) -> None:
    add_user(server, "alice")
    with browser(server) as client:
        sign_in(client, "alice")
        made = post_form(client, "/dashboard/keys", "/dashboard/keys", name="ci")
        secret = re.search(r'value="(od_[^"]+)" data-testid="new-key"', made.text)
        assert secret
        key = secret.group(1)
        page = client.get("/dashboard/keys").text
        assert key not in page and f"…{key[-4:]}" in page and "ci" in page
        [record] = [k for k in server.call(lambda c: admin.list_keys(c, "alice")) if k.name == "ci"]
        with server.client(key) as api:
            assert api.get("/v1/status", params={"task_id": "t"}).status_code == 404
            revoked = post_form(client, "/dashboard/keys", f"/dashboard/keys/{record.id}/revoke")
            assert revoked.status_code == 303
            assert api.get("/v1/status", params={"task_id": "t"}).status_code == 401


def test_another_accounts_key_cannot_be_revoked(api_only_server: LiveServer) -> None:
    add_user(api_only_server, "alice")
    bob_key = add_user(api_only_server, "bob")
    [bob_record] = api_only_server.call(lambda c: admin.list_keys(c, "bob"))
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        answer = post_form(client, "/dashboard/keys", f"/dashboard/keys/{bob_record.id}/revoke")
        assert answer.status_code == 404
    with api_only_server.client(bob_key) as api:
        assert api.get("/v1/status", params={"task_id": "t"}).status_code == 404  # still works


def test_tasks_list_filter_detail_and_another_users_task_is_404(server: LiveServer) -> None:
    alice_key = add_user(server, "alice")
    bob_key = add_user(server, "bob")
    mine = _generate(server, alice_key)
    theirs = _generate(server, bob_key)
    with server.client(alice_key) as api:
        wait_for_status(api, mine)
    with browser(server) as client:
        sign_in(client, "alice")
        listed = client.get("/dashboard/tasks").text
        assert mine in listed and theirs not in listed
        assert mine in client.get("/dashboard/tasks?status=SUCCESS").text
        assert mine not in client.get("/dashboard/tasks?status=FAILED").text
        detail = client.get(f"/dashboard/tasks/{mine}")
        assert detail.status_code == 200
        assert "<video" in detail.text and "a lighthouse in fog" in detail.text
        assert client.get(f"/dashboard/tasks/{theirs}").status_code == 404
        assert client.get("/dashboard/tasks/task_unknown").status_code == 404


def test_credits_show_balance_ledger_pages_and_prices(api_only_server: LiveServer) -> None:
    key = add_user(api_only_server, "alice", credits=1000)
    for _ in range(22):
        _generate(api_only_server, key)
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        first = client.get("/dashboard/credits").text
        assert 'data-testid="balance">824<' in first  # 1000 - 22 * 8
        assert "Page 1 of 2" in first and first.count(">-8<") == 20
        second = client.get("/dashboard/credits?page=2").text
        assert second.count(">-8<") == 2 and "initial credits" in second
        assert "<td>84</td>" in first  # 720p, 12 s with audio


def test_webhooks_secret_rotate_and_redeliver_only_own_deliveries(
    api_only_server: LiveServer,
) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        before = re.search(r'value="(whsec_[^"]+)"', client.get("/dashboard/webhooks").text)
        assert before
        rotated = post_form(client, "/dashboard/webhooks", "/dashboard/webhooks/rotate")
        assert rotated.status_code == 303
        after = client.get(rotated.headers["location"]).text
        assert before.group(1) not in after and "A new secret is in force" in after
        missing = post_form(client, "/dashboard/webhooks", "/dashboard/webhooks/msg_x/redeliver")
        assert missing.status_code == 404


def test_the_operator_view_is_for_admins_only(api_only_server: LiveServer) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        assert client.get("/dashboard/admin").status_code == 404
        assert "Operator" not in client.get("/dashboard/keys").text
        token = csrf_of(client.get("/dashboard/keys"))
        grant = client.post(
            "/dashboard/admin/grant",
            data={"csrf_token": token, "account": "alice", "amount": "1000"},
        )
        assert grant.status_code == 404
    assert api_only_server.call(lambda c: admin.credit_report(c, "alice")).account.balance == 1000


def test_an_admin_grants_credits_and_invites_a_new_user(api_only_server: LiveServer) -> None:
    add_user(api_only_server, "root", admin=True)
    add_user(api_only_server, "alice", credits=10)
    with browser(api_only_server) as client:
        sign_in(client, "root")
        page = "/dashboard/admin"
        granted = post_form(client, page, "/dashboard/admin/grant", account="alice", amount="90")
        assert "the balance is 100" in granted.text
        too_much = post_form(client, page, "/dashboard/admin/grant", account="alice", amount="-500")
        assert too_much.status_code == 400 and "Cannot take 500 credits" in too_much.text
        made = post_form(
            client,
            page,
            "/dashboard/admin/users",
            name="carol",
            email="carol@example.com",
            credits="25",
        )
        invite = re.search(r'value="(http[^"]+/dashboard/invite/[^"]+)"', made.text)
        assert invite
    link = invite.group(1).removeprefix(api_only_server.url)
    with browser(api_only_server) as newcomer:
        form = newcomer.get(link)
        assert form.status_code == 200 and "Welcome, carol" in form.text
        differ = newcomer.post(
            link, data={"csrf_token": csrf_of(form), "password": PASSWORD, "confirm": "other"}
        )
        assert differ.status_code == 400 and "differ" in differ.text
        done = newcomer.post(
            link, data={"csrf_token": csrf_of(form), "password": PASSWORD, "confirm": PASSWORD}
        )
        assert done.status_code == 303
        assert sign_in(newcomer, "carol@example.com").status_code == 303
        assert newcomer.get(link).status_code == 404  # an invite works once
        assert "25 credits" in newcomer.get("/dashboard/keys").text


def test_the_playground_works_signed_out_with_a_pasted_key(api_only_server: LiveServer) -> None:
    with httpx.Client(base_url=api_only_server.url) as client:
        page = client.get("/playground")
        assert page.status_code == 200
        assert 'id="session-key"' not in page.text and 'id="api-key"' in page.text
        assert '"480p|4|0": 8' in page.text


def test_deliveries_and_their_attempts_are_listed_and_redelivered(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, allow_private_urls=True, webhook_retry_schedule="1h")
    server = LiveServer(settings).start()
    try:
        key = add_user(server, "alice")
        add_user(server, "bob")
        task_id = _generate(server, key, callback_url="http://127.0.0.1:9/hook")
        with server.client(key) as api:
            wait_for_status(api, task_id)
            deliveries: list[dict[str, object]] = []
            for _ in range(100):
                deliveries = api.get("/v1/webhooks/deliveries").json()["data"]["deliveries"]
                if deliveries and deliveries[0]["attempts"]:
                    break
                time.sleep(0.05)
        delivery_id = str(deliveries[0]["id"])
        with browser(server) as client:
            sign_in(client, "bob")
            foreign = post_form(
                client, "/dashboard/webhooks", f"/dashboard/webhooks/{delivery_id}/redeliver"
            )
            assert foreign.status_code == 404
        with browser(server) as client:
            sign_in(client, "alice")
            page = client.get("/dashboard/webhooks").text
            assert delivery_id in page and "http://127.0.0.1:9/hook" in page
            again = post_form(
                client, "/dashboard/webhooks", f"/dashboard/webhooks/{delivery_id}/redeliver"
            )
            assert again.status_code == 303
            assert "is due again" in client.get(again.headers["location"]).text
    finally:
        server.stop()
