"""Linear kernels: `python benchmarks/linear_kernels.py [--threads N] [--reps R] [--no-write]`.

What `--linear-kernel` (engine/linear.py) chooses between, on the SmolLM2-135M-shaped
random model in float32:
(a) the model's linear layers alone (211 weights: 7 per layer and the tied head, 540 MB, more than any cache), one
    pass over all of them at 1, 8, 32 and 512 rows: torch's `F.linear` (MKL sgemm) against
    oneDNN on weights packed once; time per pass and the weight bytes read per second;
(b) the engine's bare decode loop (benchmarks/engine.py's mode a) at 1, 8 and 32 rows,
    torch and packed interleaved, best of `--reps`;
(c) agreement: the embedded demo model answers `--prompts` chat prompts greedily through
    LocalEngine with each kernel: how many replies are token-identical.
Writes the "## Engine: linear kernels" section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import machine, publish, table
from benchmarks.engine import VOCAB, bare_loop, log, smollm2_shape
from benchmarks.precision import arguments, demo_questions, replies
from tickertape.engine.linear import BATCH_HINT

LAYER_ROWS = (1, 8, 32, 512)
LOOP_ROWS = (1, 8, 32)
PROMPT, OUT = 32, 32


def per_pass_ms(fn: Callable[[], None], reps: int) -> float:
    fn()  # warm: first-touch of the packed copies
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def layers(model: Any, reps: int) -> list[list[object]]:
    weights = [m.weight.detach() for m in model.modules() if type(m) is nn.Linear]
    total = sum(w.numel() * w.element_size() for w in weights)
    packed = [torch.ops.mkldnn._reorder_linear_weight(w, BATCH_HINT) for w in weights]
    rows: list[list[object]] = []
    for n in LAYER_ROWS:
        xs = {k: torch.randn(n, k) for k in {int(w.shape[1]) for w in weights}}

        def dense(xs: dict[int, torch.Tensor] = xs) -> None:
            for w in weights:
                F.linear(xs[int(w.shape[1])], w)

        def onednn(xs: dict[int, torch.Tensor] = xs) -> None:
            for w, p in zip(weights, packed, strict=True):
                torch.ops.mkldnn._linear_pointwise(xs[int(w.shape[1])], p, None, "none", [], "")

        log(f"layers: {n} rows")
        t = per_pass_ms(dense, reps)
        o = per_pass_ms(onednn, reps)
        rows.append(
            [
                n,
                f"{t:.1f} ({total / t / 1e6:.1f})",
                f"{o:.1f} ({total / o / 1e6:.1f})",
                f"{t / o:.2f}",
            ]
        )
    return rows


def decode_loop(model: Any, reps: int) -> list[list[object]]:
    gen = torch.Generator().manual_seed(1)
    prompts = torch.randint(3, VOCAB, (max(LOOP_ROWS), PROMPT), generator=gen).tolist()
    rows: list[list[object]] = []
    for n in LOOP_ROWS:
        best = {True: 0.0, False: 0.0}
        for rep in range(reps):
            for pack in (False, True):
                log(f"decode loop: {n} rows, packed={pack}, run {rep + 1}/{reps}")
                tps = bare_loop(model, prompts[:n], OUT, pack_linear=pack).tps
                best[pack] = max(best[pack], tps)
        rows.append(
            [n, f"{best[False]:.1f}", f"{best[True]:.1f}", f"{best[True] / best[False]:.2f}"]
        )
    return rows


def main() -> None:
    args = arguments(__doc__ or "", threads=2, reps=3)
    facts = machine()
    torch.manual_seed(0)
    model: Any = LlamaForCausalLM(smollm2_shape()).eval()
    with torch.inference_mode():
        layer_rows = layers(model, args.reps * 3)
    loop_rows = decode_loop(model, args.reps)
    questions = demo_questions(args.prompts)
    log("agreement: demo model, torch then onednn")
    dense = asyncio.run(replies("float32", questions, args.tokens, linear_kernel="torch"))
    packed = asyncio.run(replies("float32", questions, args.tokens, linear_kernel="onednn"))
    identical = sum(a == b for a, b in zip(dense, packed, strict=True))
    body = (
        f"{facts}; {args.threads} torch thread(s); float32; best of {args.reps} interleaved "
        "runs.\n\n"
        "(a) The model's linear layers alone (SmolLM2-135M shape: 211 weights, "
        f"{sum(p.numel() for p in model.parameters()) * 4 / 1e6:.0f} MB of parameters), ms "
        "per pass over all of them (GB/s of weight read):\n\n"
        + table(["rows", "torch F.linear", "oneDNN packed", "speed-up"], layer_rows)
        + f"\n\n(b) The engine's bare decode loop (prompt {PROMPT}, {OUT} tokens), output "
        "tokens/s:\n\n"
        + table(["rows", "torch", "oneDNN packed", "packed ÷ torch"], loop_rows)
        + f"\n\n(c) Agreement, the demo model, {len(questions)} greedy replies of "
        f"{args.tokens} tokens: {identical}/{len(questions)} token-identical with either "
        "kernel. The exactness matrix (tests/engine) checks greedy tokens against "
        "`generate` with the packed kernel, the default.\n"
    )
    publish("Engine: linear kernels", body, write=not args.no_write)


if __name__ == "__main__":
    main()
