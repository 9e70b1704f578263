"""The peer benchmark's checkpoint: `python benchmarks/checkpoint.py OUT_DIR [--gguf ...]`.

One random-weight Llama of the SmolLM2-135M shape (`benchmarks.engine.smollm2_shape`: hidden
576, 30 layers, 9 heads, 3 KV heads, intermediate 1536, vocab 49152, tied embeddings), fp32
safetensors, with a fast tokenizer, a ChatML chat template (`benchmarks.engine.CHATML`) and a
generation config, that every server of `benchmarks/peers.py` loads: tickertape (`--model DIR`),
vLLM, `transformers serve`, and llama.cpp's `llama-server` through an F32 GGUF written by the
converter shipped in the llama.cpp sources (`convert_hf_to_gguf.py`).

The tokenizer (`bpe_tokenizer`) differs from `benchmarks.engine.tokenizer` in one way that
matters to llama.cpp: it has BPE merges. llama.cpp refuses a GPT-2-style vocabulary without
merges, and the engine benchmark's tokenizer has none (every byte is its own token there). Here:
ids 0-2 are `<|endoftext|>`, `<|im_start|>`, `<|im_end|>` (the same as the engine benchmark's
and SmolLM2's), then the 256 byte-level symbols, then merged tokens in merge order: space+letter
(`Ġa`), space+two letters (`Ġab`), space+three letters (`Ġabc`, as many as fit), then letter
pairs without a space (`ab`). Exactly 49152 ids, every one decodes to text. Pre-tokenization is
GPT-2's (byte-level with GPT-2's split regex), which llama.cpp implements as the pre-tokenizer
named `gpt-2`.

Why the converter has to be told that name: `convert_hf_to_gguf.py` identifies a BPE
pre-tokenizer by hashing the token ids it gets for a fixed test string, and knows only the
hashes of published tokenizers; a tokenizer made here cannot have one of them (the hash covers
the vocabulary too). `convert_to_gguf` therefore runs the unmodified converter in a small
wrapper that answers its `get_vocab_base_pre` with `gpt-2` (the converter's own code path for
writing the vocabulary, merges and chat template is used unchanged). `peers.py --check-tokenizer`
compares llama-server's `/tokenize` with the Hugging Face tokenizer on the benchmark's prompts.
"""

from __future__ import annotations

import argparse
import json
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "backend", ROOT):  # run as a script: this checkout's code (benchmarks.engine)
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

VOCAB = 49152
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
EOS_ID = 2
SPACE = "Ġ"  # the byte-level symbol of " "
LETTERS = string.ascii_letters
MARKER = "peer-checkpoint.json"  # written last: a directory with it is complete


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    from tokenizers import pre_tokenizers

    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    merges: list[tuple[str, str]] = []

    def add(left: str, right: str) -> bool:
        if len(vocab) >= VOCAB:
            return False
        vocab[left + right] = len(vocab)
        merges.append((left, right))
        return True

    for a in LETTERS:
        add(SPACE, a)
    for a in LETTERS:
        for b in LETTERS:
            add(SPACE + a, b)
    pairs = len(LETTERS) ** 2  # letter pairs come last, but their room is kept
    for a in LETTERS:
        for b in LETTERS:
            for c in LETTERS:
                if len(vocab) < VOCAB - pairs:
                    add(SPACE + a + b, c)
    for a in LETTERS:
        for b in LETTERS:
            add(a, b)
    assert len(vocab) == VOCAB, len(vocab)
    return vocab, merges


def single_token_words() -> list[str]:
    """Words that encode to one token after a space (`Ġabc`): the benchmark's prompt words."""
    vocab, _ = _vocab_and_merges()
    return [tok[1:] for tok in vocab if tok.startswith(SPACE) and len(tok) == 4]


