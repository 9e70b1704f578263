"""Engine configuration: one frozen dataclass, no torch import."""

from __future__ import annotations

from dataclasses import dataclass

DEMO = "demo"  # EngineConfig.model value that selects the embedded demo model
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")
LINEAR_KERNELS = ("auto", "onednn", "torch")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How the local engine loads its model and shares it between replies.

    Memory: the KV cache is a pool of blocks of `block_size` positions. Its size is
    `kv_cache_bytes` if set, else `kv_cache_fraction` of the memory free after the model
    loaded if set, else room for `max_batch` full contexts (capped at half the free
    memory). Replies are admitted by free blocks; `max_batch` caps how many run at once.
    """

    model: str = DEMO  # "demo", a local HF checkpoint dir, or a hub id
    max_batch: int = 8  # replies decoded together
    max_waiting: int = 64  # replies queued for a place; one more -> EngineOverloaded
    max_new_tokens_limit: int = 512  # server-side cap on SamplingParams.max_tokens
    prefill_chunk: int = 256  # prompt tokens prefilled per step, across all replies
    max_context: int | None = None  # None: the model's position limit, capped at context_cap
    context_cap: int = 2048  # the cap applied when max_context is None
    kv_cache_bytes: int | None = None  # size of the KV block pool
    kv_cache_fraction: float | None = None  # or this fraction of the free memory
    block_size: int = 16  # positions per KV block
    prefix_caching: bool = True  # reuse cached blocks of identical prefixes
    per_user_concurrency: int = 4  # running replies per user; extra ones wait
    torch_threads: int = 1
    dtype: str = "auto"  # the checkpoint's dtype, as transformers does
    device: str = "auto"  # cuda when available, else cpu
    linear_kernel: str = "auto"  # CPU: prepacked oneDNN weights when they fit (linear.py)
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        positive = {
            "max_batch": self.max_batch,
            "max_waiting": self.max_waiting,
            "max_new_tokens_limit": self.max_new_tokens_limit,
            "prefill_chunk": self.prefill_chunk,
            "context_cap": self.context_cap,
            "block_size": self.block_size,
            "per_user_concurrency": self.per_user_concurrency,
            "torch_threads": self.torch_threads,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"EngineConfig.{name} must be >= 1, got {value}")
        if self.max_context is not None and self.max_context < 2:
            raise ValueError(f"EngineConfig.max_context must be >= 2, got {self.max_context}")
        if self.kv_cache_bytes is not None and self.kv_cache_bytes < 1:
            raise ValueError("EngineConfig.kv_cache_bytes must be positive")
        if self.kv_cache_fraction is not None and not 0 < self.kv_cache_fraction <= 1:
            raise ValueError("EngineConfig.kv_cache_fraction must be in (0, 1]")
        if self.dtype not in DTYPES:
            raise ValueError(f"EngineConfig.dtype: one of {', '.join(DTYPES)}, not {self.dtype}")
        if self.linear_kernel not in LINEAR_KERNELS:
            raise ValueError(
                f"EngineConfig.linear_kernel: one of {', '.join(LINEAR_KERNELS)}, "
                f"not {self.linear_kernel}"
            )
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(f"EngineConfig.device: one of {', '.join(DEVICES)}, not {self.device}")
