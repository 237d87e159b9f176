"""The URLs of a status poll: S3 presigned (cached) vs the local store's signed URL, in one run.

    python bench/bench_storage_urls.py [--polls 200000]

Every ``GET /v1/status`` of a finished task asks the store for two URLs (video and poster).
(a) S3 store, URLs cached (the steady state: a URL is reused until half its lifetime is gone).
(b) baseline: the local store (HMAC-signed ``/files`` URLs, cached as well).
(c) info: S3 presigning without the cache (botocore, per URL): what a cache miss costs.

No S3 server is needed: presigning is computation only. Target: (a) at most 5 microseconds per
poll, so that the API's status throughput does not depend on the store.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from opendance.settings import Settings
from opendance.storage.factory import open_store
from opendance.storage.local import LocalObjectStore
from opendance.storage.s3 import S3ObjectStore

TARGET_MICROSECONDS_PER_POLL = 5.0
KEYS = ("videos/task_benchmark-1.mp4", "posters/task_benchmark-1.jpg")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--polls", type=int, default=200_000)
    parser.add_argument("--misses", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        s3 = asyncio.run(_s3_store(Path(tmp)))
    local = LocalObjectStore(Path("/nonexistent"), public_base_url="http://x:8000", secret=b"k")
    s3_times, local_times = [], []
    for _ in range(args.rounds):  # alternating, medians: the machine may be shared
        s3_times.append(_per_poll(s3, args.polls))
        local_times.append(_per_poll(local, args.polls))
    s3_us, local_us = statistics.median(s3_times), statistics.median(local_times)
    miss_us = _presign_cost(s3, args.misses)
    print(f"(a) S3, cached URLs:    {s3_us:6.2f} us per poll (two URLs)")
    print(f"(b) local store:        {local_us:6.2f} us per poll (baseline)")
    print(f"    ratio a/b:          {s3_us / local_us:6.2f}")
    print(f"(c) S3, presign a URL:  {miss_us:6.0f} us (a cache miss, once per URL lifetime / 2)")
    ok = s3_us <= TARGET_MICROSECONDS_PER_POLL
    print(f"target (a) <= {TARGET_MICROSECONDS_PER_POLL:g} us: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


async def _s3_store(data_dir: Path) -> S3ObjectStore:
    settings = Settings(
        data_dir=data_dir,
        storage_url="s3://opendance-bench/media",
        s3_region="eu-west-1",
        s3_access_key_id="AKIAEXAMPLEBENCH",
        s3_secret_access_key="example-bench-secret",  # noqa: S106 - presigning offline only
    )
    store = await open_store(settings, secret=b"unused")
    assert isinstance(store, S3ObjectStore)
    return store


def _per_poll(store: S3ObjectStore | LocalObjectStore, polls: int) -> float:
    for key in KEYS:
        store.public_url(key)  # warm: the steady state of a polled, finished task
    started = time.perf_counter()
    for _ in range(polls):
        for key in KEYS:
            store.public_url(key)
    return (time.perf_counter() - started) / polls * 1e6


def _presign_cost(store: S3ObjectStore, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        store.public_url(f"videos/task_miss-{i}.mp4")
    return (time.perf_counter() - started) / count * 1e6


if __name__ == "__main__":
    sys.exit(main())
