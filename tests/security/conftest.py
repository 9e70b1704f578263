"""One token-mode server for the security suite (started once: the model takes a while)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.auth.accounts import create_user, database_url
from tests.support.server import ServerProcess, make_server

ALLOWED_ORIGINS = ("https://chat.example.com", "http://localhost:5173")
USER_PASSWORD = "correct horse battery staple"
# A log line the server must never write while it is attacked.
FORBIDDEN_LOG = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b")


@dataclass(frozen=True)
class Deployment:
    server: ServerProcess
    db_path: Path
    admin_token: str
    user_token: str
    other_token: str

    @property
    def user_name(self) -> str:
        return "alice"


def assert_clean_log(server: ServerProcess) -> None:
    bad = [line for line in server.lines if FORBIDDEN_LOG.search(line)]
    assert not bad, "server logged errors:\n" + "\n".join(bad[:5])


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("security")
    server = make_server(
        tmp,
        "--auth",
        "token",
        "--allowed-origins",
        ",".join(ALLOWED_ORIGINS),
        # Generous limits: the fuzzers open connections and send frames by the thousand.
        "--handshakes-per-minute",
        "100000",
        "--messages-per-minute",
        "100000",
        "--auth-timeout-s",
        "1",
    )
    db_path = tmp / "tickertape.db"
    url = database_url(db_path)
    admin = create_user(url, "root", admin=True)
    user = create_user(url, "alice", password=USER_PASSWORD)
    other = create_user(url, "mallory")
    server.start()
    try:
        yield Deployment(server, db_path, admin, user, other)
    finally:
        server.stop()
    assert_clean_log(server)
