"""How many KV blocks the pool gets: from bytes, a fraction of free memory, or a default."""

from __future__ import annotations

from pathlib import Path

import torch

from tickertape.engine.config import EngineConfig
from tickertape.engine.kvpool import bytes_per_block
from tickertape.engine.runner import ModelRunner

DEFAULT_FREE_SHARE = 0.5  # the default pool never takes more than this share of free memory


def free_memory(device: torch.device) -> int:
    """Bytes free now on `device` (MemAvailable on Linux for the CPU)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("cannot tell the free memory here: set kv_cache_bytes")


def pool_blocks(config: EngineConfig, runner: ModelRunner, context: int) -> int:
    per_block = bytes_per_block(runner.shapes, config.block_size, runner.dtype)
    if config.kv_cache_bytes is not None:
        budget = config.kv_cache_bytes
    elif config.kv_cache_fraction is not None:
        budget = int(config.kv_cache_fraction * free_memory(runner.device))
    else:
        # Room for max_batch full contexts, like a preallocated cache would have.
        wanted = config.max_batch * -(-context // config.block_size) * per_block
        budget = min(wanted, int(DEFAULT_FREE_SHARE * free_memory(runner.device)))
    blocks = budget // per_block
    if blocks < 2:
        raise ValueError(
            f"the KV cache budget ({budget} bytes) holds fewer than 2 blocks of "
            f"{config.block_size} positions ({per_block} bytes each)"
        )
    return int(blocks)
