"""bfloat16 against float32: `python benchmarks/precision.py [--threads N] [--no-write]`.

(a) Speed: the engine's bare decode loop (benchmarks/engine.py's mode a) on the
    SmolLM2-135M-shaped random model at 1, 8 and 32 rows, float32 and bfloat16
    interleaved, best of `--reps`; the ratio is what `--dtype bfloat16` buys on this CPU.
(b) Agreement: the embedded demo model (trained, so its logits mean something) answers
    `--prompts` chat prompts greedily through LocalEngine in float32 and in bfloat16;
    reported: the share of replies that are token-identical, and the mean share of each
    reply that agrees before the first differing token.
Writes the "## Engine: bfloat16 vs float32" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaForCausalLM
from transformers.utils import logging as hf_logging

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import machine, publish, table
from benchmarks.engine import VOCAB, bare_loop, log, smollm2_shape
from tickertape.engine.config import EngineConfig
from tickertape.engine.demo.corpus import vocabulary
from tickertape.engine.local import LocalEngine
from tickertape.engine.types import ChatMessage, ReplyUpdate, SamplingParams

ROWS = (1, 8, 32)
PROMPT, OUT = 32, 32


class Collect:
    def __init__(self) -> None:
        self.text = ""
        self.done = asyncio.Event()

    def deliver(self, update: ReplyUpdate) -> None:
        self.text += update.text
        if update.result is not None:
            self.done.set()


async def replies(
    dtype: str, questions: list[str], tokens: int, linear_kernel: str = "auto"
) -> list[str]:
    config = EngineConfig(
        model="demo", dtype=dtype, max_batch=len(questions), linear_kernel=linear_kernel
    )
    engine = LocalEngine(config)
    await engine.start()
    try:
        params = SamplingParams(max_tokens=tokens, temperature=0.0, ignore_eos=True)
        sinks = []
        for i, q in enumerate(questions):
            prompt = await engine.prepare([ChatMessage("user", q)], params)
            sink = Collect()
            engine.submit(f"r{i}", f"u{i}", prompt, params, sink)
            sinks.append(sink)
        await asyncio.gather(*(s.done.wait() for s in sinks))
        return [s.text for s in sinks]
    finally:
        await engine.close()


def agreement(a: str, b: str) -> float:
    same = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    return same / max(len(a), len(b), 1)


def speed(args: argparse.Namespace) -> list[list[object]]:
    torch.manual_seed(0)
    base: Any = LlamaForCausalLM(smollm2_shape()).eval()
    gen = torch.Generator().manual_seed(1)
    prompts = torch.randint(3, VOCAB, (max(ROWS), PROMPT), generator=gen).tolist()
    with tempfile.TemporaryDirectory() as tmp:
        base.save_pretrained(tmp)
        models = {
            d: LlamaForCausalLM.from_pretrained(tmp, dtype=getattr(torch, d)).eval()
            for d in ("float32", "bfloat16")
        }
    rows: list[list[object]] = []
    for n in ROWS:
        best: dict[str, float] = {}
        for rep in range(args.reps):
            for dtype, model in models.items():
                log(f"{n} rows, {dtype}, run {rep + 1}/{args.reps}")
                tps = bare_loop(model, prompts[:n], OUT).tps
                best[dtype] = max(best.get(dtype, 0.0), tps)
        f32, b16 = best["float32"], best["bfloat16"]
        rows.append([n, f"{f32:.1f}", f"{b16:.1f}", f"{b16 / f32:.2f}"])
    return rows


def arguments(doc: str, threads: int, reps: int) -> argparse.Namespace:
    """The flags this benchmark and linear_kernels.py share; sets the torch threads."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--threads", type=int, default=threads)
    parser.add_argument("--reps", type=int, default=reps)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    torch.set_num_threads(args.threads)
    return args


def demo_questions(count: int) -> list[str]:
    """Chat prompts about words the demo model knows."""
    words = sorted(vocabulary())
    return [f"Tell me about {words[(i * 37) % len(words)]}." for i in range(count)]


def main() -> None:
    args = arguments(__doc__ or "", threads=1, reps=2)
    facts = machine()
    speed_rows = speed(args)
    questions = demo_questions(args.prompts)
    log("agreement: demo model, float32 then bfloat16")
    f32 = asyncio.run(replies("float32", questions, args.tokens))
    b16 = asyncio.run(replies("bfloat16", questions, args.tokens))
    identical = sum(a == b for a, b in zip(f32, b16, strict=True))
    prefix = sum(agreement(a, b) for a, b in zip(f32, b16, strict=True)) / len(f32)
    body = (
        f"{facts}; {args.threads} torch thread(s); best of {args.reps} interleaved runs.\n\n"
        f"Speed, the engine's bare decode loop (SmolLM2-135M shape, random weights, prompt "
        f"{PROMPT}, {OUT} tokens), output tokens/s:\n\n"
        + table(["rows", "float32", "bfloat16", "bf16 ÷ fp32"], speed_rows)
        + f"\n\nAgreement, the demo model, {len(questions)} greedy replies of {args.tokens} "
        f"tokens: {identical}/{len(questions)} identical in bfloat16 and float32; on average "
        f"{prefix:.0%} of a reply's text agrees before the first difference. bfloat16 is "
        "fast, not token-exact: the exactness contract is float32.\n"
    )
    publish("Engine: bfloat16 vs float32", body, write=not args.no_write)


if __name__ == "__main__":
    main()
