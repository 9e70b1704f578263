"""The real app over the scripted engine (tests/support/script_engine.py), for tests of the
HTTP/SSE layer. Everything else is real: the chat service, its limits, the SQLite store,
token auth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.app_server import AppServer, serve_app
from tests.support.script_engine import ScriptEngine
from tickertape.settings import Settings


@dataclass
class Served:
    url: str
    engine: ScriptEngine
    app: AppServer

    @property
    def key(self) -> str:
        return self.app.token("alice")

    @property
    def user_id(self) -> str:
        return self.app.users["alice"][0].id


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    engine = ScriptEngine()

    def factory(settings: Settings) -> ScriptEngine:
        return engine

    async with serve_app(
        tmp_path, factory, users=("alice", "bob"), max_tokens=64, default_max_tokens=32
    ) as app:
        yield Served(app.url, engine, app)
