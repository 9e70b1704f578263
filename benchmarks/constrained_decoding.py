"""Constrained-decoding libraries compared: `python benchmarks/constrained_decoding.py`.

Why tickertape uses llguidance (engine/constraint.py). For each library that imports:
the one-time tokenizer setup, the compile time of one request's grammar (a JSON Schema),
and the per-token cost of the mask on this CPU while a tool call's arguments are written
token by token, with the demo model's vocabulary (3488; 1857 before it learned tools, as
in docs/benchmarks.md) and a 49k one (the SmolLM2-shaped benchmark tokenizer). Then what
a constrained row costs the engine's sampler: `sample()` over 8 rows with and without
constraints (our own bitmask unpack, the same for every library that produces 32-bit
masks).

Only llguidance is a dependency of tickertape. To compare the others, install them next to
it without letting pip touch torch, e.g. in a scratch venv that sees .venv's packages:
`pip install --no-deps xgrammar==0.2.9 apache-tvm-ffi numpy outlines-core==0.2.14`
(xgrammar declares triton, a 286 MB wheel, which it does not need on CPU).

Writes the "## Constrained decoding" section of docs/benchmarks.md (`--no-write`: don't).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "backend", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchmarks._report import machine, publish, table  # noqa: E402

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "value": {"type": "number"},
        "from": {"type": "string", "enum": ["km", "miles", "kg", "pounds"]},
        "to": {"type": "string", "enum": ["km", "miles", "kg", "pounds"]},
        "note": {"type": "string", "maxLength": 40},
    },
    "required": ["value", "from", "to"],
    "additionalProperties": False,
}
DOCUMENT = json.dumps({"value": 12.5, "from": "km", "to": "miles", "note": "a short trip"})
STYLE = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
# Wheels pip downloads for CPython 3.11 on x86_64 Linux (bytes, measured 2026-12).
WHEELS = {
    "llguidance": ("1.9.1", {"llguidance": 3_071_973}),
    "xgrammar": (
        "0.2.9",
        {"xgrammar": 1_349_110, "triton": 285_777_556, "apache-tvm-ffi": 3_347_285},
    ),
    "outlines-core": ("0.2.14", {"outlines-core": 2_338_968}),
}

Run = Callable[[Any, int, list[int]], tuple[float, float, list[float]]]


def llguidance_run(tok: Any, vocab: int, ids: list[int]) -> tuple[float, float, list[float]]:
    import llguidance
    import llguidance.hf

    t0 = time.perf_counter()
    lltok = llguidance.hf.from_tokenizer(tok, n_vocab=vocab)
    t1 = time.perf_counter()
    grammar = llguidance.LLMatcher.grammar_from_json_schema({**SCHEMA, "x-guidance": STYLE})
    matcher = llguidance.LLMatcher(lltok, grammar)
    t2 = time.perf_counter()
    import torch

    row = torch.zeros((vocab + 31) // 32, dtype=torch.int32)
    masks = []
    for token in ids:
        start = time.perf_counter()
        matcher.unsafe_compute_mask_ptr(row.data_ptr(), row.numel() * 4)
        masks.append(time.perf_counter() - start)
        assert matcher.consume_token(token), matcher.get_error()
    return t1 - t0, t2 - t1, masks


def xgrammar_run(tok: Any, vocab: int, ids: list[int]) -> tuple[float, float, list[float]]:
    import xgrammar as xgr

    t0 = time.perf_counter()
    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(tok, vocab_size=vocab))
    t1 = time.perf_counter()
    matcher = xgr.GrammarMatcher(
        compiler.compile_json_schema(json.dumps(SCHEMA), any_whitespace=False)
    )
    t2 = time.perf_counter()
    mask = xgr.allocate_token_bitmask(1, vocab)
    masks = []
    for token in ids:
        start = time.perf_counter()
        matcher.fill_next_token_bitmask(mask, 0)
        masks.append(time.perf_counter() - start)
        assert matcher.accept_token(token)
    return t1 - t0, t2 - t1, masks


def outlines_run(tok: Any, vocab: int, ids: list[int]) -> tuple[float, float, list[float]]:
    from outlines_core import Guide, Index, Vocabulary, json_schema

    t0 = time.perf_counter()
    eos = tok.eos_token_id
    pieces: dict[str, list[int]] = {}
    for text, i in tok.get_vocab().items():
        if i != eos:
            pieces.setdefault(tok.convert_tokens_to_string([text]), []).append(i)
    words = Vocabulary(eos, pieces)
    t1 = time.perf_counter()
    guide = Guide(Index(json_schema.build_regex_from_schema(json.dumps(SCHEMA)), words))
    t2 = time.perf_counter()
    masks = []
    for token in ids:
        start = time.perf_counter()
        guide.get_tokens()
        masks.append(time.perf_counter() - start)
        guide.advance(token)
    return t1 - t0, t2 - t1, masks


RUNS: dict[str, tuple[str, Run]] = {
    "llguidance": ("llguidance", llguidance_run),
    "xgrammar": ("xgrammar", xgrammar_run),
    "outlines-core": ("outlines_core", outlines_run),
}


def tokenizers() -> dict[str, Any]:
    from transformers import AutoTokenizer

    from benchmarks.checkpoint import bpe_tokenizer
    from tickertape.engine.demo import DEMO_MODEL_DIR

    return {"demo": AutoTokenizer.from_pretrained(DEMO_MODEL_DIR), "49k": bpe_tokenizer()}


def library_rows() -> list[list[object]]:
    import importlib.util

    rows: list[list[object]] = []
    for name, tok in tokenizers().items():
        vocab = len(tok)
        ids = tok.encode(DOCUMENT, add_special_tokens=False)
        for library, (module, run) in RUNS.items():
            if importlib.util.find_spec(module) is None:
                rows.append([library, f"{name} ({vocab})", "not installed", "", "", ""])
                continue
            run(tok, vocab, ids)  # warm (first-call allocations, caches)
            setup, compiled, masks = run(tok, vocab, ids)
            ordered = sorted(masks)
            rows.append(
                [
                    library,
                    f"{name} ({vocab})",
                    f"{setup * 1e3:.0f} ms",
                    f"{compiled * 1e3:.2f} ms",
                    f"{statistics.median(masks) * 1e6:.1f} µs",
                    f"{ordered[int(len(ordered) * 0.99)] * 1e6:.1f} µs",
                ]
            )
    return rows


def sampler_rows(vocab: int = 49152, rows: int = 8, reps: int = 50) -> list[list[object]]:
    """`sample()` over `rows` rows: none constrained, then every row constrained (one
    torch thread, as the engine runs by default)."""
    import torch

    torch.set_num_threads(1)
    from tickertape.engine.sampling import RowSampling, sample

    class AllAllowed:  # a constraint whose mask costs nothing: what remains is ours
        words = (vocab + 31) // 32

        def fill(self, row: torch.Tensor) -> bool:
            row.fill_(-1)
            return True

        def accept(self, token: int) -> None:
            return None

    out: list[list[object]] = []
    for constrained in (False, True):
        times = []
        for _ in range(reps):
            logits = torch.randn(rows, vocab)
            plan = [
                RowSampling(0.0, 1.0, 0, None, constraint=AllAllowed() if constrained else None)  # type: ignore[arg-type]
                for _ in range(rows)
            ]
            start = time.perf_counter()
            sample(logits, plan)
            times.append(time.perf_counter() - start)
        label = f"{rows} rows constrained" if constrained else f"{rows} rows free"
        out.append([label, f"{statistics.median(times) * 1e3:.2f} ms"])
    return out


def wheel_rows() -> list[list[object]]:
    return [
        [
            name,
            version,
            ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in parts.items()),
            f"{sum(parts.values()) / 1e6:.1f} MB",
        ]
        for name, (version, parts) in WHEELS.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    libraries = table(
        [
            "library",
            "vocabulary",
            "tokenizer setup (once)",
            "grammar compile (per request)",
            "mask per token (median)",
            "p99",
        ],
        library_rows(),
    )
    sampler = table(["sampler pass, vocabulary 49152", "median"], sampler_rows())
    wheels = table(["library", "version", "wheels pip installs", "total"], wheel_rows())
    body = "\n\n".join(
        [
            machine(),
            "Per-token mask cost while the arguments of one tool call are written "
            f"(`{DOCUMENT}`, token by token), one matcher, one thread:",
            libraries,
            "What constraining costs the sampler beyond the library's mask (the bitmask "
            "unpacked to a boolean mask and applied to the rows, in one pass):",
            sampler,
            "Install weight:",
            wheels,
        ]
    )
    publish("Constrained decoding", body, write=not args.no_write)


if __name__ == "__main__":
    main()
