"""A real server (the real app, chat service, SQLite store and token auth, served by
uvicorn on loopback) over the scripted engine, with small limits to run into."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.app_server import AppServer, serve_app
from tests.support.script_engine import MODEL, ScriptEngine
from tickertape.settings import Settings

LIMITS: dict[str, Any] = {
    "max_concurrent_replies": 2,
    "messages_per_minute": 5,
    "max_connections_per_user": 3,
    "max_tokens": 64,
    "default_max_tokens": 32,
}


@dataclass
class Pipeline:
    app: AppServer
    engine: ScriptEngine

    def http(self, user: str = "alice") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.app.url,
            headers={"Authorization": f"Bearer {self.app.token(user)}"},
            timeout=20,
        )

    def completion(self, content: str, **fields: Any) -> dict[str, Any]:
        return {"model": MODEL, "messages": [{"role": "user", "content": content}], **fields}


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    engine = ScriptEngine()

    def factory(settings: Settings) -> ScriptEngine:
        return engine

    async with serve_app(tmp_path, factory, users=("alice", "bob"), **LIMITS) as app:
        yield Pipeline(app, engine)
