"""LocalEngine: the in-process engine (one generation thread shared by every reply)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from tickertape.engine.blocks import BlockPool
from tickertape.engine.config import EngineConfig
from tickertape.engine.detokenize import Detokenizer
from tickertape.engine.linear import choose as choose_linear
from tickertape.engine.live import Live
from tickertape.engine.loader import Loaded, display_name, load
from tickertape.engine.loop import FaultHook, GenerationLoop
from tickertape.engine.memory import free_memory, pool_blocks
from tickertape.engine.output_setup import OutputSetup
from tickertape.engine.prompt import PromptBuilder
from tickertape.engine.runner import ModelRunner
from tickertape.engine.sampling import row_sampling
from tickertape.engine.scheduler import Scheduler
from tickertape.engine.selfcheck import verify
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

log = logging.getLogger(__name__)

T = TypeVar("T")


async def _in_own_thread(work: Callable[[], T], name: str) -> T:
    """`work()` on a thread of its own that ends with it (not the default executor, whose
    threads live on). A thread that ran torch keeps its OpenMP team for as long as it
    lives; libgomp then counts more threads than cores and stops spinning, so every
    parallel op of the generation thread's team waits to be woken: the bare decode loop
    ran 24 tok/s alone and 18-19 with another live team (135M shape, 2 threads)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def body() -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to the awaiting task, which raises it
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    result = await done
    await asyncio.to_thread(thread.join)  # gone (and its team with it) before serving
    return result


@dataclass(frozen=True, slots=True)
class _Ready:
    loaded: Loaded
    runner: ModelRunner
    pool: BlockPool
    context: int
    output: OutputSetup


