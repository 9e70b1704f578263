"""KV gathers: `python benchmarks/kv_gather.py [--threads N] [--reps R] [--no-write]`.

Decode attention copies each row's KV blocks into one contiguous tensor per layer and step
(`KVPool.gather`, engine/kvpool.py). This measures the engine's decode step (ModelRunner on
the SmolLM2-135M-shaped random model, float32, packed linears) with three versions of that
copy, swapped in turn inside one process so they see the same machine state:
  fresh: a new tensor per call, picked along dim 1 (the engine before 2026-12-01 17:00);
  reused dim 1: the pool's reused buffers, picked along dim 1;
  reused dim 0: the pool's reused buffers, one dim-0 pick over [KV*blocks, B*D] (today's).
Median ms per decode step over `--reps` rounds of 8 steps each. Writes the
"## Engine: KV gathers" section of docs/benchmarks.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from transformers import LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import machine, median, publish, table
from benchmarks.engine import log, smollm2_shape
from benchmarks.precision import arguments
from tickertape.engine import kvpool
from tickertape.engine.plan import Work
from tickertape.engine.runner import ModelRunner

Gather = Callable[[kvpool.KVPool, int, Tensor], tuple[Tensor, Tensor]]
SHAPES = ((8, 64), (32, 64), (8, 500), (32, 500))  # (rows, context positions)
BLOCK = 16


def fresh(pool: kvpool.KVPool, layer: int, tables: Tensor) -> tuple[Tensor, Tensor]:
    rows, width = tables.shape
    out: list[Tensor] = []
    for kv_pool in (pool.keys[layer], pool.values[layer]):
        kv, n, b, d = kv_pool.shape
        picked = kv_pool.view(kv, n, b * d).index_select(1, tables.reshape(-1))
        out.append(picked.view(kv, rows, width * b, d).transpose(0, 1))
    return out[0], out[1]


def reused_dim1(pool: kvpool.KVPool, layer: int, tables: Tensor) -> tuple[Tensor, Tensor]:
    rows, width = tables.shape
    out: list[Tensor] = []
    for i, kv_pool in enumerate((pool.keys[layer], pool.values[layer])):
        kv, n, b, d = kv_pool.shape
        picked = pool._buffer(i, kv * rows * width * b * d).view(kv, rows * width, b * d)
        torch.index_select(kv_pool.view(kv, n, b * d), 1, tables.reshape(-1), out=picked)
        out.append(picked.view(kv, rows, width * b, d).transpose(0, 1))
    return out[0], out[1]


VARIANTS: dict[str, Gather] = {
    "fresh": fresh,
    "reused dim 1": reused_dim1,
    "reused dim 0": kvpool.KVPool.gather,
}


def measure(model: Any, rows: int, context: int, reps: int) -> dict[str, float]:
    per_reply = -(-(context + reps * len(VARIANTS) * 9 + 1) // BLOCK)
    runner = ModelRunner(model, BLOCK, pack_linear=True)
    runner.allocate(rows * per_reply + 1)
    tables = [tuple(range(i * per_reply, (i + 1) * per_reply)) for i in range(rows)]
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    original = kvpool.KVPool.gather
    try:
        with torch.inference_mode():
            for i in range(rows):
                blocks = tables[i][: -(-context // BLOCK)]
                runner.forward(
                    [Work(f"r{i}", 0, tuple(range(3, 3 + context)), blocks, context, True)]
                )
            position = context

            def step() -> None:
                nonlocal position
                used = position // BLOCK + 1
                work = [
                    Work(f"r{i}", position, (5,), tables[i][:used], context, True)
                    for i in range(rows)
                ]
                runner.forward(work)
                position += 1

            for _ in range(reps):
                for name, gather in VARIANTS.items():
                    kvpool.KVPool.gather = gather  # type: ignore[method-assign,assignment]
                    step()  # warm: the buffers grow, the allocator settles
                    start = time.perf_counter()
                    for _ in range(8):
                        step()
                    times[name].append((time.perf_counter() - start) / 8 * 1000)
    finally:
        kvpool.KVPool.gather = original  # type: ignore[method-assign]
        runner.close()
    return {name: median(values) for name, values in times.items()}


def main() -> None:
    args = arguments(__doc__ or "", threads=2, reps=6)
    facts = machine()
    torch.manual_seed(0)
    model: Any = LlamaForCausalLM(smollm2_shape())
    model.eval()
    rows: list[list[object]] = []
    for batch, context in SHAPES:
        log(f"{batch} rows at {context} positions")
        ms = measure(model, batch, context, args.reps)
        base = ms["fresh"]
        rows.append(
            [batch, context, *(f"{v:.1f}" for v in ms.values()), f"{base / ms['reused dim 0']:.2f}"]
        )
    body = (
        f"{facts}; {args.threads} torch thread(s); float32; SmolLM2-135M shape, packed "
        f"linears; the three gathers swapped in turn in one process, median of {args.reps} "
        "rounds of 8 decode steps.\n\n"
        "Decode step, ms (context positions per row when the rounds start):\n\n"
        + table(["rows", "context", *VARIANTS, "fresh ÷ reused dim 0"], rows)
        + "\n"
    )
    publish("Engine: KV gathers", body, write=not args.no_write)


if __name__ == "__main__":
    main()
