"""The real app over the scripted engine for the Responses API tests, and a raw SSE reader
(events as the server sent them, to compare renderings exactly)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import httpx
from openai.types.responses import Response, ResponsesServerEvent, ResponseStreamEvent
from pydantic import TypeAdapter

from openai import AsyncOpenAI
from tests.support.app_server import AppServer, serve_app
from tests.support.script_engine import ScriptEngine
from tickertape.services import Services
from tickertape.settings import Settings
from tickertape.transport.deps import services_of

REPLY = "The quick brown fox jumps over the lazy dog"


@dataclass
class Responses:
    app: AppServer
    engine: ScriptEngine

    @property
    def url(self) -> str:
        return self.app.url

    @property
    def services(self) -> Services:
        assert self.app.app is not None
        services = services_of(self.app.app)
        assert services is not None
        return services

    def client(self, user: str = "alice") -> AsyncOpenAI:
        return AsyncOpenAI(
            base_url=f"{self.url}/v1", api_key=self.app.token(user), max_retries=0, timeout=20
        )

    def http(self, user: str = "alice") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.app.token(user)}"},
            timeout=20,
        )

    def prompt(self, response_id: str) -> list[tuple[str, str]]:
        """What the engine was asked for a response: (role, content) pairs."""
        prompt = self.engine.submitted[response_id.removeprefix("resp_")][2]
        return [(m.role, m.content) for m in prompt.messages]

    async def forgotten(self, response_id: str) -> None:
        """Wait for the hub to drop a finished reply (retention 0: on the next loop turns)."""
        hub = self.services.chat.hub
        while hub.get(response_id.removeprefix("resp_")) is not None:
            await asyncio.sleep(0)  # a turn of the loop, not a wait for time


@asynccontextmanager
async def responses_app(tmp_path: Path, **settings: Any) -> AsyncIterator[Responses]:
    engine = ScriptEngine()

    def factory(_settings: Settings) -> ScriptEngine:
        return engine

    limits: dict[str, Any] = {"max_tokens": 64, "default_max_tokens": 32, **settings}
    async with serve_app(tmp_path, factory, users=("alice", "bob"), **limits) as app:
        yield Responses(app, engine)


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Each `data:` of an SSE response as JSON; checks `event:` names the same type."""
    kind: str | None = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            event: dict[str, Any] = json.loads(line.removeprefix("data: "))
            assert event["type"] == kind, (kind, event)
            yield event


async def read_stream(
    http: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> list[dict[str, Any]]:
    async with http.stream(method, url, **kwargs) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [event async for event in sse_events(response)]


# Every Responses stream event class of the official client, by its `type`.
EVENT_CLASSES: dict[str, type[Any]] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in get_args(get_args(ResponseStreamEvent)[0])
}
# The same events as the WebSocket mode's models (subclasses that add `stream_id`).
WS_EVENT_CLASSES: dict[str, type[Any]] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in get_args(get_args(ResponsesServerEvent)[0])
}
_STRICT_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
_STRICT_RESPONSE: TypeAdapter[Any] = TypeAdapter(Response)


def strictly_typed(event: dict[str, Any]) -> None:
    """A raw event validates (strictly, every required field) as the official client's
    model of its type: no fallback, nothing missing."""
    extra = {k: v for k, v in event.items() if k != "stream_id"}  # our lane extension
    parsed = _STRICT_EVENT.validate_python(extra)
    assert type(parsed) is EVENT_CLASSES[event["type"]], event["type"]


def strictly_a_response(body: dict[str, Any]) -> None:
    _STRICT_RESPONSE.validate_python(body)


def typed(event: Any) -> None:
    """An event the official client parsed is its type's model, not a fallback."""
    models = {EVENT_CLASSES[event.type], WS_EVENT_CLASSES.get(event.type)}
    assert type(event) in models, (event.type, type(event))