class LocalEngine:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._ready: _Ready | None = None
        self._sched: Scheduler | None = None
        self._builder: PromptBuilder | None = None
        self._gen: GenerationLoop | None = None
        self._sinks: dict[str, ReplySink] = {}

    @property
    def model_name(self) -> str:
        return display_name(self.config.model)

    @property
    def context_length(self) -> int:
        return self._ready.context if self._ready is not None else 0

    @property
    def alive(self) -> bool:
        gen = self._gen
        return gen is not None and gen.thread.is_alive() and gen.error is None

    async def start(self) -> None:
        if self._gen is not None or self._ready is not None:
            raise RuntimeError("LocalEngine.start() called twice")
        torch.set_num_threads(self.config.torch_threads)
        ready = await _in_own_thread(self._load, "tickertape-load")
        config = self.config
        self._ready = ready
        self._sched = Scheduler(
            pool=ready.pool,
            max_batch=config.max_batch,
            max_waiting=config.max_waiting,
            prefill_chunk=config.prefill_chunk,
            per_user=config.per_user_concurrency,
        )
        self._builder = PromptBuilder(
            ready.loaded.tokenizer,
            ready.context,
            config.system_prompt,
            ready.output.generation_prefix,
        )
        self._gen = GenerationLoop(
            ready.runner,
            self._sched,
            asyncio.get_running_loop(),
            self._dispatch,
            config.torch_threads,
            ready.context,
        )
        self._gen.thread.start()

    def _load(self) -> _Ready:
        # Worker thread: load, probe the layers, size and allocate the pool, self-check.
        config = self.config
        loaded = load(config)
        with torch.inference_mode():
            device = next(loaded.model.parameters()).device
            pack = choose_linear(config.linear_kernel, loaded.model, lambda: free_memory(device))
            runner = ModelRunner(loaded.model, config.block_size, pack_linear=pack)
            try:
                blocks = pool_blocks(config, runner, loaded.context)
                runner.allocate(blocks)
                caching = config.prefix_caching and not runner.rope
                if config.prefix_caching and runner.rope:
                    log.info("prefix caching is off: the rotary table depends on the length")
                pool = BlockPool(blocks, config.block_size, caching=caching)
                context = min(loaded.context, blocks * config.block_size)
                error = verify(runner, pool, context)
                vocab = int(loaded.model.get_output_embeddings().weight.shape[0])
                output = OutputSetup(loaded.tokenizer, vocab, loaded.eos)
            except BaseException:
                runner.close()
                raise
        log.info(
            "engine ready: %s, %s on %s, linear layers on %s, %d KV blocks of %d (%.1f MB), "
            "context %d, self-check relative error %.1e",
            self.model_name,
            runner.dtype,
            runner.device,
            runner.linear_kernel,
            blocks,
            config.block_size,
            (runner.pool.nbytes if runner.pool else 0) / 1e6,
            context,
            error,
        )
        fmt = output.format
        log.info(
            "output format: %s (reasoning %s, tool calls %s)",
            fmt.source,
            "/".join(fmt.think) if fmt.think else "none",
            fmt.calls.name if fmt.calls else "none",
        )
        return _Ready(loaded, runner, pool, context, output)

    async def close(self) -> None:
        if self._sched is not None:
            self._sched.close()
        gen = self._gen
        if gen is not None:
            await asyncio.to_thread(gen.thread.join)
            await asyncio.sleep(0)  # run the thread's last hand-off (already scheduled)
        if self._ready is not None:
            self._ready.runner.close()

    async def prepare(self, messages: list[ChatMessage], params: SamplingParams) -> Prompt:
        builder, ready = self._builder, self._ready
        if builder is None or ready is None:
            raise EngineUnavailable("the engine is not started")

        def build() -> Prompt:
            ready.output.check(params.output)  # a bad schema is refused before anything
            return builder.build(messages, params)

        return await asyncio.to_thread(build)

    def check_capacity(self) -> None:
        if not self.alive or self._sched is None:
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
        ready, gen, sched = self._ready, self._gen, self._sched
        if ready is None or gen is None or sched is None or not self.alive:
            raise EngineUnavailable("the generation loop is not running")
        if prompt.token_ids is None:
            raise ValueError("LocalEngine needs a prompt prepared by LocalEngine.prepare()")
        if not 0 < len(prompt.token_ids) < ready.context:
            raise PromptTooLong(f"the prompt does not fit the context ({ready.context} tokens)")
        if params.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        loaded, output, rules = ready.loaded, ready.output, params.output
        sampling = row_sampling(params, loaded.defaults, prompt.token_ids)
        sampling.constraint = output.constraint(rules, prompt.generation_prefix)
        live = Live(
            reply_id=reply_id,
            prompt=prompt.token_ids,
            max_new=min(params.max_tokens, self.config.max_new_tokens_limit),
            sampling=sampling,
            detok=Detokenizer(
                loaded.tokenizer.backend_tokenizer, (*params.stop, *loaded.stops), output.kept
            ),
            eos=frozenset() if params.ignore_eos else loaded.eos,
            submitted_at=time.monotonic(),
            parser=output.parser(rules, prompt.generation_prefix),
        )
        # Registered before the scheduler can admit it: the thread looks it up then.
        gen.add_pending(live)
        try:
            sched.add(reply_id, user_id, prompt.token_ids)
        except BaseException:
            gen.drop_pending(reply_id)
            raise
        self._sinks[reply_id] = sink

    def stop(self, reply_id: str) -> None:
        if self._sched is not None:
            self._sched.cancel(reply_id)

    def stats(self) -> EngineStats:
        gen, sched, ready = self._gen, self._sched, self._ready
        if gen is None or sched is None or ready is None:
            return EngineStats(max_batch=self.config.max_batch, alive=False, error="not started")
        waiting, running = sched.counts()
        pool = ready.runner.pool
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
                "kv_cache_bytes": float(pool.nbytes if pool is not None else 0),
                "context_length": float(self.context_length),
                "retry_after_ms": float(sched.retry_after_ms()),
                **sched.pool_stats(),
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
