"""The baseline of bench_api.py: a bare FastAPI endpoint returning a fixed status body, served
by uvicorn exactly as `opendance serve` serves the real one (one process, same loop/parser)."""

from __future__ import annotations

import os
import sys

import uvicorn
from fastapi import FastAPI
from starlette.responses import Response

BODY = os.environ["BARE_BODY"].encode()
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/v1/status")
async def status() -> Response:
    return Response(BODY, media_type="application/json")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b"{}", media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        server_header=False,
    )
