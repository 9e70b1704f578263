"""Train the embedded demo model: `python -m tickertape.engine.demo.train [--out DIR] ...`.

Corpus -> byte-level BPE tokenizer -> packed ChatML sequences -> a tiny Llama (GQA, tied
embeddings). Loss is on assistant tokens only, so the capacity goes into answering, not
into predicting which random question the corpus generator picked. Everything is seeded,
so the same arguments reproduce the same checkpoint on the same torch build.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import time
from pathlib import Path

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from tickertape.engine.demo import DEMO_MODEL_DIR, corpus
from tickertape.engine.demo.tokenizer import ENDOFTEXT, IM_END, train_tokenizer

IGNORE = -100  # the label index transformers' loss skips


def model_config(vocab_size: int, pad_id: int, eos_id: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,  # GQA on purpose: the engine's KV cache must handle it
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


def encode_conversation(
    tok: PreTrainedTokenizerFast, messages: list[corpus.Message]
) -> tuple[list[int], list[int]]:
    """ChatML token ids and labels; only assistant content and its <|im_end|> are learned.

    Encoding piece by piece equals encoding the whole string because every piece boundary
    is a special token or a newline, which the byte-level pre-tokenizer splits on anyway.
    """
    ids: list[int] = []
    labels: list[int] = []
    for message in messages:
        head = tok.encode(f"<|im_start|>{message['role']}\n")
        body = tok.encode(message["content"] + IM_END)
        tail = tok.encode("\n")
        learn = message["role"] == "assistant"
        ids += head + body + tail
        labels += [IGNORE] * len(head) + (body if learn else [IGNORE] * len(body))
        labels += [IGNORE] * len(tail)
    return ids, labels


def pack(
    tok: PreTrainedTokenizerFast, convs: list[list[corpus.Message]], seq_len: int
) -> tuple[torch.Tensor, torch.Tensor]:
    # Conversations are concatenated (separated by <|endoftext|>) and cut into equal rows:
    # no padding is wasted, and crossing a boundary mid-row is harmless at this scale.
    sep = token_id(tok, ENDOFTEXT)
    stream: list[int] = []
    targets: list[int] = []
    for conv in convs:
        ids, labels = encode_conversation(tok, conv)
        stream += [*ids, sep]
        targets += [*labels, IGNORE]
    rows = len(stream) // seq_len
    shape = (rows, seq_len)
    return (
        torch.tensor(stream[: rows * seq_len]).view(shape),
        torch.tensor(targets[: rows * seq_len]).view(shape),
    )


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))  # cosine to 10%


def train(args: argparse.Namespace) -> None:
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    started = time.monotonic()

    convs = list(corpus.conversations(args.conversations, seed=args.seed))
    texts = [m["content"] for conv in convs for m in conv] + ["system", "user", "assistant"]
    tok = train_tokenizer(texts, vocab_size=args.vocab)
    inputs, labels = pack(tok, convs, args.seq_len)
    eos_id = token_id(tok, IM_END)
    pad_id = token_id(tok, ENDOFTEXT)
    print(f"corpus: {len(convs)} conversations, {inputs.numel()} tokens, vocab {len(tok)}")

    model = LlamaForCausalLM(model_config(len(tok), pad_id, eos_id))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters", flush=True)
    opt = torch.optim.AdamW(
        model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1, fused=False
    )
    gen = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(inputs.shape[0], generator=gen)
    cursor = 0
    model.train()
    t0 = time.monotonic()
    tokens_seen = 0
    smooth = float("nan")
    for step in range(args.steps):
        if cursor + args.batch > len(order):  # next epoch, new shuffle
            order, cursor = torch.randperm(inputs.shape[0], generator=gen), 0
        idx = order[cursor : cursor + args.batch]
        cursor += args.batch
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        loss = model(input_ids=inputs[idx], labels=labels[idx]).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens_seen += idx.numel() * args.seq_len
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
    # transformers leaves this constructor unannotated; the arguments are plain ints.
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        eos_token_id=eos_id, pad_token_id=pad_id, bos_token_id=None
    )
    model.save_pretrained(staging)  # safetensors is the only format in transformers 5
    tok.save_pretrained(staging)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", default=str(DEMO_MODEL_DIR), help="checkpoint directory")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy machine")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=16, help="rows per step")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--vocab", type=int, default=2048, help="BPE target vocabulary size")
    p.add_argument("--conversations", type=int, default=30000)
    p.add_argument("--log-every", type=int, default=10)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
