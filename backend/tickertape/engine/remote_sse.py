"""Wire details of an OpenAI-compatible upstream: SSE framing, chunks, and error mapping.

Kept apart from the engine so the parsing rules (what is skipped, what is fatal to a reply)
can be read and tested on their own.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tickertape.engine.types import (
    ChatMessage,
    EngineError,
    EngineUnavailable,
    FinishReason,
    OutputPiece,
    OutputRules,
    PieceKind,
    Prompt,
    PromptTooLong,
    SamplingParams,
    Usage,
)

# When a 429/503 carries no Retry-After we still owe the client a hint (the contract says
# rate_limited and overloaded always carry retry_after_ms).
DEFAULT_RETRY_AFTER_MS = 1000
MAX_ERROR_BODY_BYTES = 8192

# How vLLM, llama.cpp, TGI, OpenAI and tickertape word "the prompt does not fit".
_CONTEXT_WORDING = re.compile(
    r"context[ _-]?(length|size|window)|maximum context|max_model_len|too long"
    r"|exceed_context|must be <= \d+|prompt is too long|input is too long",
    re.IGNORECASE,
)


class UpstreamRateLimited(EngineError):
    code = "rate_limited"


class UpstreamBadRequest(EngineError):
    code = "bad_request"


class UpstreamAuthFailed(EngineError):
    """The upstream refused our credentials: no later request can succeed (fatal)."""


class UpstreamProtocolError(EngineError):
    """The upstream broke the streaming protocol (non-JSON data, stream cut mid-reply)."""


@dataclass(frozen=True, slots=True)
class CallDelta:
    """A piece of a streamed tool call: id, type and name on its first chunk."""

    index: int
    call_id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    finish_reason: FinishReason | None
    usage: Usage | None
    reasoning: str = ""
    calls: tuple[CallDelta, ...] = ()


def chunk_pieces(chunk: Chunk) -> tuple[OutputPiece, ...]:
    """A chunk's reasoning and answer text (its call deltas are held: remote_calls.py)."""
    pieces = []
    if chunk.reasoning:
        pieces.append(OutputPiece(PieceKind.REASONING, chunk.reasoning))
    if chunk.text:
        pieces.append(OutputPiece(PieceKind.TEXT, chunk.text))
    return tuple(pieces)


