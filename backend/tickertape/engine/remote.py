"""The Engine protocol backed by an OpenAI-compatible server (vLLM, TGI, llama.cpp, tickertape).

Each submitted reply is one asyncio task streaming `POST {upstream}/v1/chat/completions`
into the reply's sink. No torch here: a socket-tier process with this engine holds no model.

Decisions (see docs/scaling.md):
- prompt_tokens is an estimate (about 4 characters a token plus a few per message, the
  usual rule of thumb for BPE vocabularies); the upstream's usage replaces it in the result.
- The context is the upstream's to enforce. When /v1/models reports it (vLLM's
  `max_model_len`) or it is configured, prepare() drops the oldest turns by the estimate;
  an upstream "context length" 400 still ends the reply with `too_long`.
- Failures before the first text: connect errors, timeouts and 502/503/504 are `overloaded`
  with retry_after_ms (a retry will likely succeed, nothing was shown yet); 429 is
  `rate_limited`; other 5xx are `internal`. Any failure after text has streamed (cut,
  timeout between chunks, non-JSON data) is `internal` with the text so far kept.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from tickertape.engine.prompt import turns_of
from tickertape.engine.remote_calls import IncompleteToolCall, UpstreamCalls
from tickertape.engine.remote_sse import (
    DEFAULT_RETRY_AFTER_MS,
    SSEDecoder,
    UpstreamAuthFailed,
    UpstreamProtocolError,
    chunk_pieces,
    error_for_status,
    parse_chunk,
    read_error_body,
    request_body,
)
from tickertape.engine.remote_stream import RemoteReply, ReplyClock
from tickertape.engine.types import (
    ChatMessage,
    EngineError,
    EngineOverloaded,
    EngineStats,
    EngineUnavailable,
    FinishReason,
    GenerationResult,
    Prompt,
    PromptTooLong,
    ReplySink,
    SamplingParams,
    Usage,
)

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4  # role markers and separators of a chat template
ASSUMED_CONTEXT = 131072  # reported when the upstream's context is unknown; it enforces it


def estimate_tokens(messages: tuple[ChatMessage, ...] | list[ChatMessage]) -> int:
    return sum(-(-len(m.content) // CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for m in messages) + 2


def _base_url(url: str) -> str:
    """Accept both `http://host:8000` and `http://host:8000/v1`."""
    return url.rstrip("/").removesuffix("/v1")


class RemoteEngine:
    def __init__(
        self,
        upstream_url: str,
        upstream_model: str | None,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        max_concurrency: int = 16,
        *,
        connect_timeout_s: float | None = None,
        max_waiting: int = 64,
        context_length: int | None = None,
    ) -> None:
        self._base = _base_url(upstream_url)
        self._model = upstream_model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # read bounds time-to-first-byte and every gap between chunks; the pool timeout
        # never bites because the semaphore keeps us under the connection limit.
        self._timeout = httpx.Timeout(
            timeout_s,
            connect=connect_timeout_s if connect_timeout_s is not None else min(timeout_s, 10.0),
        )
        self._max_concurrency = max_concurrency
        self._max_waiting = max_waiting
        self._context = context_length
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(max_concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = 0
        self._fatal: str | None = None
        self._counters = {"completed": 0.0, "errors": 0.0, "stopped": 0.0}

    @property
    def model_name(self) -> str:
        return self._model or ""

    @property
    def context_length(self) -> int:
        return self._context or ASSUMED_CONTEXT

    @property
    def alive(self) -> bool:
        return self._client is not None and self._fatal is None

    async def start(self) -> None:
        """Open the client and ask /v1/models for the model name (and maybe its context)."""
        limits = httpx.Limits(
            max_connections=self._max_concurrency + 2,
            max_keepalive_connections=self._max_concurrency,
        )
        client = httpx.AsyncClient(timeout=self._timeout, limits=limits, headers=self._headers)
        try:
            response = await client.get(f"{self._base}/v1/models")
        except httpx.HTTPError as exc:
            await client.aclose()
            raise EngineUnavailable(f"upstream {self._base} unreachable: {exc!r}") from exc
        if response.status_code != 200:
            await client.aclose()
            raise error_for_status(response.status_code, response.content, response.headers)
        self._discover(response.json())
        self._client = client
        log.info("remote engine ready: %s at %s", self._model, self._base)

    def _discover(self, body: Any) -> None:
        models = body.get("data") if isinstance(body, dict) else None
        entries = [m for m in models or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
        if self._model is None:
            if not entries:
                raise EngineUnavailable(f"upstream {self._base} lists no model in /v1/models")
            self._model = str(entries[0]["id"])
        for entry in entries:
            if entry["id"] == self._model and isinstance(entry.get("max_model_len"), int):
                self._context = self._context or int(entry["max_model_len"])

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            # Each task records STOPPED itself; _reap logs anything else, so wait() (which
            # never raises a task's exception) loses nothing.
            await asyncio.wait(tasks)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def prepare(self, messages: list[ChatMessage], params: SamplingParams) -> Prompt:
        kept = list(messages)
        dropped = 0
        if self._context is not None:
            # The room kept for the reply is the local engine's (engine/prompt.py): at most
            # half the context, so a large max_tokens does not refuse a short prompt (the
            # reply may then end `length` at the context).
            budget = self._context - max(1, min(params.max_tokens, self._context // 2))
            # Whole turns go, oldest first (a call without its result, or a result
            # without its call, is refused by the upstream); never the system prompt or
            # the latest turn.
            head = kept[:1] if kept and kept[0].role == "system" else []
            turns = turns_of(kept[len(head) :])
            while estimate_tokens(kept) > budget and len(turns) > 1:
                dropped += len(turns.pop(0))
                kept = head + [m for turn in turns for m in turn]
            if estimate_tokens(kept) > budget:
                raise PromptTooLong(
                    f"the message needs about {estimate_tokens(kept)} tokens; the upstream "
                    f"context is {self._context} with {params.max_tokens} for the reply"
                )
        return Prompt(tuple(kept), None, estimate_tokens(kept), dropped)

    def check_capacity(self) -> None:
        if not self.alive:
            raise EngineUnavailable(self._fatal or "remote engine not started", 1000)
        # Counted on tasks, not the semaphore: tasks created this tick have not queued on it yet.
        if len(self._tasks) >= self._max_concurrency + self._max_waiting:
            raise EngineOverloaded("too many replies waiting for the upstream", 1000)

    def submit(
        self,
        reply_id: str,
        user_id: str,
        prompt: Prompt,
        params: SamplingParams,
        sink: ReplySink,
    ) -> None:
        self.check_capacity()
        if reply_id in self._tasks:
            raise EngineError(f"reply {reply_id} is already running")
        out = RemoteReply(reply_id, sink)
        task = asyncio.create_task(self._run(out, prompt, params), name=f"remote-{reply_id}")
        self._tasks[reply_id] = task
        task.add_done_callback(lambda t: self._reap(t, out, prompt))

    def _reap(self, task: asyncio.Task[None], out: RemoteReply, prompt: Prompt) -> None:
        """Guarantee the one FinishEvent, even for a task cancelled before it ever ran."""
        self._tasks.pop(out.reply_id, None)
        if task.cancelled():
            self._end(out, prompt, [], ReplyClock(), FinishReason.STOPPED)
            return
        exc = task.exception()
        if exc is not None:
            log.error("remote reply %s crashed", out.reply_id, exc_info=exc)
            self._end(out, prompt, [], ReplyClock(), FinishReason.ERROR, EngineError(repr(exc)))

    def _waiting_count(self) -> int:
        # Every unfinished reply has a task; those without an upstream slot are waiting.
        return len(self._tasks) - self._running

    def stop(self, reply_id: str) -> None:
        task = self._tasks.get(reply_id)
        if task is not None:
            task.cancel()

    def stats(self) -> EngineStats:
        return EngineStats(
            waiting=self._waiting_count(),
            running=self._running,
            max_batch=self._max_concurrency,
            alive=self.alive,
            error=self._fatal,
            extra=dict(self._counters),
        )

    async def _run(self, out: RemoteReply, prompt: Prompt, params: SamplingParams) -> None:
        clock = ReplyClock()
        if self._slots.locked():
            out.queued(self._waiting_count() - 1)  # the semaphore admits in FIFO order
        usage: list[Usage] = []
        try:
            async with self._slots:
                clock.scheduled()
                self._running += 1
                try:
                    reason = await self._stream(out, prompt, params, usage, clock)
                finally:
                    self._running -= 1
        except asyncio.CancelledError:
            self._end(out, prompt, usage, clock, FinishReason.STOPPED)
            raise
        except EngineError as exc:
            if isinstance(exc, UpstreamAuthFailed):
                self._fatal = exc.message
            log.warning("reply %s failed upstream: %s", out.reply_id, exc.message)
            self._end(out, prompt, usage, clock, FinishReason.ERROR, exc)
        else:
            self._end(out, prompt, usage, clock, reason)

    async def _stream(
        self,
        out: RemoteReply,
        prompt: Prompt,
        params: SamplingParams,
        usage: list[Usage],
        clock: ReplyClock,
    ) -> FinishReason:
        assert self._client is not None  # submit() checked alive
        reason: FinishReason | None = None
        calls = UpstreamCalls()
        try:
            async with self._client.stream(
                "POST",
                f"{self._base}/v1/chat/completions",
                json=request_body(self._model or "", prompt, params),
            ) as response:
                if response.status_code != 200:
                    raise error_for_status(
                        response.status_code, await read_error_body(response), response.headers
                    )
                sse = SSEDecoder()
                async for line in response.aiter_lines():
                    payload = sse.feed(line)
                    if payload is None:
                        continue
                    if payload.strip() == "[DONE]":
                        break
                    chunk = parse_chunk(payload)
                    pieces = chunk_pieces(chunk)
                    if pieces:
                        clock.first_text()
                        out.push(pieces)
                    calls.add(chunk.calls)
                    reason = chunk.finish_reason or reason
                    if chunk.usage is not None:
                        usage.append(chunk.usage)
                # Leaving the block closes the response: on stop() (cancellation) that drops
                # the connection, which is how the upstream learns to free its slot.
        except httpx.TimeoutException as exc:
            raise self._transport_error(out, f"upstream timed out: {exc!r}") from exc
        except httpx.RequestError as exc:
            raise self._transport_error(out, f"upstream connection failed: {exc!r}") from exc
        if reason is None:
            raise UpstreamProtocolError("upstream stream ended without a finish_reason")
        if calls and reason in (FinishReason.STOP, FinishReason.TOOL_CALLS):
            out.push(calls.pieces())
            return FinishReason.TOOL_CALLS
        if reason is FinishReason.LENGTH and (calls or params.output.calls_forced):
            # Cut inside its calls (a forced call that had not shown yet is one too: the
            # upstream holds a call back until its name is whole): as the local engine
            # does, never a call to be used.
            raise IncompleteToolCall("the upstream's reply was cut inside a tool call")
        return FinishReason.STOP if reason is FinishReason.TOOL_CALLS else reason

    @staticmethod
    def _transport_error(out: RemoteReply, message: str) -> EngineError:
        if out.text_chunks:
            return UpstreamProtocolError(f"{message} (mid-reply)")
        return EngineUnavailable(message, DEFAULT_RETRY_AFTER_MS)

    def _end(
        self,
        out: RemoteReply,
        prompt: Prompt,
        usage: list[Usage],
        clock: ReplyClock,
        reason: FinishReason,
        error: EngineError | None = None,
    ) -> None:
        # Without an upstream usage chunk: the estimate, and one token per content chunk
        # (vLLM and llama.cpp send one chunk per token).
        final = usage[-1] if usage else Usage(prompt.prompt_tokens, out.text_chunks)
        result = GenerationResult(
            finish_reason=reason,
            usage=final,
            timing=clock.timing(),
            error_code=error.code if error else None,
            error_message=error.message if error else None,
            retry_after_ms=error.retry_after_ms if error else None,
        )
        if out.finish(result):
            key = {FinishReason.ERROR: "errors", FinishReason.STOPPED: "stopped"}.get(
                reason, "completed"
            )
            self._counters[key] += 1
