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


EXAMPLES = {"json": 3000, "near_valid": 4500, "raw": 2500}


@pytest.fixture(scope="module")
def fuzz(deployment: Deployment) -> Iterator[FuzzClient]:
    with FuzzClient(deployment.server.ws_url, deployment.user_token) as client:
        yield client


@pytest.fixture(scope="module", autouse=True)
def enough_frames(fuzz: FuzzClient, deployment: Deployment) -> Iterator[None]:
    yield
    assert fuzz.frames_sent >= sum(EXAMPLES.values())
    fuzz.ping()  # still serving on the same connection
    with FuzzClient(deployment.server.ws_url, deployment.user_token) as fresh:
        fresh.ping()  # and new connections work
    assert_clean_log(deployment.server)


def test_arbitrary_json(fuzz: FuzzClient) -> None:
    @fuzz_settings(EXAMPLES["json"])
    @given(strategies.json_frames)
    def run(text: str) -> None:
        fuzz.exchange(text)

    run()


def test_near_valid_frames(fuzz: FuzzClient) -> None:
    @fuzz_settings(EXAMPLES["near_valid"])
    @given(strategies.near_valid_frames)
    def run(text: str) -> None:
        fuzz.exchange(text)

    run()


def test_raw_text(fuzz: FuzzClient) -> None:
    @fuzz_settings(EXAMPLES["raw"])
    @given(strategies.raw_texts | st.just(""))
    def run(text: str) -> None:
        fuzz.exchange(text)

    run()