def bpe_tokenizer() -> Any:
    """A GPT-2-style byte-level BPE tokenizer with exactly VOCAB ids and merges (see above)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from benchmarks.engine import CHATML

    vocab, merges = _vocab_and_merges()
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    wrapped: Any = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=SPECIALS[EOS_ID],
        pad_token=SPECIALS[0],
        bos_token=None,
        unk_token=None,
    )
    wrapped.add_special_tokens({"additional_special_tokens": [SPECIALS[1]]})
    wrapped.chat_template = CHATML
    return wrapped


def build_checkpoint(out: Path, seed: int = 0) -> Path:
    """Write the checkpoint to `out` (kept if already complete); return `out`."""
    if (out / MARKER).exists():
        log(f"checkpoint {out} exists")
        return out
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    from benchmarks.engine import smollm2_shape

    log(f"building the SmolLM2-135M-shaped checkpoint (random weights, seed {seed}) in {out}")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = smollm2_shape()
    config.dtype = torch.float32
    model: Any = LlamaForCausalLM(config)
    model = model.float()
    model.generation_config = GenerationConfig(
        eos_token_id=EOS_ID, pad_token_id=0, do_sample=False, max_new_tokens=256
    )
    model.save_pretrained(out, safe_serialization=True)
    tok = bpe_tokenizer()
    tok.save_pretrained(out)
    _check_saved(out)
    (out / MARKER).write_text(
        json.dumps({"shape": "SmolLM2-135M", "dtype": "float32", "seed": seed}, indent=1) + "\n"
    )
    return out


def _check_saved(out: Path) -> None:
    """The saved tokenizer reloads with the same ids, template and EOS."""
    from transformers import AutoConfig, AutoTokenizer

    tok: Any = AutoTokenizer.from_pretrained(out)
    assert len(tok) == VOCAB, len(tok)
    assert tok.eos_token_id == EOS_ID
    ids = tok.apply_chat_template([{"role": "user", "content": "hello world"}], tokenize=False)
    assert ids.startswith("<|im_start|>user\n"), ids
    assert AutoConfig.from_pretrained(out).vocab_size == VOCAB
    words = " ".join(single_token_words()[:5])
    assert len(tok(" " + words, add_special_tokens=False)["input_ids"]) == 5


# Runs inside the converter's Python: the unmodified llama.cpp converter, told the pre-tokenizer.
_CONVERT_WRAPPER = """
import runpy, sys
src, pre = sys.argv[1], sys.argv[2]
sys.path.insert(0, src)
sys.path.insert(1, src + "/gguf-py")
from conversion import base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
sys.argv = [src + "/convert_hf_to_gguf.py", *sys.argv[3:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def convert_to_gguf(checkpoint: Path, llama_cpp_src: Path, python: str, out: Path) -> Path:
    """F32 GGUF of `checkpoint` with the converter of the llama.cpp sources at `llama_cpp_src`."""
    if out.exists() and out.stat().st_mtime >= (checkpoint / MARKER).stat().st_mtime:
        log(f"GGUF {out} exists")
        return out
    script = llama_cpp_src / "convert_hf_to_gguf.py"
    if not script.exists():
        raise SystemExit(f"no convert_hf_to_gguf.py in {llama_cpp_src}")
    log(f"converting {checkpoint} to {out} (F32) with {script}")
    tmp = out.with_suffix(".tmp.gguf")
    subprocess.run(
        [
            python,
            "-c",
            _CONVERT_WRAPPER,
            str(llama_cpp_src),
            "gpt-2",
            str(checkpoint),
            "--outtype",
            "f32",
            "--outfile",
            str(tmp),
        ],
        check=True,
    )
    tmp.replace(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="checkpoint directory (created)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gguf", type=Path, help="also write an F32 GGUF here")
    parser.add_argument("--llama-cpp-src", type=Path, help="llama.cpp source tree (for --gguf)")
    parser.add_argument(
        "--convert-python", default=sys.executable, help="Python with the converter's packages"
    )
    args = parser.parse_args()
    build_checkpoint(args.out, args.seed)
    if args.gguf:
        if not args.llama_cpp_src:
            parser.error("--gguf needs --llama-cpp-src")
        convert_to_gguf(args.out, args.llama_cpp_src, args.convert_python, args.gguf)


if __name__ == "__main__":
    main()
