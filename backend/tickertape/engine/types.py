"""Plain data that crosses the engine boundary (thread and package).

Nothing here imports torch or transformers: the chat service, the transport and the
remote engine all speak these types, and only these cross from the generation thread
to the asyncio loop.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


class FinishReason(enum.StrEnum):
    STOP = "stop"  # end of sequence or a stop string
    LENGTH = "length"  # max_tokens or the model's context reached
    STOPPED = "stopped"  # the client asked to stop
    ERROR = "error"
    INTERRUPTED = "interrupted"  # only ever written by the store after a crash
    TOOL_CALLS = "tool_calls"  # the model ended its turn on complete tool calls


def new_call_id() -> str:
    """An id for a call the engine emits (clients answer it with a result)."""
    return "call_" + uuid.uuid4().hex[:24]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call: `arguments` is the JSON text the model wrote (it parses)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str
    reasoning: str | None = None  # an assistant message's thinking (templates may drop it)
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant message's calls
    tool_call_id: str | None = None  # a `tool` message: the call it answers


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call (OpenAI's `tools[].function`)."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] | None = None  # a JSON Schema of the arguments object

    def template_json(self) -> dict[str, Any]:
        """The OpenAI form chat templates take as `tools=`."""
        function: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            function["description"] = self.description
        function["parameters"] = dict(self.parameters or {"type": "object", "properties": {}})
        return {"type": "function", "function": function}


# `auto`: the model decides; `none`: it never calls; `required`: it must call one or
# more; `function`: it must call `OutputRules.function_name`.
ToolChoice = Literal["auto", "none", "required", "function"]


@dataclass(frozen=True, slots=True)
class OutputRules:
    """What a reply may contain beyond text: tools, thinking, a JSON format."""

    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = "auto"
    function_name: str | None = None  # with tool_choice "function"
    parallel_tool_calls: bool = True
    enable_thinking: bool | None = None  # None: the chat template's default
    # None (free text), {"type": "json_object"} or {"type": "json_schema", "schema": {...}}
    response_format: Mapping[str, Any] | None = None

    @property
    def calls_allowed(self) -> bool:
        return bool(self.tools) and self.tool_choice != "none"

    @property
    def calls_forced(self) -> bool:
        return bool(self.tools) and self.tool_choice in ("required", "function")

    @property
    def callable_tools(self) -> tuple[Tool, ...]:
        """The tools a call may name."""
        if not self.calls_allowed:
            return ()
        if self.tool_choice == "function":
            return tuple(t for t in self.tools if t.name == self.function_name)
        return self.tools


NO_RULES = OutputRules()


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """What a request asks for. None means "unset": the engine fills it from the model's
    `generation_config` where the checkpoint sets it, else from its own default."""

    max_tokens: int = 256
    temperature: float | None = None  # 0 = greedy
    top_p: float | None = None  # 1 = off
    top_k: int | None = None  # 0 = off
    stop: tuple[str, ...] = ()
    seed: int | None = None
    ignore_eos: bool = False  # generate to max_tokens (load tests, benchmarks)
    repetition_penalty: float | None = None  # transformers' multiplicative penalty; 1 = off
    frequency_penalty: float = 0.0  # OpenAI's additive penalties over the generated tokens
    presence_penalty: float = 0.0
    output: OutputRules = NO_RULES  # tools, thinking, structured output


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prepared prompt: the messages that fit the context, and their token ids.

    `token_ids` is None for engines that tokenize elsewhere (the remote engine).
    """

    messages: tuple[ChatMessage, ...]
    token_ids: tuple[int, ...] | None
    prompt_tokens: int
    dropped_messages: int = 0
    # What the chat template's generation prompt wrote after the assistant header (an
    # opened `<think>`, or an empty think section): where the reply's parsing starts.
    generation_prefix: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Timing:
    queued_ms: float = 0.0  # submit -> first scheduled into the batch
    ttft_ms: float = 0.0  # submit -> first text
    total_ms: float = 0.0  # submit -> finish


@dataclass(frozen=True, slots=True)
class GenerationResult:
    finish_reason: FinishReason
    usage: Usage
    timing: Timing
    error_code: str | None = None  # a contract error code when finish_reason is ERROR
    error_message: str | None = None
    retry_after_ms: int | None = None  # for error codes a client may retry (overloaded)


