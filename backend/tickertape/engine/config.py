"""Engine configuration: one frozen dataclass, no torch import."""

from __future__ import annotations

from dataclasses import dataclass

DEMO = "demo"  # EngineConfig.model value that selects the embedded demo model


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How the local engine loads its model and shares it between replies.

    Memory: the KV cache is preallocated once as
    `layers x 2 x max_batch x kv_heads x (max_context + 1) x head_dim x dtype bytes`;
    `kv_cache_bytes`, when set, shrinks `max_context` until that product fits.
    """

    model: str = DEMO  # "demo", a local HF checkpoint dir, or a hub id
    max_batch: int = 8  # replies decoded together (KV cache slots)
    max_waiting: int = 64  # replies queued for a slot; one more -> EngineOverloaded
    max_new_tokens_limit: int = 512  # server-side cap on SamplingParams.max_tokens
    prefill_chunk: int = 256  # prompt tokens prefilled per step, across all replies
    max_context: int | None = None  # None: the model's max_position_embeddings, capped
    context_cap: int = 2048  # the cap applied when max_context is None
    kv_cache_bytes: int | None = None  # optional bound on the preallocated KV cache
    per_user_concurrency: int = 4  # running replies per user; extra ones wait
    torch_threads: int = 1
    dtype: str = "float32"
    device: str = "cpu"
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        positive = {
            "max_batch": self.max_batch,
            "max_waiting": self.max_waiting,
            "max_new_tokens_limit": self.max_new_tokens_limit,
            "prefill_chunk": self.prefill_chunk,
            "context_cap": self.context_cap,
            "per_user_concurrency": self.per_user_concurrency,
            "torch_threads": self.torch_threads,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"EngineConfig.{name} must be >= 1, got {value}")
        if self.max_context is not None and self.max_context < 2:
            raise ValueError(f"EngineConfig.max_context must be >= 2, got {self.max_context}")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"EngineConfig.dtype: float32, bfloat16 or float16, not {self.dtype}")
