"""Several replicas of one deployment: PostgreSQL and Redis from Debian's packages, started
on loopback by these fixtures, and `tickertape serve` processes sharing them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.store.conftest import PgServer, pg_server  # noqa: F401  (a fixture, reused)
from tests.support.accounts import create_users
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, make_server

# Limits stay on (they are part of what is tested) but roomy for the load of these tests.
REPLICA_FLAGS = (
    "--auth",
    "token",
    "--max-tokens",
    "4000",
    "--max-waiting",
    "10000",
    "--handshakes-per-minute",
    "1000000",
    "--max-connections-per-user",
    "1000",
    "--max-concurrent-replies",
    "8",
    "--messages-per-minute",
    "60",
)
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")


@pytest.fixture(scope="module")
def pg_database(pg_server: PgServer) -> Iterator[str]:  # noqa: F811
    name = f"r_{uuid.uuid4().hex[:12]}"
    common = ("-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "postgres")
    pg_server.run(str(pg_server.bindir / "createdb"), *common, name)
    yield pg_server.url(name)
    pg_server.run(str(pg_server.bindir / "dropdb"), *common, "--force", name)


@dataclass
class Deployment:
    database_url: str
    redis: RedisServer
    tokens: dict[str, str]
    replicas: list[ServerProcess]
    tmp: Path

    def start_replica(self, *flags: str) -> ServerProcess:
        server = make_server(
            self.tmp,
            *REPLICA_FLAGS,
            "--database-url",
            self.database_url,
            "--redis-url",
            self.redis.url,
            *flags,
        )
        server.start()
        self.replicas.append(server)
        return server


@pytest.fixture(scope="module")
def deployment(
    pg_database: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Two replicas (A and B) on one PostgreSQL and one Redis, local demo engines."""
    tokens = create_users(pg_database, dict.fromkeys(USERS, "user"))
    deployment = Deployment(
        pg_database, redis_server, tokens, [], tmp_path_factory.mktemp("replicas")
    )
    try:
        deployment.start_replica()
        deployment.start_replica()
        yield deployment
    finally:
        for server in deployment.replicas:
            server.stop()