class PieceKind(enum.StrEnum):
    TEXT = "text"  # the answer
    REASONING = "reasoning"  # the model's thinking, apart from the answer
    TOOL_CALL = "tool_call"  # a piece of a tool call: its start (name) and argument text


@dataclass(frozen=True, slots=True)
class OutputPiece:
    """A typed piece of a reply, in emission order. Text is whole characters.

    For TOOL_CALL pieces `text` is a delta of the call's arguments (JSON text); the call's
    first piece carries `call_id` and `name`, every piece carries `index` (0, 1, ... in
    the generation). The arguments of a call concatenate to JSON that parses and fits the
    tool's schema once the call is complete (the generation ends or the next call starts);
    a generation cut inside a call ends with error `tool_call_incomplete`.
    """

    kind: PieceKind
    text: str
    index: int = 0
    call_id: str | None = None
    name: str | None = None


def text_piece(text: str) -> tuple[OutputPiece, ...]:
    return (OutputPiece(PieceKind.TEXT, text),) if text else ()


@dataclass(frozen=True, slots=True)
class ReplyUpdate:
    """What one engine step produced for one reply. Plain data: it crosses from the
    generation thread (or the remote engine's reader task) to the event loop."""

    pieces: tuple[OutputPiece, ...] = ()  # in emission order; stop strings removed
    queued: int | None = None  # queue position while the reply waits for a batch slot
    result: GenerationResult | None = None  # set once, on the reply's last update

    @property
    def text(self) -> str:
        """The answer text of this update (reasoning and tool calls left out)."""
        return "".join(p.text for p in self.pieces if p.kind is PieceKind.TEXT)


class ReplySink(Protocol):
    """Where an engine delivers one reply's output.

    Called on the event loop, at most once per engine step for each reply, never after
    the update that carries the result. It must not block: a slow reader is the sink's
    business (it merges text), never the batch's.
    """

    def deliver(self, update: ReplyUpdate) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineStats:
    waiting: int = 0
    running: int = 0
    max_batch: int = 0
    steps: int = 0
    prefill_tokens: int = 0
    decode_tokens: int = 0
    last_step_ms: float = 0.0
    alive: bool = True
    error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


class EngineError(Exception):
    """A typed failure the transport maps to a contract error code."""

    code = "internal"

    def __init__(self, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_ms = retry_after_ms


class PromptTooLong(EngineError):
    code = "too_long"


class EngineOverloaded(EngineError):
    code = "overloaded"


class EngineUnavailable(EngineError):
    code = "overloaded"


class InvalidOutputRules(EngineError):
    """Tools, a tool choice or a response format the engine cannot honour (bad schema,
    a tool choice naming no declared tool): the request is refused before it starts."""

    code = "bad_request"


class TemplateRefused(EngineError):
    """The checkpoint's chat template raised on these messages (its `raise_exception`:
    e.g. Llama 3's one call per message, roles out of order)."""

    code = "bad_request"


class Engine(Protocol):
    """What the rest of the app may ask of a generation engine (local or remote)."""

    @property
    def model_name(self) -> str: ...

    @property
    def context_length(self) -> int: ...

    @property
    def alive(self) -> bool: ...

    async def start(self) -> None:
        """Load the model and start the generation loop (called in the app lifespan)."""

    async def close(self) -> None:
        """Stop every running generation (finish_reason STOPPED) and end the loop."""

    async def prepare(self, messages: list[ChatMessage], params: SamplingParams) -> Prompt:
        """Apply the chat template; drop the oldest turns (never the system prompt) to fit.

        Raises PromptTooLong when the latest message alone does not fit the context.
        Runs tokenization off the event loop.
        """

    def check_capacity(self) -> None:
        """Raise EngineOverloaded or EngineUnavailable if a reply submitted now would be
        refused; the chat service asks before it commits anything."""

    def submit(
        self,
        reply_id: str,
        user_id: str,
        prompt: Prompt,
        params: SamplingParams,
        sink: ReplySink,
    ) -> None:
        """Queue a generation whose output goes to `sink`, ending with exactly one update
        that carries the result. Raises EngineOverloaded when the waiting queue is full
        (then nothing is ever delivered)."""

    def stop(self, reply_id: str) -> None:
        """Ask a generation to stop; it finishes STOPPED within one engine step."""

    def stats(self) -> EngineStats: ...
