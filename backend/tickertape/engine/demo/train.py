"""Train the embedded demo model: `python -m tickertape.engine.demo.train [--out DIR] ...`.

Corpus -> byte-level BPE tokenizer -> one token row per conversation, rendered by the chat
template -> a tiny Llama (GQA, tied embeddings). Loss is on what the assistant writes
(answers, reasoning, tool calls, <|im_end|>) only. Rows are not packed together: a row is
one conversation from position 0, so no answer is ever learned while another
conversation's tool list sits in view. Rows of similar length share a batch, so padding
costs little. Everything is seeded, so the same arguments reproduce the same checkpoint on
the same torch build.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from tickertape.engine.demo import DEMO_MODEL_DIR, corpus
from tickertape.engine.demo.tokenizer import (
    END_TOOL_CALL,
    ENDOFTEXT,
    IM_END,
    MARKUP_TOKENS,
    SPECIAL_TOKENS,
    TOOL_CALL,
    train_tokenizer,
)

IGNORE = -100  # the label index transformers' loss skips
# The sampling defaults written to generation_config.json (tuned on the chat page's
# example prompts: docs/demo_model.md).
SAMPLING = {"do_sample": True, "temperature": 0.4, "top_p": 0.9, "top_k": 40}


@dataclass(frozen=True)
class Heavy:
    """The tokens `copy_weights` weights up, and by how much."""

    weight: float
    call_open: int
    call_close: int
    digits: torch.Tensor  # the ids of the number tokens ("7", "42", "347", ...)


def heavy_tokens(tok: PreTrainedTokenizerFast, weight: float) -> Heavy:
    numbers = sorted(i for t, i in tok.get_vocab().items() if t.isdigit() and t.isascii())
    digits = torch.tensor(numbers, dtype=torch.long)
    return Heavy(weight, token_id(tok, TOOL_CALL), token_id(tok, END_TOOL_CALL), digits)


@dataclass(frozen=True)
class Row:
    ids: list[int]
    labels: list[int]
    shared: int  # leading tokens of the tool list (system turn), shared with other rows


def model_config(
    args: argparse.Namespace, vocab_size: int, pad_id: int, eos_id: int
) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=args.hidden,
        intermediate_size=args.mlp,
        num_hidden_layers=args.layers,
        num_attention_heads=args.hidden // 64,
        num_key_value_heads=2,  # GQA on purpose: the engine's KV cache must handle it
        head_dim=64,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        rms_norm_eps=1e-5,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )


def token_id(tok: PreTrainedTokenizerFast, token: str) -> int:
    found = tok.convert_tokens_to_ids(token)
    if not isinstance(found, int):  # a list only comes back for a list argument
        raise TypeError(f"{token!r} is not a single token")
    return found


_CONTROL = re.compile("|".join(re.escape(t) for t in (*SPECIAL_TOKENS, *MARKUP_TOKENS)))


def tokenizer_texts(rendered: list[list[corpus.Segment]]) -> list[str]:
    """What the BPE learns from: the rendered text between the control and markup tokens."""
    texts = [piece for segs in rendered for text, _ in segs for piece in _CONTROL.split(text)]
    return [t for t in texts if t]


def check_template(
    tok: PreTrainedTokenizerFast, items: list[corpus.Example], rendered: list[list[corpus.Segment]]
) -> None:
    """The Jinja template renders every conversation exactly as `corpus.render` does, and
    the generation prompt of each assistant message of the last turn is a prefix of it.

    (Earlier turns were written with their reasoning in view, which the template drops once
    a newer user message follows; their learned text is what follows the empty think
    section, which is what the model writes with thinking off.)
    """
    render: Any = tok.apply_chat_template  # its overloads do not take a **kwargs dict
    for item, segs in zip(items, rendered, strict=True):
        full = "".join(text for text, _ in segs)
        kw = {"tools": item.tools, "enable_thinking": item.thinking, "tokenize": False}
        if render(item.messages, **kw) != full:
            raise corpus.CorpusError(f"template and corpus.render disagree on {item.messages!r}")
        last_query = max(i for i, m in enumerate(item.messages) if m["role"] == "user")
        for k, message in enumerate(item.messages):
            if message["role"] == "assistant" and k > last_query:
                prompt: str = render(item.messages[:k], add_generation_prompt=True, **kw)
                if not full.startswith(prompt):
                    raise corpus.CorpusError(f"generation prompt {k} is not a prefix: {prompt!r}")


def encode(
    tok: PreTrainedTokenizerFast, items: list[corpus.Example], rendered: list[list[corpus.Segment]]
) -> list[Row]:
    """Token rows; a segment's tokens are learned if the segment is.

    Encoding segment by segment must equal encoding the whole text (every boundary is a
    special token or a newline, each its own token): checked for every row, because that
    equality is what makes a row look exactly like the prompt-plus-reply the engine sees.
    """
    flat = [text for segs in rendered for text, _ in segs]
    pieces = tok(flat, add_special_tokens=False)["input_ids"]
    wholes = tok(["".join(t for t, _ in segs) for segs in rendered], add_special_tokens=False)
    rows: list[Row] = []
    cursor = 0
    for item, segs, whole in zip(items, rendered, wholes["input_ids"], strict=True):
        ids: list[int] = []
        labels: list[int] = []
        shared = len(pieces[cursor]) if item.tools else 0  # the first segment: the tool list
        for _text, learned in segs:
            seg_ids = pieces[cursor]
            cursor += 1
            ids += seg_ids
            labels += seg_ids if learned else [IGNORE] * len(seg_ids)
        if ids != whole:
            raise corpus.CorpusError(f"segment tokens differ from the whole: {segs!r}")
        if any(label != IGNORE for label in labels[: shared + 1]):
            raise corpus.CorpusError("a learned token inside the shared prefix")
        rows.append(Row(ids, labels, shared))
    return rows


def batches(rows: list[Row], budget: int, gen: torch.Generator) -> list[list[int]]:
    """Row indices per batch: one tool list per batch, similar lengths together.

    Rows that declare the same tools (same system turn) share a batch, so that turn is
    computed once per batch (see `loss_of`); a batch costs about `budget` tokens, the shared
    turn once plus each row's rest padded to the longest. Shuffled, then sorted by length
    within windows of 64 batches' worth, then the batches are shuffled: every epoch differs,
    and padding stays small.
    """
    order = torch.randperm(len(rows), generator=gen).tolist()
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i in order:
        groups[tuple(rows[i].ids[: rows[i].shared])].append(i)
    out: list[list[int]] = []
    for prefix, members in groups.items():
        window = max(1, 64 * budget // 150)
        for start in range(0, len(members), window):
            chunk = sorted(members[start : start + window], key=lambda i: len(rows[i].ids))
            batch: list[int] = []
            width = 0
            for i in chunk:
                rest = len(rows[i].ids) - len(prefix)
                if batch and len(prefix) + max(width, rest) * (len(batch) + 1) > budget:
                    out.append(batch)
                    batch, width = [], 0
                batch.append(i)
                width = max(width, rest)
            if batch:
                out.append(batch)
    shuffle = torch.randperm(len(out), generator=gen).tolist()
    return [out[i] for i in shuffle]


def collate(
    rows: list[Row], idx: list[int], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The shared prefix (1, P) and the rest of each row (B, T), right-padded.

    Right padding with labels ignored: causal attention never lets a real token see a pad.
    """
    shared = rows[idx[0]].shared
    prefix = torch.tensor([rows[idx[0]].ids[:shared]], dtype=torch.long)
    width = max(len(rows[i].ids) - shared for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    labels = torch.full((len(idx), width), IGNORE, dtype=torch.long)
    for r, i in enumerate(idx):
        row_ids, row_labels = rows[i].ids[shared:], rows[i].labels[shared:]
        ids[r, : len(row_ids)] = torch.tensor(row_ids)
        labels[r, : len(row_labels)] = torch.tensor(row_labels)
    return prefix, ids, labels


def copy_weights(ids: torch.Tensor, labels: torch.Tensor, heavy: Heavy) -> torch.Tensor:
    """Per-position loss weights (B, T): `heavy.weight` where a learned token is copied
    from elsewhere in the conversation (inside a tool call, or a number anywhere), else 1.

    Those tokens are a few percent of what the model learns, and the only ones it cannot
    memorise: a tool call's arguments come from the question, the answer's numbers from the
    tool's result. Weighting them up spends more of each step on copying.
    """
    opened = torch.cumsum((ids == heavy.call_open).long(), dim=1)
    closed = torch.cumsum((ids == heavy.call_close).long(), dim=1)
    in_call = (opened - closed > 0) | (ids == heavy.call_close)
    digit = torch.isin(ids, heavy.digits)
    weights = torch.ones(ids.shape, dtype=torch.float32)
    weights[(in_call | digit) & (labels != IGNORE)] = heavy.weight
    return weights


def loss_of(
    model: LlamaForCausalLM,
    prefix: torch.Tensor,
    ids: torch.Tensor,
    labels: torch.Tensor,
    heavy: Heavy | None = None,
) -> torch.Tensor:
    """Cross-entropy over the learned tokens of rows that all start with `prefix`: the
    mean, or with `heavy` the mean weighted by `copy_weights`.

    Two savings, both exact: the prefix's keys and values are computed for one row and
    broadcast to the batch (its gradient sums over the rows; the prefix holds no learned
    token, and the first token after it, <|im_start|>, is not learned either), and logits
    are computed only where a token is learned (about a quarter of the positions), not
    over the whole vocabulary at every position.
    """
    cache = None
    if prefix.shape[1]:
        cache = model.model(input_ids=prefix, use_cache=True).cache
        for layer in cache.layers:
            layer.keys = layer.keys.expand(ids.shape[0], -1, -1, -1)
            layer.values = layer.values.expand(ids.shape[0], -1, -1, -1)
    hidden = model.model(input_ids=ids, cache=cache, use_cache=cache is not None).last_hidden_state
    targets = labels[:, 1:]  # position t predicts token t + 1
    learned = targets != IGNORE
    logits = model.lm_head(hidden[:, :-1][learned])
    if heavy is None or heavy.weight == 1.0:
        return torch.nn.functional.cross_entropy(logits, targets[learned])
    losses = torch.nn.functional.cross_entropy(logits.float(), targets[learned], reduction="none")
    weights = copy_weights(ids, labels, heavy)[:, 1:][learned]
    return (losses * weights).sum() / weights.sum()


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))  # cosine to 10%


