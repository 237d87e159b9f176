"""The groups of ``opendance --help``: the API's clients, running a server, administering one."""

from __future__ import annotations

from typing import Final

CLIENT: Final = "Client: talk to a server over HTTP"
SERVER: Final = "Server: run and maintain one"
ADMIN: Final = "Admin: accounts, keys, credits, webhooks"
