"""Drop a background response's stream, let it go on, re-attach with `starting_after`;
over and over (TICKERTAPE_TEST_RESPONSE_CYCLES, 500 by default). The scripted engine's
`paced` replies advance only when the test releases a step, so each cycle knows how far
its reply may have got without waiting for time. Finished replies leave memory at once
(`resume_retention_s` 0): a re-attach after the end reads the frames from the store."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.openai.responses_support import responses_app, sse_events

CYCLES = int(os.environ.get("TICKERTAPE_TEST_RESPONSE_CYCLES", "500"))
WORDS = 12  # per reply
TERMINAL = {"response.completed", "response.incomplete", "response.failed"}

pytestmark = pytest.mark.timeout(300)


@dataclass
class Held:
    """What the client holds of one response."""

    response_id: str = ""
    last: int = -1  # the last sequence_number seen
    text: str = ""
    released: int = 0  # steps released to the engine for this reply
    ended: bool = False
    final_text: str | None = None
    violations: list[str] = field(default_factory=list)

    def may_read_more(self) -> bool:
        """Whether the next event is sure to come (so that reading it cannot hang)."""
        if self.ended:
            return False
        if self.released == WORDS:
            return True  # everything up to the end will come
        if self.released == 0:
            return self.last < 1  # response.created and response.in_progress
        if self.last < 3:
            return True  # the output item opens with the first text
        return len(self.text) < len("".join(f" w{i}" for i in range(self.released)))


async def test_drop_and_reattach_without_gap_or_repeat(tmp_path: Path) -> None:
    seed = int(os.environ.get("TICKERTAPE_TEST_SEED", random.randrange(2**32)))
    print(f"response resume seed {seed}")
    rng = random.Random(seed)
    held_all: list[Held] = []
    async with (
        responses_app(tmp_path, resume_retention_s=0, messages_per_minute=100_000) as rs,
        rs.http() as http,
    ):
        held = Held()
        for _ in range(CYCLES):
            if held.ended or not held.response_id:
                held = Held()
                held_all.append(held)
                body = {
                    "input": "paced",
                    "background": True,
                    "stream": True,
                    "max_output_tokens": WORDS,
                }
                request = http.stream("POST", "/v1/responses", json=body)
                wanted = rng.randint(1, 5)  # at least response.created: its id
            else:
                steps = min(rng.randint(0, 3), WORDS - held.released)
                for _ in range(steps):
                    rs.engine.steps.release()
                held.released += steps
                query = {"stream": "true"}
                if held.last >= 0:
                    query["starting_after"] = str(held.last)
                request = http.stream("GET", f"/v1/responses/{held.response_id}", params=query)
                wanted = rng.randint(0, 5)
            async with request as response:
                assert response.status_code == 200
                if wanted and held.may_read_more():
                    read = 0
                    async for event in sse_events(response):
                        _take(held, event)
                        read += 1
                        if read >= wanted or not held.may_read_more():
                            break
            # Leaving the block drops the connection; the background reply goes on.
        for held in held_all:
            if held.response_id and held.ended:
                stored = await http.get(f"/v1/responses/{held.response_id}")
                output = stored.json()["output"]
                assert output[0]["content"][0]["text"] == held.text
    violations = [v for held in held_all for v in held.violations]
    finished = [held for held in held_all if held.ended]
    print(f"{CYCLES} cycles, {len(held_all)} responses, {len(finished)} finished")
    assert violations == []
    assert len(finished) >= min(3, CYCLES // 40)
    for held in finished:
        assert held.final_text == held.text == "".join(f" w{i}" for i in range(WORDS))


def _take(held: Held, event: dict[str, object]) -> None:
    number = event["sequence_number"]
    assert isinstance(number, int)
    if number != held.last + 1:
        held.violations.append(f"{held.response_id}: event {number} after {held.last}")
    held.last = number
    kind = event["type"]
    if kind == "response.created":
        response = event["response"]
        assert isinstance(response, dict)
        held.response_id = str(response["id"])
    elif kind == "response.output_text.delta":
        held.text += str(event["delta"])
    elif kind in TERMINAL:
        held.ended = True
        response = event["response"]
        assert isinstance(response, dict)
        held.final_text = response["output"][0]["content"][0]["text"]