def prepare(args: argparse.Namespace) -> tuple[PreTrainedTokenizerFast, list[Row]]:
    items = list(corpus.examples(args.conversations, seed=args.seed))  # validated
    rendered = [corpus.render(item) for item in items]
    tok = train_tokenizer(tokenizer_texts(rendered), vocab_size=args.vocab)
    check_template(tok, items, rendered)
    rows = encode(tok, items, rendered)
    lengths = [len(row.ids) for row in rows]
    learned = sum(sum(label != IGNORE for label in row.labels) for row in rows)
    heavy = heavy_tokens(tok, 2.0)  # any weight above 1 marks the tokens
    copied = sum(
        int((copy_weights(torch.tensor([r.ids]), torch.tensor([r.labels]), heavy) > 1).sum())
        for r in rows
    )
    print(
        f"corpus: {len(items)} conversations ({sum(bool(i.tools) for i in items)} with tools, "
        f"{sum(i.thinking for i in items)} thinking), {sum(lengths)} tokens ({learned} learned, "
        f"{copied} of them weighted {args.copy_weight:g}), longest {max(lengths)}, "
        f"vocab {len(tok)}; template checked",
        flush=True,
    )
    if max(lengths) > args.max_len:
        raise SystemExit(f"a conversation has {max(lengths)} tokens, over --max-len {args.max_len}")
    return tok, rows


