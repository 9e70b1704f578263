"""Schemathesis against /openapi.json of a real server, as an admin: no 5xx, and every
response matches what the schema declares."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auth.accounts import create_user, database_url
from tests.support.server import ServerProcess, make_server

# Bounded: a fixed seed, a few examples per operation, one worker (CI has two cores).
COMMON = [
    "--seed",
    "1",
    "--max-examples",
    "25",
    "--workers",
    "1",
    "--no-shrink",
    "--phases",
    "examples,coverage,fuzzing",
    "--request-timeout",
    "30",
    "--suppress-health-check",
    "all",
    "--warnings",
    "off",
]
# Not applied, and why:
# - positive_data_acceptance: cursors are opaque, so a schema-valid random cursor is
#   rightly a 400; the same for login bodies that validate but name no known user.
# - allow_header_conformance: Starlette answers 405 with the Allow of the first route that
#   matched the path, not of all of them (a framework quirk, reported to the lead).
EXCLUDED_CHECKS = "positive_data_acceptance,allow_header_conformance"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    # Its own server: the fuzzer's logins would spend the shared server's login budget.
    tmp = tmp_path_factory.mktemp("schemathesis")
    server = make_server(tmp, "--auth", "token", "--max-tokens", "8")
    token = create_user(database_url(tmp / "tickertape.db"), "fuzzadmin", admin=True)
    server.start()
    try:
        yield server, token
    finally:
        server.stop()


def st_run(server: ServerProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{server.base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        *COMMON,
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)


def test_no_server_errors_anywhere(api: tuple[ServerProcess, str]) -> None:
    server, token = api
    result = st_run(
        server,
        token,
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
    )
    assert result.returncode == 0, result.stdout[-6000:]
    assert "Traceback" not in server.log


def test_full_conformance(api: tuple[ServerProcess, str]) -> None:
    server, token = api
    result = st_run(
        server,
        token,
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    assert "Traceback" not in server.log
