"""A deterministic Engine for tests about the transports and the chat service.

The reply is the words of REPLY, one update per "step", honoring max_tokens (words) and
stop strings. The last message picks special behaviours: `forever` (five words, then
nothing until a stop), `overload` (submit refuses after the commit), `ratelimit` and
`fail` (the reply ends with that error), `toolong` (prepare refuses). `queue_full` makes
`check_capacity` refuse, as a full generation queue does. `paced` replies `max_tokens`
words (" w0", " w1", ...), each one only when the test releases a step
(`engine.steps.release()`), so a test decides how far a reply has got.

Typed pieces: `think` reasons (REASONING pieces "Let me think" / " about it.") before the
words. With tools declared (not `tool_choice: none`), `tool` (or any tool choice that
forces a call) writes a reasoning piece, one text piece, then a call of the first callable
tool whose arguments `{"x": 1, "y": "two"}` arrive in four deltas, and ends TOOL_CALLS;
`tools2` makes two calls. `paced_tool` is `tool` one piece per released step.
`late_stop_tool` writes the call, then waits for a stop and ends TOOL_CALLS all the same
(a generation that ended on its calls in the step the stop arrived). A prompt
whose last message is a `tool` result answers "Result: <content>" (and ends STOP).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from tickertape.engine.types import (
    ChatMessage,
    EngineOverloaded,
    EngineStats,
    FinishReason,
    GenerationResult,
    OutputPiece,
    PieceKind,
    Prompt,
    PromptTooLong,
    ReplySink,
    ReplyUpdate,
    SamplingParams,
    Timing,
    Usage,
    text_piece,
)

MODEL = "test-model"
REPLY = "The quick brown fox jumps over the lazy dog"
ARGUMENT_DELTAS = ('{"x": ', "1, ", '"y": "t', 'wo"}')


@dataclass
class ScriptEngine:
    submitted: dict[str, tuple[str, SamplingParams, Prompt]] = field(default_factory=dict)
    submitted_event: asyncio.Event = field(default_factory=asyncio.Event)
    stops: defaultdict[str, asyncio.Event] = field(
        default_factory=lambda: defaultdict(asyncio.Event)
    )
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    steps: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(0))

    model_name: str = MODEL
    context_length: int = 2048
    alive: bool = True
    queue_full: bool = False

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for reply_id in list(self.submitted):
            self.stops[reply_id].set()
        if self.tasks:
            await asyncio.wait(self.tasks)

    async def prepare(self, messages: list[ChatMessage], params: SamplingParams) -> Prompt:
        if messages[-1].content == "toolong":
            raise PromptTooLong("the prompt needs 5000 tokens; the context is 2048")
        tokens = sum(len(m.content.split()) + 3 for m in messages)
        return Prompt(tuple(messages), None, tokens)

    def check_capacity(self) -> None:
        if self.queue_full:
            raise EngineOverloaded("the generation queue is full", retry_after_ms=4000)

    def submit(
        self,
        reply_id: str,
        user_id: str,
        prompt: Prompt,
        params: SamplingParams,
        sink: ReplySink,
    ) -> None:
        if prompt.messages[-1].content == "overload":
            raise EngineOverloaded("the queue is full", retry_after_ms=1500)
        self.submitted[reply_id] = (user_id, params, prompt)
        self.submitted_event.set()
        task = asyncio.create_task(self._script(reply_id, prompt, params, sink))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def stop(self, reply_id: str) -> None:
        self.stops[reply_id].set()

    def stats(self) -> EngineStats:
        return EngineStats()

    async def _script(
        self, reply_id: str, prompt: Prompt, params: SamplingParams, sink: ReplySink
    ) -> None:
        content = prompt.messages[-1].content
        stopped = self.stops[reply_id]

        def finish(reason: FinishReason, sent: int, code: str | None = None) -> None:
            result = GenerationResult(
                reason,
                Usage(prompt.prompt_tokens, sent),
                Timing(1.0, 2.0, 3.0),
                code,
                f"scripted {code}" if code else None,
                1000 if code == "rate_limited" else None,
            )
            sink.deliver(ReplyUpdate(result=result))

        sink.deliver(ReplyUpdate(queued=0))
        await _next_step()
        rules = params.output
        last = prompt.messages[-1]
        if last.role == "tool":
            sink.deliver(ReplyUpdate(text_piece(f"Result: {last.content}")))
            finish(FinishReason.STOP, 1)
            return
        if rules.calls_allowed and (
            content in ("tool", "tools2", "paced_tool", "late_stop_tool") or rules.calls_forced
        ):
            await self._tool_script(content, params, sink, stopped, finish)
            return
        if content == "think":
            for piece in ("Let me think", " about it."):
                sink.deliver(ReplyUpdate((OutputPiece(PieceKind.REASONING, piece),)))
                await _next_step()
        if content == "ratelimit":
            finish(FinishReason.ERROR, 0, "rate_limited")
            return
        words = [(" " if i else "") + w for i, w in enumerate(REPLY.split())]
        if content == "forever":  # a few words, then nothing until a stop ends it
            words = [f" w{i}" for i in range(5)]
        paced = content == "paced"
        if paced:
            words = [f" w{i}" for i in range(params.max_tokens)]
        text, sent, reason = "", 0, FinishReason.STOP
        for word in words:
            if paced:
                await _paced_step(self.steps, stopped)
            if stopped.is_set():
                reason = FinishReason.STOPPED
                break
            if sent == params.max_tokens:
                reason = FinishReason.LENGTH
                break
            if content == "fail" and sent == 2:
                finish(FinishReason.ERROR, sent, "internal")
                return
            candidate = text + word
            cut = min((candidate.find(s) for s in params.stop if s in candidate), default=-1)
            if cut >= 0:  # the stop string ends the reply and is not part of it
                if cut > len(text):
                    sink.deliver(ReplyUpdate(text_piece(candidate[len(text) : cut])))
                break
            text += word
            sent += 1
            sink.deliver(ReplyUpdate(text_piece(word)))
            await _next_step()
        if content == "forever" and reason is not FinishReason.STOPPED:
            await stopped.wait()
            reason = FinishReason.STOPPED
        finish(reason, sent)

    async def _tool_script(
        self,
        content: str,
        params: SamplingParams,
        sink: ReplySink,
        stopped: asyncio.Event,
        finish: Callable[[FinishReason, int], None],
    ) -> None:
        tools = params.output.callable_tools
        calls = 2 if content == "tools2" else 1
        pieces = [
            OutputPiece(PieceKind.REASONING, "I should call a tool."),
            OutputPiece(PieceKind.TEXT, "Calling."),
        ]
        for index in range(calls):
            tool = tools[index % len(tools)]
            call_id = f"call_{uuid.uuid4().hex[:12]}"
            pieces.append(OutputPiece(PieceKind.TOOL_CALL, "", index, call_id, tool.name))
            pieces += [OutputPiece(PieceKind.TOOL_CALL, d, index) for d in ARGUMENT_DELTAS]
        for sent, piece in enumerate(pieces):
            if content == "paced_tool":
                await _paced_step(self.steps, stopped)
            if stopped.is_set():
                finish(FinishReason.STOPPED, sent)
                return
            sink.deliver(ReplyUpdate((piece,)))
            await _next_step()
        if content == "late_stop_tool":
            await stopped.wait()
        finish(FinishReason.TOOL_CALLS, len(pieces))


async def _paced_step(steps: asyncio.Semaphore, stopped: asyncio.Event) -> None:
    """Wait for the test to release a step, or for a stop."""
    step = asyncio.ensure_future(steps.acquire())
    stop = asyncio.ensure_future(stopped.wait())
    await asyncio.wait([step, stop], return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if not step.done():
        step.cancel()
    elif not step.cancelled() and stopped.is_set():
        steps.release()  # a stop won: the step stays for another reply


async def _next_step() -> None:
    """Each word in its own engine "step": let the loop run the readers in between."""
    await asyncio.sleep(0)
