"""The request body limit: declared and streamed bodies, in the contract's error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, Request

from tickertape.transport.http_errors import install_error_handlers
from tickertape.transport.http_limits import BodySizeLimit

LIMIT = 1024


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/json")
    async def echo_json(payload: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(payload)}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
        return {"bytes": total}

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(BodySizeLimit, max_body_bytes=LIMIT)
    return app


def _http() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t")


async def _chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert response.json()["error"]["message"]


async def test_bodies_within_the_limit_pass() -> None:
    async with _http() as http:
        assert (await http.post("/json", json={"a": "b" * 100})).json() == {"keys": 1}
        assert (await http.post("/raw", content=_chunks(LIMIT))).json() == {"bytes": LIMIT}
        assert (await http.get("/")).status_code == 200


async def test_declared_length_over_the_limit_is_refused_unread() -> None:
    async with _http() as http:
        _assert_too_large(await http.post("/json", json={"a": "b" * LIMIT}))


async def test_streamed_body_over_the_limit_is_refused() -> None:
    async with _http() as http:
        # No Content-Length: the limit is enforced as the chunks arrive.
        _assert_too_large(await http.post("/raw", content=_chunks(LIMIT + 1)))
        _assert_too_large(await http.post("/json", content=_chunks(4 * LIMIT)))
