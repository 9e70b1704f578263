"""The official `openai` client against a real tickertape with the real local engine."""

from __future__ import annotations

from typing import Any

import pytest

import openai
from openai import OpenAI
from tests.support.server import ServerProcess


def make_client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=f"{server.base_url}/v1", api_key="unused-in-auth-none", timeout=60)


def test_models_and_non_streaming_with_max_tokens(live_server: ServerProcess) -> None:
    api = make_client(live_server)
    (model,) = [m.id for m in api.models.list()]
    done = api.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Tell me about cats."}],
        max_tokens=5,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    assert done.choices[0].finish_reason == "length"
    assert done.usage is not None
    assert done.usage.completion_tokens == 5
    assert done.choices[0].message.content


def test_streaming_with_a_stop_sequence(live_server: ServerProcess) -> None:
    api = make_client(live_server)
    model = api.models.list().data[0].id
    prompt = [{"role": "user", "content": "Hello!"}]
    full = api.chat.completions.create(model=model, messages=prompt, temperature=0, max_tokens=40)
    text = full.choices[0].message.content or ""
    assert len(text) > 4
    stop = text[3:5]  # a stop string that certainly occurs in the greedy reply
    chunks = list(
        api.chat.completions.create(
            model=model, messages=prompt, temperature=0, max_tokens=40, stop=[stop], stream=True
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text[: text.index(stop)]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_store_true_keeps_the_exchange(live_server: ServerProcess) -> None:
    api = make_client(live_server)
    model = api.models.list().data[0].id
    marker = "storeme-openai-exchange"
    done = api.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": f"Remember {marker}"}],
        max_tokens=6,
        temperature=0,
        extra_body={"store": True},
    )
    with live_server.http() as http:
        found = http.get("/api/admin/conversations", params={"q": marker}).json()["items"]
        assert len(found) == 1
        convo = http.get(f"/api/conversations/{found[0]['id']}").json()
    assert [m["role"] for m in convo["messages"]] == ["user", "assistant"]
    assert convo["messages"][1]["content"] == done.choices[0].message.content


def test_a_history_longer_than_the_context_is_refused_unless_truncation_is_asked(
    live_server: ServerProcess,
) -> None:
    """OpenAI answers 400 `context_length_exceeded`; nothing is left out silently. The
    Responses API leaves the oldest turns out only with `truncation: "auto"`."""
    api = make_client(live_server)
    model = api.models.list().data[0].id
    (entry,) = [m for m in api.models.list().data if m.id == model]
    context = int(getattr(entry, "max_model_len"))  # noqa: B009 (an extension field)
    turn = "hello there " * 100
    one = api.chat.completions.create(
        model=model, messages=[{"role": "user", "content": turn}], max_tokens=2
    )
    assert one.usage is not None
    n = 2 * (context // one.usage.prompt_tokens) + 3  # well past the context
    history: list[Any] = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": turn} for i in range(n)
    ]
    with pytest.raises(openai.BadRequestError) as refused:
        api.chat.completions.create(model=model, messages=history, max_tokens=2)
    assert refused.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as disabled:
        api.responses.create(model=model, input=history, max_output_tokens=2, store=False)
    assert disabled.value.code == "context_length_exceeded"
    cut = api.responses.create(
        model=model, input=history, max_output_tokens=2, store=False, truncation="auto"
    )
    assert cut.status == "incomplete"
    assert cut.usage is not None
    assert one.usage.prompt_tokens <= cut.usage.input_tokens <= context
