"""The soak's clients: several accounts, two API keys each, one async httpx client per key,
all submitting at once and spreading their requests over the API replicas."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from opendance.services import admin
from opendance.services.context import AppContext

ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21")
PRICE = 8  # 480p, 4 s, no audio


@dataclass(frozen=True)
class Client:
    account: str
    key: str


@dataclass(frozen=True)
class Submitted:
    task_id: str
    client: Client
    body: dict[str, Any]
    replica: str


async def make_clients(
    ctx: AppContext, *, accounts: int, keys_per_account: int, credits: int
) -> list[Client]:
    clients = []
    for number in range(accounts):
        name = f"soak-{number}"
        await admin.create_account(ctx, name, credits)
        for _ in range(keys_per_account):
            clients.append(Client(name, (await admin.create_key(ctx, name)).secret))
    return clients


def request_body(client_number: int, index: int) -> dict[str, Any]:
    # A fixed camera: the soak is about the queue, and a still camera renders about a third
    # cheaper than a moving one (the whole run is bound by the preview engine's CPU time).
    return {
        "prompt": f"soak client {client_number} task {index}",
        "aspect_ratio": ASPECT_RATIOS[(client_number + index) % len(ASPECT_RATIOS)],
        "resolution": "480p",
        "duration": 4 if index % 2 else "4",  # both spellings the contract allows
        "fixed_lens": True,
        "seed": client_number * 100_000 + index,
    }


async def submit_all(replicas: list[str], clients: list[Client], total: int) -> list[Submitted]:
    """``total`` tasks, split over the clients, each client sending its own one after another
    while the others do the same; request ``i`` of a client goes to replica ``i mod n``."""

    async def one_client(number: int, client: Client) -> list[Submitted]:
        count = total // len(clients) + (1 if number < total % len(clients) else 0)
        headers = {"Authorization": f"Bearer {client.key}"}
        done = []
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            for index in range(count):
                replica = replicas[(number + index) % len(replicas)]
                body = request_body(number, index)
                response = await http.post(f"{replica}/v1/generate", json=body)
                assert response.status_code == 200, response.text
                data = response.json()["data"]
                assert data["status"] == "IN_PROGRESS", data
                done.append(Submitted(data["task_id"], client, body, replica))
        return done

    batches = await asyncio.gather(*(one_client(n, c) for n, c in enumerate(clients)))
    return [submitted for batch in batches for submitted in batch]
