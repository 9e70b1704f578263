"""Plain data that crosses the engine boundary (thread and package).

Nothing here imports torch or transformers: the chat service, the transport and the
remote engine all speak these types, and only these cross from the generation thread
to the asyncio loop.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


class FinishReason(enum.StrEnum):
    STOP = "stop"  # end of sequence or a stop string
    LENGTH = "length"  # max_tokens or the model's context reached
    STOPPED = "stopped"  # the client asked to stop
    ERROR = "error"
    INTERRUPTED = "interrupted"  # only ever written by the store after a crash


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


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


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prepared prompt: the messages that fit the context, and their token ids.

    `token_ids` is None for engines that tokenize elsewhere (the remote engine).
    """

    messages: tuple[ChatMessage, ...]
    token_ids: tuple[int, ...] | None
    prompt_tokens: int
    dropped_messages: int = 0


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


@dataclass(frozen=True, slots=True)
class ReplyUpdate:
    """What one engine step produced for one reply. Plain data: it crosses from the
    generation thread (or the remote engine's reader task) to the event loop."""

    text: str = ""  # whole characters, stop strings already removed
    queued: int | None = None  # queue position while the reply waits for a batch slot
    result: GenerationResult | None = None  # set once, on the reply's last update


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