def _message(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def _output_fields(rules: OutputRules) -> dict[str, Any]:
    """Tools, tool choice, thinking and format, in the upstream's (OpenAI's) names."""
    body: dict[str, Any] = {}
    if rules.tools:
        body["tools"] = [t.template_json() for t in rules.tools]
        body["tool_choice"] = (
            {"type": "function", "function": {"name": rules.function_name}}
            if rules.tool_choice == "function"
            else rules.tool_choice
        )
        if not rules.parallel_tool_calls:
            body["parallel_tool_calls"] = False
    fmt = rules.response_format
    if fmt is not None:
        body["response_format"] = (
            {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": dict(fmt["schema"])},
            }
            if fmt.get("type") == "json_schema"
            else {"type": "json_object"}
        )
    if rules.enable_thinking is not None:
        body["chat_template_kwargs"] = {"enable_thinking": rules.enable_thinking}  # vLLM's
    return body


def request_body(model: str, prompt: Prompt, params: SamplingParams) -> dict[str, Any]:
    """A streaming chat-completions request; optional fields only when set."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message(m) for m in prompt.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": params.max_tokens,
        **_output_fields(params.output),
    }
    # Unset sampling fields stay unset: the upstream applies its model's defaults.
    optional: dict[str, float | None] = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "repetition_penalty": params.repetition_penalty,  # vLLM's and tickertape's extension
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if params.frequency_penalty:
        body["frequency_penalty"] = params.frequency_penalty
    if params.presence_penalty:
        body["presence_penalty"] = params.presence_penalty
    if params.stop:
        body["stop"] = list(params.stop)
    if params.seed is not None:
        body["seed"] = params.seed
    if params.top_k:
        body["top_k"] = params.top_k  # not OpenAI's; vLLM, llama.cpp and tickertape accept it
    if params.ignore_eos:
        body["ignore_eos"] = True  # not OpenAI's; vLLM and tickertape accept it
    return body


class SSEDecoder:
    """Server-sent events, line by line, after the WHATWG rules.

    Comment lines (`:`), fields other than `data` (event, id, retry) and lines that are not
    fields at all are ignored, as the spec says; a blank line dispatches the event.
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        if not line:
            if not self._data:
                return None
            payload = "\n".join(self._data)
            self._data.clear()
            return payload
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        return None


def parse_chunk(payload: str) -> Chunk:
    """One `chat.completion.chunk`; raises UpstreamProtocolError for anything else."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise UpstreamProtocolError(f"upstream sent a non-JSON data line: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise UpstreamProtocolError("upstream sent a data line that is not a JSON object")
    if data.get("error"):
        # vLLM and llama.cpp report failures after the 200 this way.
        raise EngineError(f"upstream error mid-stream: {_error_text(data)}")
    text = reasoning = ""
    calls: tuple[CallDelta, ...] = ()
    finish: FinishReason | None = None
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        delta = choice.get("delta")
        if isinstance(delta, dict):
            if isinstance(delta.get("content"), str):
                text = delta["content"]
            # vLLM and llama.cpp say reasoning_content; some servers say reasoning.
            thought = delta.get("reasoning_content", delta.get("reasoning"))
            if isinstance(thought, str):
                reasoning = thought
            calls = _call_deltas(delta.get("tool_calls"))
        finish = _finish_reason(choice.get("finish_reason"))
    usage = _usage(data.get("usage"))
    return Chunk(text, finish, usage, reasoning, calls)


def _call_deltas(value: object) -> tuple[CallDelta, ...]:
    if not isinstance(value, list):
        return ()
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("index"), int):
            raise UpstreamProtocolError("upstream sent a tool-call delta without an index")
        function = item.get("function") if isinstance(item.get("function"), dict) else {}
        assert isinstance(function, dict)
        call_id, name, arguments = item.get("id"), function.get("name"), function.get("arguments")
        out.append(
            CallDelta(
                item["index"],
                call_id if isinstance(call_id, str) else None,
                name if isinstance(name, str) else None,
                arguments if isinstance(arguments, str) else "",
            )
        )
    return tuple(out)


def _finish_reason(value: object) -> FinishReason | None:
    if value is None:
        return None
    if value == "length":
        return FinishReason.LENGTH
    if value == "tool_calls":
        return FinishReason.TOOL_CALLS
    # "stop", and whatever else an upstream ends a healthy reply with ("eos").
    return FinishReason.STOP


def _usage(value: object) -> Usage | None:
    if not isinstance(value, dict):
        return None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


def retry_after_ms(headers: Mapping[str, str]) -> int | None:
    """`retry-after-ms` (OpenAI), else `Retry-After` as seconds or an HTTP date."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0, int(float(raw_ms)))
        except ValueError:
            pass  # fall through to Retry-After: a bad hint is not worth failing over
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0, int(float(raw) * 1000))
    except ValueError:
        pass  # not seconds: try the HTTP-date form below
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0, int((when.timestamp() - time.time()) * 1000))


def error_for_status(status: int, body: bytes, headers: Mapping[str, str]) -> EngineError:
    """Map a non-200 answer to the contract's error codes.

    429 -> rate_limited; 502/503/504 -> overloaded (the upstream is busy or restarting, a
    retry will likely work); other 5xx -> internal (the upstream failed on this request);
    400/413/422 about the context -> too_long; other 400/422 -> bad_request (the sampling
    params were refused); 401/403 -> internal and fatal; anything else -> internal.
    """
    message = f"upstream answered {status}: {_error_text(_json_or_text(body))}"
    hint = retry_after_ms(headers)
    if status == 429:
        return UpstreamRateLimited(message, hint if hint is not None else DEFAULT_RETRY_AFTER_MS)
    if status in (502, 503, 504):
        return EngineUnavailable(message, hint if hint is not None else DEFAULT_RETRY_AFTER_MS)
    if status in (400, 413, 422) and _CONTEXT_WORDING.search(message):
        return PromptTooLong(message)
    if status in (400, 422):
        return UpstreamBadRequest(message)
    if status in (401, 403):
        return UpstreamAuthFailed(message)
    return EngineError(message)


async def read_error_body(response: httpx.Response) -> bytes:
    """At most MAX_ERROR_BODY_BYTES of an error body: enough for its message."""
    body = b""
    async for part in response.aiter_bytes():
        body += part
        if len(body) >= MAX_ERROR_BODY_BYTES:
            break
    return body


def _json_or_text(body: bytes) -> Any:
    text = body[:MAX_ERROR_BODY_BYTES].decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _error_text(data: Any) -> str:
    """The human part of an error body, whichever server's shape it has."""
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(error.get(key), str):
                    return str(error[key])[:500]
        elif isinstance(error, str):
            return error[:500]
        return json.dumps(data)[:500]
    return str(data).strip()[:500] or "(empty body)"
