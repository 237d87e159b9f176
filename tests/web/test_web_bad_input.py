"""Malformed input to the dashboard's pages and forms gets a 4xx page, never a server error."""

from __future__ import annotations

import pytest
from tests.support.live import LiveServer
from tests.support.web import add_user, browser, csrf_of, post_form, sign_in

from opendance.services import admin, dashboard_users

HUGE = str(10**25)  # far beyond the database's 64-bit integers
# digits that are not ASCII: str.isdigit takes all three for numbers, int() the last two
SQUARED = "\u00b2"  # superscript two
ARABIC_ONE = "\u0661"
FULLWIDTH_12 = "\uff11\uff12"


@pytest.mark.parametrize(
    "token", ["é", SQUARED * 64, FULLWIDTH_12 * 32], ids=["accent", "superscript", "fullwidth"]
)
def test_a_csrf_token_that_is_not_ascii_is_refused_like_any_wrong_one(
    api_only_server: LiveServer, token: str
) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        client.get("/dashboard/signin")
        fields = {"csrf_token": token, "identifier": "alice", "password": "x" * 10}
        answer = client.post("/dashboard/signin", data=fields)
        assert answer.status_code == 403 and "This form was refused" in answer.text
        sign_in(client, "alice")
        for action in ("/dashboard/keys", "/dashboard/signout", "/dashboard/webhooks/rotate"):
            answer = client.post(action, data={"csrf_token": token, "name": "k"})
            assert answer.status_code == 403 and "This form was refused" in answer.text, action
        assert client.get("/dashboard/keys").status_code == 200  # still signed in


@pytest.mark.parametrize("page", [SQUARED, ARABIC_ONE, "0", "-1", "abc", "1_0", " 2", "9" * 40])
def test_a_page_number_that_is_not_one_is_not_found(api_only_server: LiveServer, page: str) -> None:
    add_user(api_only_server, "alice")
    with browser(api_only_server) as client:
        sign_in(client, "alice")
        for listing in ("/dashboard/credits", "/dashboard/tasks"):
            answer = client.get(listing, params={"page": page})
            assert answer.status_code == 404 and "Not found" in answer.text, listing
        assert client.get("/dashboard/credits", params={"page": "1"}).status_code == 200


def test_the_operator_view_refuses_amounts_that_are_not_whole_numbers_or_too_large(
    api_only_server: LiveServer,
) -> None:
    add_user(api_only_server, "root", admin=True)
    add_user(api_only_server, "alice", credits=10)
    page, action = "/dashboard/admin", "/dashboard/admin/grant"
    with browser(api_only_server) as client:
        sign_in(client, "root")
        for credits in (SQUARED, FULLWIDTH_12, "1_000", "-5", HUGE, str(10**15 + 1)):
            made = post_form(client, page, "/dashboard/admin/users", name="carol", credits=credits)
            assert made.status_code == 400, (credits, made.status_code)
            assert "Credits must be a whole number" in made.text
        for amount in (SQUARED, FULLWIDTH_12, "1_000", "", "1e3"):
            grant = post_form(client, page, action, account="alice", amount=amount)
            assert grant.status_code == 400, (amount, grant.status_code)
            assert "The amount must be a whole number" in grant.text
        for amount in (HUGE, "-" + HUGE, str(10**15 + 1)):
            grant = post_form(client, page, action, account="alice", amount=amount)
            assert grant.status_code == 400, (amount, grant.status_code)
            assert "The amount must be at most 1,000,000,000,000,000 credits" in grant.text
        token = csrf_of(client.get(page))
        for amount in (str(10**15), str(-(10**15))):  # the largest amount, either way
            grant = client.post(
                "/dashboard/admin/grant",
                data={"csrf_token": token, "account": "alice", "amount": amount},
            )
            assert grant.status_code == 200, (amount, grant.status_code)
    assert "carol" not in {user.name for user in api_only_server.call(dashboard_users.list_users)}
    assert api_only_server.call(lambda c: admin.credit_report(c, "alice")).account.balance == 10
