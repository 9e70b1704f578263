"""Sibling linears: `python benchmarks/sibling_linears.py [--threads N] [--reps R] [--no-write]`.

The engine's decode step (SmolLM2-135M shape, random weights, float32, packed oneDNN
linears) with every linear on its own packed weight against sibling layers (q/k/v, gate/up)
sharing one packed weight (engine/linear.py). Both are packed in turn inside one process,
so both see the same machine state: median ms per step over `--reps` rounds of 16 steps,
after 3 warm-up steps each round. The greedy tokens of both must be the same (they are the
same bits). Writes the "## Engine: sibling linears" section of docs/benchmarks.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import machine, median, publish, table
from benchmarks.engine import log, smollm2_shape
from benchmarks.precision import arguments
from tickertape.engine.linear import pack_linears
from tickertape.engine.plan import Work
from tickertape.engine.runner import ModelRunner

ROWS = (1, 8, 32)
BLOCK, PROMPT, WARM, TIMED = 16, 32, 3, 16


def measure(model: Any, rows: int, reps: int) -> tuple[dict[bool, float], int]:
    """Median ms per decode step, keyed by `fused`; and the sibling groups found."""
    per_reply = -(-(PROMPT + WARM + TIMED) // BLOCK)
    runner = ModelRunner(model, BLOCK, pack_linear=False)  # packed below, in turn
    runner.allocate(rows * per_reply)
    tables = [tuple(range(i * per_reply, (i + 1) * per_reply)) for i in range(rows)]
    times: dict[bool, list[float]] = {False: [], True: []}
    tokens: dict[bool, list[list[int]]] = {}
    groups = 0
    try:
        with torch.inference_mode():
            for rep in range(reps):
                for fused in (False, True):
                    packed = pack_linears(model, runner._two_tokens if fused else None)
                    groups = max(groups, packed.groups)
                    prompt = tuple(range(3, 3 + PROMPT))
                    runner.forward(
                        [Work(f"r{i}", 0, prompt, tables[i], PROMPT, True) for i in range(rows)]
                    )
                    out: list[list[int]] = []
                    for step in range(WARM + TIMED):
                        if step == WARM:
                            start = time.perf_counter()
                        position = PROMPT + step
                        work = [
                            Work(f"r{i}", position, (5,), tables[i], PROMPT, True)
                            for i in range(rows)
                        ]
                        logits, _ = runner.forward(work)
                        out.append(logits.argmax(dim=-1).tolist())
                    times[fused].append((time.perf_counter() - start) / TIMED * 1000)
                    packed.restore()
                    if tokens.setdefault(fused, out) != out:
                        raise AssertionError("the same steps gave other tokens")
                log(f"{rows} rows: round {rep + 1}/{reps}")
    finally:
        runner.close()
    if tokens[False] != tokens[True]:
        raise AssertionError(f"{rows} rows: siblings sharing a weight changed the tokens")
    return {fused: median(values) for fused, values in times.items()}, groups


def main() -> None:
    args = arguments(__doc__ or "", threads=2, reps=10)
    facts = machine()
    torch.manual_seed(0)
    model: Any = LlamaForCausalLM(smollm2_shape()).eval()
    rows_out: list[list[object]] = []
    groups = 0
    for rows in ROWS:
        ms, groups = measure(model, rows, args.reps)
        rows_out.append(
            [rows, f"{ms[False]:.1f}", f"{ms[True]:.1f}", f"{ms[False] / ms[True]:.3f}"]
        )
    body = (
        f"{facts}; {args.threads} torch thread(s); float32; SmolLM2-135M shape "
        f"({groups} sibling groups: q/k/v and gate/up of 30 layers); both packings swapped "
        f"in turn in one process, median of {args.reps} rounds of {TIMED} decode steps "
        f"(context {PROMPT}-{PROMPT + WARM + TIMED}). Greedy tokens identical.\n\n"
        "Decode step, ms:\n\n"
        + table(["rows", "each linear alone", "siblings share a weight", "speed-up"], rows_out)
        + "\n"
    )
    publish("Engine: sibling linears", body, write=not args.no_write)


if __name__ == "__main__":
    main()
