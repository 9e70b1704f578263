"""LocalEngine: the in-process engine (one generation thread shared by every reply)."""

from __future__ import annotations

import asyncio
import time

import torch

from tickertape.engine.config import EngineConfig
from tickertape.engine.detokenize import Detokenizer
from tickertape.engine.kvcache import KVCache
from tickertape.engine.live import Live
from tickertape.engine.loader import Loaded, display_name, load
from tickertape.engine.loop import FaultHook, GenerationLoop
from tickertape.engine.prompt import PromptBuilder
from tickertape.engine.sampling import RowSampling, make_generator
from tickertape.engine.scheduler import Scheduler
from tickertape.engine.types import (
    ChatMessage,
    EngineStats,
    EngineUnavailable,
    Prompt,
    PromptTooLong,
    ReplySink,
    ReplyUpdate,
    SamplingParams,
)

# Used for parameters a request leaves unset (None) until generation_config is honoured.
DEFAULT_TEMPERATURE = 0.7


class LocalEngine:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._sched = Scheduler(
            max_batch=config.max_batch,
            max_waiting=config.max_waiting,
            prefill_chunk=config.prefill_chunk,
            per_user=config.per_user_concurrency,
        )
        self._loaded: Loaded | None = None
        self._builder: PromptBuilder | None = None
        self._gen: GenerationLoop | None = None
        self._sinks: dict[str, ReplySink] = {}

    @property
    def model_name(self) -> str:
        return display_name(self.config.model)

    @property
    def context_length(self) -> int:
        return self._loaded.context if self._loaded is not None else 0

    @property
    def alive(self) -> bool:
        gen = self._gen
        return gen is not None and gen.thread.is_alive() and gen.error is None

    async def start(self) -> None:
        if self._gen is not None:
            raise RuntimeError("LocalEngine.start() called twice")
        torch.set_num_threads(self.config.torch_threads)
        loaded = await asyncio.to_thread(load, self.config)
        cache = await asyncio.to_thread(
            KVCache,
            loaded.arch,
            self.config.max_batch,
            loaded.context,
            loaded.dtype,
            torch.device(self.config.device),
        )
        self._loaded = loaded
        self._builder = PromptBuilder(loaded.tokenizer, loaded.context, self.config.system_prompt)
        self._gen = GenerationLoop(
            loaded.model,
            cache,
            self._sched,
            asyncio.get_running_loop(),
            self._dispatch,
            self.config.torch_threads,
        )
        self._gen.thread.start()

    async def close(self) -> None:
        self._sched.close()
        gen = self._gen
        if gen is not None:
            await asyncio.to_thread(gen.thread.join)
            await asyncio.sleep(0)  # run the thread's last hand-off (already scheduled)

    async def prepare(self, messages: list[ChatMessage], params: SamplingParams) -> Prompt:
        if self._builder is None:
            raise EngineUnavailable("the engine is not started")
        return await asyncio.to_thread(self._builder.build, messages, params)

    def check_capacity(self) -> None:
        if not self.alive:
            raise EngineUnavailable("the generation loop is not running")
        self._sched.check_capacity()

    def submit(
        self,
        reply_id: str,
        user_id: str,
        prompt: Prompt,
        params: SamplingParams,
        sink: ReplySink,
    ) -> None:
        loaded, gen = self._loaded, self._gen
        if loaded is None or gen is None or not self.alive:
            raise EngineUnavailable("the generation loop is not running")
        if prompt.token_ids is None:
            raise ValueError("LocalEngine needs a prompt prepared by LocalEngine.prepare()")
        if not 0 < len(prompt.token_ids) < loaded.context:
            raise PromptTooLong(f"the prompt does not fit the context ({loaded.context} tokens)")
        if params.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        temperature = DEFAULT_TEMPERATURE if params.temperature is None else params.temperature
        greedy = temperature <= 0
        live = Live(
            reply_id=reply_id,
            prompt=prompt.token_ids,
            max_new=min(params.max_tokens, self.config.max_new_tokens_limit),
            sampling=RowSampling(
                temperature=max(temperature, 0.0),
                top_p=1.0 if params.top_p is None else params.top_p,
                top_k=params.top_k or 0,
                generator=None if greedy else make_generator(params.seed),
            ),
            detok=Detokenizer(loaded.tokenizer.backend_tokenizer, params.stop),
            eos=frozenset() if params.ignore_eos else loaded.eos,
            submitted_at=time.monotonic(),
        )
        # Registered before the scheduler can admit it: the thread looks it up then.
        gen.add_pending(live)
        try:
            self._sched.add(reply_id, user_id, len(prompt.token_ids))
        except BaseException:
            gen.drop_pending(reply_id)
            raise
        self._sinks[reply_id] = sink

    def stop(self, reply_id: str) -> None:
        self._sched.cancel(reply_id)

    def stats(self) -> EngineStats:
        waiting, running = self._sched.counts()
        gen = self._gen
        if gen is None:
            return EngineStats(max_batch=self.config.max_batch, alive=False, error="not started")
        return EngineStats(
            waiting=waiting,
            running=running,
            max_batch=self.config.max_batch,
            steps=gen.steps,
            prefill_tokens=gen.prefill_tokens,
            decode_tokens=gen.decode_tokens,
            last_step_ms=gen.last_step_ms,
            alive=self.alive,
            error=gen.error,
            extra={
                "kv_cache_bytes": float(gen.cache.nbytes),
                "context_length": float(self.context_length),
                "retry_after_ms": float(self._sched.retry_after_ms()),
            },
        )

    def set_fault_hook(self, hook: FaultHook | None) -> None:
        """Tests only: inject failures into the generation thread."""
        if self._gen is None:
            raise RuntimeError("start the engine first")
        self._gen.fault_hook = hook

    def _dispatch(self, outputs: list[tuple[str, ReplyUpdate]]) -> None:
        # On the event loop: one call per engine step.
        for reply_id, update in outputs:
            sink = (
                self._sinks.pop(reply_id, None)
                if update.result is not None
                else self._sinks.get(reply_id)
            )
            if sink is not None:
                sink.deliver(update)
