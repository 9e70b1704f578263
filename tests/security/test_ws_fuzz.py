"""Hypothesis against one real server: 10,000+ frames over a few WebSocket connections.

Every frame gets the answer the contract promises (checked by `FuzzClient`), the server
logs no error, and it keeps serving afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security import strategies
from tests.security.conftest import Deployment, assert_clean_log
from tests.security.fuzzclient import FuzzClient


# Derandomized: CI runs the same 10,000 frames every time, and a failure reproduces.
def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


# Each example is a burst of frames (Hypothesis' cost is mostly per example, so bursts
# buy many more frames per second); at least 10,000 frames in all, checked at the end.
BURST = {"min_size": 8, "max_size": 12}
EXAMPLES = {"json": 350, "near_valid": 450, "raw": 350}
MIN_FRAMES = 10_000


@pytest.fixture(scope="module")
def fuzz(deployment: Deployment) -> Iterator[FuzzClient]:
    with FuzzClient(deployment.server.ws_url, deployment.user_token) as client:
        yield client


@pytest.fixture(scope="module", autouse=True)
def enough_frames(fuzz: FuzzClient, deployment: Deployment) -> Iterator[None]:
    yield
    print(f"fuzz: {fuzz.frames_sent} frames, {fuzz.reconnects} reconnects, {dict(fuzz.kinds)}")
    print("fuzz seconds:", {k: round(v, 1) for k, v in fuzz.seconds.items()})
    assert fuzz.frames_sent >= MIN_FRAMES
    fuzz.ping()  # still serving on the same connection
    with FuzzClient(deployment.server.ws_url, deployment.user_token) as fresh:
        fresh.ping()  # and new connections work
    assert_clean_log(deployment.server)


def test_arbitrary_json(fuzz: FuzzClient) -> None:
    @fuzz_settings(EXAMPLES["json"])
    @given(st.lists(strategies.json_frames, **BURST))
    def run(texts: list[str]) -> None:
        for text in texts:
            fuzz.exchange(text)

    run()


def test_near_valid_frames(fuzz: FuzzClient) -> None:
    @fuzz_settings(EXAMPLES["near_valid"])
    @given(st.lists(strategies.near_valid_frames, **BURST))
    def run(texts: list[str]) -> None:
        for text in texts:
            fuzz.exchange(text)

    run()


def test_raw_text(fuzz: FuzzClient) -> None:
    @fuzz_settings(EXAMPLES["raw"])
    @given(st.lists(strategies.raw_texts | st.just(""), **BURST))
    def run(texts: list[str]) -> None:
        for text in texts:
            fuzz.exchange(text)

    run()