def train(args: argparse.Namespace) -> None:
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    started = time.monotonic()

    tok, rows = prepare(args)
    eos_id = token_id(tok, IM_END)
    pad_id = token_id(tok, ENDOFTEXT)
    heavy = heavy_tokens(tok, args.copy_weight)
    model = LlamaForCausalLM(model_config(args, len(tok), pad_id, eos_id))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters", flush=True)
    opt = torch.optim.AdamW(
        model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1, fused=False
    )
    gen = torch.Generator().manual_seed(args.seed)
    plan: list[list[int]] = []
    model.train()
    t0 = time.monotonic()
    tokens_seen = 0
    smooth = float("nan")
    for step in range(args.steps):
        if not plan:  # next epoch, new shuffle
            plan = batches(rows, args.batch_tokens, gen)
        idx = plan.pop()
        prefix, ids, labels = collate(rows, idx, pad_id)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        # Mixed precision: bfloat16 matmuls (about 1.5x faster on a CPU with AVX512-BF16),
        # float32 weights, optimizer and loss. The saved checkpoint is float32.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = loss_of(model, prefix, ids, labels, heavy)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens_seen += prefix.numel() + ids.numel()
        value = float(loss.item())
        smooth = value if math.isnan(smooth) else 0.95 * smooth + 0.05 * value
        if step % args.log_every == 0 or step == args.steps - 1:
            elapsed = time.monotonic() - t0
            eta = elapsed / (step + 1) * (args.steps - step - 1)
            print(
                f"step {step + 1}/{args.steps} loss {value:.4f} (avg {smooth:.4f}) "
                f"lr {lr_at(step, args.steps, args.lr, args.warmup):.2e} "
                f"{tokens_seen / elapsed:.0f} tok/s eta {eta / 60:.1f} min",
                flush=True,
            )
    save(model, tok, Path(args.out), eos_id, pad_id)
    minutes = (time.monotonic() - started) / 60
    print(f"done in {minutes:.1f} min, final avg loss {smooth:.4f}, saved to {args.out}")


def save(
    model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, out: Path, eos_id: int, pad_id: int
) -> None:
    # Write next to the target and swap at the end, so a reader never sees half a model.
    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    # transformers leaves this constructor unannotated; the arguments are plain values.
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        eos_token_id=eos_id, pad_token_id=pad_id, bos_token_id=None, **SAMPLING
    )
    model.save_pretrained(staging)  # safetensors is the only format in transformers 5
    tok.save_pretrained(staging)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", default=str(DEMO_MODEL_DIR), help="checkpoint directory")
    p.add_argument("--steps", type=int, default=2200)
    p.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy machine")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-tokens", type=int, default=3072, help="computed tokens per step")
    p.add_argument("--max-len", type=int, default=1024, help="refuse longer conversations")
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="of the matmuls")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--vocab", type=int, default=4096, help="BPE target vocabulary size")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256, help="a multiple of 64 (the head size)")
    p.add_argument("--mlp", type=int, default=688)
    p.add_argument("--conversations", type=int, default=50000)
    p.add_argument(
        "--copy-weight",
        type=float,
        default=3.0,
        help="loss weight of learned tokens inside tool calls and of learned numbers",
    )
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--dry-run", action="store_true", help="build and check the corpus only")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.dry_run:
        prepare(args)
        return
    train(args)


if __name__ == "__main__":
    main()
