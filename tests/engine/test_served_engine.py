"""The engine as the server runs it: refusal at the command line, metrics, multi-turn reuse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from transformers import AutoConfig

from tests.engine import tiny
from tests.support.app_server import serve_app
from tests.support.server import free_port
from tests.support.wsclient import client
from tickertape.resources import build_engine


def serve_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tickertape",
            "serve",
            "--auth",
            "none",
            "--port",
            str(free_port()),
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path / 'tickertape.db'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_unservable_checkpoint_is_refused_in_one_line_before_loading(tmp_path: Path) -> None:
    model_dir = tmp_path / "falcon"
    AutoConfig.for_model("falcon", vocab_size=100).save_pretrained(model_dir)  # no weights
    done = serve_cli(tmp_path, "--model", str(model_dir))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"tickertape: error: --model {model_dir}: model type 'falcon': FalconForCausalLM "
        "does not route its attention through transformers' AttentionInterface"
    ]
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "tickertape.db").exists()  # refused before anything else


def test_max_context_beyond_the_position_limit_is_refused_at_the_cli(tmp_path: Path) -> None:
    model_dir = tiny.build("gpt2", tmp_path / "gpt2")
    done = serve_cli(tmp_path, "--model", str(model_dir), "--max-context", "4096")
    assert done.returncode == 2
    assert "exceeds model type 'gpt2''s position limit (512)" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


async def test_metrics_show_blocks_preemptions_and_prefix_hits(tmp_path: Path) -> None:
    model_dir = tiny.build("llama", tmp_path / "llama")
    params = {"temperature": 0.0, "ignore_eos": True, "max_tokens": 4}
    async with serve_app(tmp_path, build_engine, model=str(model_dir), dtype="float32") as server:
        async with client(server.ws_url, server.token("alice")) as c:
            first = await c.chat(
                "a question long enough to fill whole blocks " * 3, "m1", params=params
            )
            await c.collect_reply(first["reply_id"])
            second = await c.chat(
                "a follow-up",
                "m2",
                conversation_id=first["conversation_id"],
                params=params,
            )
            await c.collect_reply(second["reply_id"])
        async with httpx.AsyncClient(base_url=server.url) as http:
            metrics = (await http.get("/metrics")).text
    values = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("tickertape_engine_")
    }
    assert values["tickertape_engine_kv_blocks_total"] > 0
    assert values["tickertape_engine_kv_blocks_used"] == 0
    assert values["tickertape_engine_preemptions"] == 0
    # The second turn resent the first one's prompt: its full blocks were reused.
    assert values["tickertape_engine_prefix_cache_hit_tokens"] > 0
    assert 0 < values["tickertape_engine_prefix_cache_hit_rate"] < 1
