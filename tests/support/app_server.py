"""The real app (real chat service, real SQLite store, real auth) served by uvicorn in the
test's own event loop, with the engine of the test's choice: for tests about the transport
and the chat service, where a scripted engine makes the replies deterministic."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from tickertape.app import create_app
from tickertape.auth.authenticator import hash_token
from tickertape.engine.types import Engine
from tickertape.serve import prepare_database
from tickertape.settings import Settings
from tickertape.store.sql_store import SqlStore
from tickertape.store.types import UserRecord


@dataclass
class AppServer:
    url: str
    settings: Settings
    users: dict[str, tuple[UserRecord, str]]  # name -> (record, API token)
    app: FastAPI | None = None  # the served app (its services, in the test's own loop)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def token(self, name: str) -> str:
        return self.users[name][1]


@asynccontextmanager
async def serve_app(
    tmp_path: Path,
    engine_factory: Callable[[Settings], Engine],
    users: tuple[str, ...] = ("alice",),
    admins: tuple[str, ...] = (),
    **settings: object,
) -> AsyncIterator[AppServer]:
    """Migrate a fresh SQLite file, create `users` and `admins` (with one API token each,
    `tt_<name>...`), and serve the app on a listening loopback socket until the block ends."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'tickertape.db'}"
    config = Settings(**{"database_url": database_url, "auth": "token", **settings})  # type: ignore[arg-type]
    await prepare_database(config, migrate=True)
    accounts: dict[str, tuple[UserRecord, str]] = {}
    store = SqlStore.from_url(database_url)
    await store.start()
    try:
        for name, role in [(n, "user") for n in users] + [(n, "admin") for n in admins]:
            account = await store.create_user(name, role)  # type: ignore[arg-type]
            token = f"tt_{name}_{'x' * 24}"
            await store.add_api_token(account.record.id, hash_token(token), "test")
            accounts[name] = (account.record, token)
    finally:
        await store.close()
    # A socket already listening: clients may connect before uvicorn accepts, no waiting.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    app = create_app(config, engine_factory=engine_factory)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=5,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        await _started(url, task)
        yield AppServer(url, config, accounts, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


async def _started(url: str, serving: asyncio.Task[None]) -> None:
    """Return once the app answers (the listening socket holds the request until the
    lifespan is done); raise what start-up raised if it fails first."""
    async with httpx.AsyncClient(timeout=60) as client:
        probe = asyncio.create_task(client.get(f"{url}/healthz"))
        await asyncio.wait([probe, serving], return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            probe.cancel()
            serving.result()
            raise RuntimeError("the server stopped during start-up")
        (await probe).raise_for_status()
