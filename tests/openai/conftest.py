"""The OpenAI router served by real uvicorn over a small deterministic Engine.

These tests are about the HTTP/SSE layer, so the engine is a script: the reply is the words
of REPLY, one TextEvent each, honoring max_tokens (words) and stop strings. The last user
message picks special behaviours (`forever`, `overload`, `ratelimit`, `toolong`, `fail`).
"""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request

from tickertape.engine.types import (
    ChatMessage,
    EngineOverloaded,
    EngineStats,
    FinishEvent,
    FinishReason,
    GenerationResult,
    Prompt,
    PromptTooLong,
    QueuedEvent,
    SamplingParams,
    StreamEvent,
    TextEvent,
    Timing,
    Usage,
)
from tickertape.settings import Settings
from tickertape.store.types import UserRecord
from tickertape.transport.openai_api import build_openai_router

MODEL = "test-model"
API_KEY = "test-key"
REPLY = "The quick brown fox jumps over the lazy dog"
USER = UserRecord(id="u-1", name="alice", role="user")


@dataclass
class ScriptStream:
    reply_id: str
    engine: ScriptEngine
    prompt: Prompt
    params: SamplingParams

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        content = self.prompt.messages[-1].content
        stopped = self.engine.stops[self.reply_id]
        yield QueuedEvent(0)
        if content == "ratelimit":
            yield self._finish(FinishReason.ERROR, 0, "rate_limited")
            return
        words = [(" " if i else "") + w for i, w in enumerate(REPLY.split())]
        if content == "forever":  # a few words, then nothing until a stop ends it
            words = [f" w{i}" for i in range(5)]
        text, sent, reason = "", 0, FinishReason.STOP
        for word in words:
            if stopped.is_set():
                reason = FinishReason.STOPPED
                break
            if sent == self.params.max_tokens:
                reason = FinishReason.LENGTH
                break
            if content == "fail" and sent == 2:
                yield self._finish(FinishReason.ERROR, sent, "internal")
                return
            candidate = text + word
            cut = min((candidate.find(s) for s in self.params.stop if s in candidate), default=-1)
            if cut >= 0:  # the stop string ends the reply and is not part of it
                if cut > len(text):
                    yield TextEvent(candidate[len(text) : cut])
                break
            text += word
            sent += 1
            yield TextEvent(word)
        if content == "forever" and reason is not FinishReason.STOPPED:
            await stopped.wait()
            reason = FinishReason.STOPPED
        yield self._finish(reason, sent)

    def _finish(self, reason: FinishReason, sent: int, code: str | None = None) -> FinishEvent:
        usage = Usage(self.prompt.prompt_tokens, sent)
        message = f"scripted {code}" if code else None
        return FinishEvent(GenerationResult(reason, usage, Timing(1.0, 2.0, 3.0), code, message))


@dataclass
class ScriptEngine:
    submitted: dict[str, tuple[str, SamplingParams, Prompt]] = field(default_factory=dict)
    submitted_event: asyncio.Event = field(default_factory=asyncio.Event)
    stops: defaultdict[str, asyncio.Event] = field(
        default_factory=lambda: defaultdict(asyncio.Event)
    )

    model_name: str = MODEL
    context_length: int = 2048
    alive: bool = True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def prepare(self, messages: list[ChatMessage], params: SamplingParams) -> Prompt:
        if messages[-1].content == "toolong":
            raise PromptTooLong("the prompt needs 5000 tokens; the context is 2048")
        tokens = sum(len(m.content.split()) + 3 for m in messages)
        return Prompt(tuple(messages), None, tokens)

    def submit(
        self, reply_id: str, user_id: str, prompt: Prompt, params: SamplingParams
    ) -> ScriptStream:
        if prompt.messages[-1].content == "overload":
            raise EngineOverloaded("the queue is full", retry_after_ms=1500)
        self.submitted[reply_id] = (user_id, params, prompt)
        self.submitted_event.set()
        return ScriptStream(reply_id, self, prompt, params)

    def stop(self, reply_id: str) -> None:
        self.stops[reply_id].set()

    def stats(self) -> EngineStats:
        return EngineStats()


class KeyAuth:
    async def authenticate_http(self, request: Request) -> UserRecord | None:
        header = request.headers.get("authorization", "")
        return USER if header == f"Bearer {API_KEY}" else None


class RecordingChatService:
    def __init__(self) -> None:
        self.exchanges: list[tuple[Any, ...]] = []

    async def record_exchange(self, *args: Any) -> None:
        self.exchanges.append(args)


@dataclass
class Served:
    url: str
    engine: ScriptEngine
    chat_service: RecordingChatService


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    engine = ScriptEngine()
    app = FastAPI()
    app.include_router(build_openai_router())
    app.state.engine = engine
    app.state.settings = Settings(max_tokens=64, default_max_tokens=32)
    app.state.authenticator = KeyAuth()
    app.state.chat_service = RecordingChatService()
    # A socket already listening: clients may connect before uvicorn accepts, no waiting.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    port = sock.getsockname()[1]
    yield Served(f"http://127.0.0.1:{port}", engine, app.state.chat_service)
    server.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()
