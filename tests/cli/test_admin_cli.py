"""The admin CLI against a fresh data directory, as an operator runs it."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import cli, cli_json


def test_accounts_keys_and_credits_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "fresh"  # does not exist yet: the CLI creates the database
    account = cli_json(data, "accounts", "create", "acme", "--credits", "50")
    assert account["name"] == "acme" and account["balance"] == 50

    key = cli_json(data, "keys", "create", "acme", "--name", "ci")
    assert key["key"].startswith("od_") and key["account"] == "acme"
    listed = cli_json(data, "keys", "list", "acme")
    assert [k["id"] for k in listed] == [key["id"]]
    assert key["key"] not in cli(data, "keys", "list", "acme").stdout
    assert listed[0]["last4"] == key["key"][-4:]

    granted = cli_json(data, "credits", "grant", "acme", "25", "--note", "top-up")
    assert granted["balance"] == 75
    shown = cli_json(data, "credits", "show", "acme")
    assert shown["balance"] == 75
    assert [(e["kind"], e["amount"]) for e in shown["ledger"]] == [("grant", 25), ("grant", 50)]

    revoked = cli_json(data, "keys", "revoke", key["id"])
    assert revoked["revoked_at"] is not None
    assert cli_json(data, "accounts", "list")[0]["name"] == "acme"
    assert cli_json(data, "migrate")["revision"]


def test_cli_errors_are_clear_and_exit_non_zero(tmp_path: Path) -> None:
    data = tmp_path / "d"
    cli(data, "accounts", "create", "dup")
    duplicate = cli(data, "accounts", "create", "dup", check=False)
    assert duplicate.returncode == 1 and "exists already" in duplicate.stderr
    unknown = cli(data, "keys", "create", "nobody", check=False)
    assert unknown.returncode == 1 and "no account named 'nobody'" in unknown.stderr
    overdraw = cli(data, "credits", "grant", "dup", "--", "-5", check=False)
    assert overdraw.returncode == 1 and "balance" in overdraw.stderr
    missing_key = cli(data, "keys", "revoke", "key_nope", check=False)
    assert missing_key.returncode == 1 and "no API key" in missing_key.stderr
    huge = str(10**25)  # beyond the database's 64-bit integers
    for args in (("credits", "grant", "dup", huge), ("accounts", "create", "x", "--credits", huge)):
        too_much = cli(data, *args, check=False)
        assert too_much.returncode == 1 and "1,000,000,000,000,000" in too_much.stderr, args
        assert "Traceback" not in too_much.stderr


def test_webhook_secret_is_created_once_and_rotates_with_overlap(tmp_path: Path) -> None:
    from datetime import timedelta

    from standardwebhooks import Webhook

    from opendance.domain.webhook_signing import signed_headers
    from opendance.services.webhook_secrets import AccountSecrets

    data = tmp_path / "d"
    cli(data, "accounts", "create", "hooked")
    first = cli_json(data, "webhooks", "secret", "hooked")
    assert first["secret"].startswith("whsec_")
    assert cli_json(data, "webhooks", "secret", "hooked")["secret"] == first["secret"]
    rotated = cli_json(data, "webhooks", "secret", "hooked", "--rotate")
    assert rotated["secret"] != first["secret"]
    assert rotated["previous_secret"] == first["secret"]
    assert cli(data, "webhooks", "secret", "hooked").stdout.strip() == rotated["secret"]

    from datetime import UTC, datetime

    now = datetime.now(UTC)
    secrets = AccountSecrets(rotated["secret"], first["secret"], now)
    headers = signed_headers(secrets.in_force(now), "msg_x", int(now.timestamp()), b"{}")
    assert Webhook(first["secret"]).verify(b"{}", headers) == {}
    assert Webhook(rotated["secret"]).verify(b"{}", headers) == {}
    assert secrets.in_force(now + timedelta(hours=25)) == [rotated["secret"]]


def test_the_admin_lists_are_tables(tmp_path: Path) -> None:
    data = tmp_path / "lists"
    assert cli(data, "accounts", "list").stdout.strip() == "(none)"
    account = cli_json(data, "accounts", "create", "acme", "--credits", "50")
    key = cli_json(data, "keys", "create", "acme", "--name", "ci")
    cli(data, "credits", "grant", "acme", "--note", "refund", "--", "-5")

    def rows(*args: str) -> list[list[str]]:
        return [line.split() for line in cli(data, *args).stdout.splitlines()]

    assert rows("accounts", "list") == [["NAME", "BALANCE", "ID"], ["acme", "45", account["id"]]]
    header, row = rows("keys", "list", "acme")
    assert header == ["ID", "KEY", "STATE", "NAME"]
    assert row[0] == key["id"] and row[1].endswith(key["key"][-4:]) and row[2:] == ["active", "ci"]
    balance, header, *ledger = rows("credits", "show", "acme")
    assert balance == ["acme:", "balance", "45"]
    assert header == ["WHEN", "(UTC)", "KIND", "CREDITS", "TASK", "OR", "NOTE"]
    assert [entry[2:5] for entry in ledger] == [
        ["debit", "-5", "refund"],
        ["grant", "+50", "initial"],
    ]
    assert cli(data, "webhooks", "deliveries").stdout.strip() == "(no deliveries)"
