"""Exactness through the real WebSocket path: the app (chat service, store, transport)
served by uvicorn with the real local engine on each tiny checkpoint; concurrent `chat`
frames, greedy with `ignore_eos`; the streamed `token` texts and `usage` must be
`generate`'s, with a roomy batch and with a tight one (replies wait, prompts split)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.engine import tiny
from tests.engine.conftest import Matrix
from tests.engine.exactness import NEW_TOKENS, Reply, mismatches
from tests.support.app_server import serve_app
from tests.support.wsclient import client
from tickertape.resources import build_engine

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "tight": {"max_batch": 3, "prefill_chunk": 16},
}
PARAMS = {"temperature": 0.0, "ignore_eos": True, "max_tokens": NEW_TOKENS}


async def ws_reply(url: str, token: str, content: str, msg_id: str) -> Reply:
    async with client(url, token) as c:
        accepted = await c.chat(content, msg_id, params=PARAMS)
        assert accepted["type"] == "accepted", accepted
        text, _tokens, end = await c.collect_reply(accepted["reply_id"])
    assert end["finish_reason"] == "length", end
    return Reply(text, end["usage"]["completion_tokens"])


@pytest.mark.parametrize("name", sorted(tiny.ARCHITECTURES))
async def test_websocket_replies_are_generate_exactly(
    matrix: Matrix, name: str, tmp_path: Path
) -> None:
    case = matrix(name)
    contents = [conv[-1].content for conv in case.conversations]
    for variant, extra in VARIANTS.items():
        (tmp_path / variant).mkdir()
        async with serve_app(
            tmp_path / variant,
            build_engine,
            model=str(case.model_dir),
            dtype="float32",
            max_concurrent_replies=len(contents),
            **extra,
        ) as server:
            token = server.token("alice")
            got = await asyncio.gather(
                *(ws_reply(server.ws_url, token, c, f"m{i}") for i, c in enumerate(contents))
            )
        assert not mismatches(got, case.want), (variant, mismatches(got, case.want))
