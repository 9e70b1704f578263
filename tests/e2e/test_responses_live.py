"""The official `openai` client's Responses API against a real `tickertape serve` with the
demo model: streaming, background + poll + re-attach, cancel, WebSocket mode; and a
background response across SIGKILL and restart (TICKERTAPE_TEST_RESPONSE_KILLS times)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from openai import OpenAI
from tests.support.server import ServerProcess, make_server

KILLS = int(os.environ.get("TICKERTAPE_TEST_RESPONSE_KILLS", "2"))
LONG: dict[str, Any] = {"ignore_eos": True}
TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


def make_client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=f"{server.base_url}/v1", api_key="unused-in-auth-none", timeout=60)


def test_streaming(live_server: ServerProcess) -> None:
    api = make_client(live_server)
    events = list(
        api.responses.create(
            input="Tell me about cats.", stream=True, max_output_tokens=12, temperature=0
        )
    )
    assert events[0].type == "response.created"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1]
    assert final.type in ("response.completed", "response.incomplete")
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.response.output_text
    assert deltas
    again = api.responses.retrieve(final.response.id)
    assert again.output_text == deltas


def test_background_poll_and_reattach(live_server: ServerProcess) -> None:
    api = make_client(live_server)
    started = api.responses.create(
        input="Tell me about the sea.", background=True, max_output_tokens=40, extra_body=LONG
    )
    assert started.status in ("queued", "in_progress")
    polled = api.responses.retrieve(started.id)
    assert polled.status in ("queued", "in_progress", "incomplete")
    # Re-attach: the whole stream from the start, live to its end.
    events = list(api.responses.retrieve(started.id, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.incomplete"  # 40 tokens: max_output_tokens
    done = api.responses.retrieve(started.id)
    assert (done.status, done.incomplete_details.reason) == ("incomplete", "max_output_tokens")  # type: ignore[union-attr]
    assert done.usage is not None
    assert done.usage.output_tokens == 40
    assert done.output_text == "".join(
        e.delta for e in events if e.type == "response.output_text.delta"
    )
    # From event 5 on: exactly the tail of the same rendering.
    tail = list(api.responses.retrieve(started.id, stream=True, starting_after=5))
    assert [e.model_dump() for e in tail] == [e.model_dump() for e in events[6:]]


def test_cancel(live_server: ServerProcess) -> None:
    api = make_client(live_server)
    started = api.responses.create(
        input="Tell me everything.", background=True, max_output_tokens=500, extra_body=LONG
    )
    with api.responses.retrieve(started.id, stream=True) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break  # it is generating
    cancelled = api.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    assert cancelled.usage is not None
    assert 0 < cancelled.usage.output_tokens < 500
    assert api.responses.retrieve(started.id).status == "cancelled"


def test_websocket_mode(live_server: ServerProcess) -> None:
    api = make_client(live_server)
    with api.responses.connect() as connection:
        connection.response.create(input="Hello!", max_output_tokens=8, temperature=0)
        first = _until_end(connection)
        connection.response.create(
            previous_response_id=first.id, input="And then?", max_output_tokens=8
        )
        second = _until_end(connection)
    assert second.previous_response_id == first.id
    assert first.output_text
    assert api.responses.retrieve(second.id).output_text == second.output_text


def _until_end(connection: Any) -> Any:
    for event in connection:
        assert event.type != "error", event
        if event.type in TERMINAL:
            return event.response
    raise AssertionError("the connection closed before the response ended")


@pytest.mark.slow
def test_a_background_response_across_sigkill_and_restart(tmp_path: Path) -> None:
    seed = int(os.environ.get("TICKERTAPE_TEST_SEED", random.randrange(2**32)))
    print(f"responses crash test seed {seed}")
    rng = random.Random(seed)
    server = make_server(tmp_path, "--max-tokens", "1000", "--checkpoint-interval-ms", "50")
    held: dict[str, tuple[int, str]] = {}  # response id -> (last event, text) at the kill
    for _ in range(KILLS):
        server.start()
        api = make_client(server)
        stream = api.responses.create(
            input="Tell me about the sea.",
            stream=True,
            background=True,
            max_output_tokens=1000,
            extra_body=LONG,
        )
        last, text, response_id = -1, "", ""
        for event in stream:
            assert event.sequence_number == last + 1
            last = event.sequence_number
            if event.type == "response.created":
                response_id = event.response.id
            elif event.type == "response.output_text.delta":
                text += event.delta
                if len(text) > rng.randrange(1, 400):
                    break
        held[response_id] = (last, text)
        server.kill()
    server.start()
    try:
        api = make_client(server)
        for response_id, (last, text) in held.items():
            events = list(api.responses.retrieve(response_id, stream=True, starting_after=last))
            final = events[-1]
            assert final.type == "response.incomplete"
            assert final.response.incomplete_details.reason == "interrupted"  # type: ignore[union-attr]
            stored = final.response.output_text
            resumed = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            numbers = [e.sequence_number for e in events]
            if numbers[0] == last + 1:
                assert numbers == list(range(last + 1, last + 1 + len(events)))
            else:  # the client held more events than the stored rendering has
                assert len(events) == 1
            # The stored text is a prefix of what was streamed (what the crash did not
            # lose, frame by frame); a client that held less got the rest.
            assert (text + resumed).startswith(stored)
            if len(stored) >= len(text):
                assert text + resumed == stored
            assert api.responses.retrieve(response_id).status == "incomplete"
        with server.http() as http:
            items = http.get("/api/conversations", params={"limit": 100}).json()["items"]
            assert len(items) == KILLS  # every accepted turn is there, once
    finally:
        server.stop()
