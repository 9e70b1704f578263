"""Fixtures: real SQLite files in tmp_path, and a throwaway PostgreSQL server (marker
`postgres`) started from the Debian binaries when they exist."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tickertape.store.migrations import upgrade_to_head
from tickertape.store.sql_store import SqlStore


@dataclass(frozen=True)
class PgServer:
    bindir: Path
    port: int
    prefix: tuple[str, ...]  # runs a binary as the `postgres` user when we are root

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    bindir = Path(found[-1]).parent
    prefix: tuple[str, ...] = ()
    root = Path(tempfile.mkdtemp(prefix="tickertape-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without `runuser` to start PostgreSQL as `postgres`")
        try:
            shutil.chown(root, "postgres", "postgres")
        except LookupError:
            pytest.skip("running as root and there is no `postgres` user")
        prefix = ("runuser", "-u", "postgres", "--")
    server = PgServer(bindir, _free_port(), prefix)
    data = root / "data"
    server.run(
        str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
    )  # fmt: skip
    options = (
        f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c full_page_writes=off -c max_connections=200"
    )
    server.run(
        str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
        "-o", options, "start",
    )  # fmt: skip
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the throwaway server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    common = ("-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "postgres")
    pg_server.run(str(pg_server.bindir / "createdb"), *common, name)
    yield pg_server.url(name)
    pg_server.run(str(pg_server.bindir / "dropdb"), *common, "--force", name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'tickertape.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database: a SQLite file, then (marker `postgres`) a PostgreSQL database."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> str:
    """A database migrated to head once per session; tests get copies of it."""
    name = "tickertape_template"
    common = ("-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "postgres")
    pg_server.run(str(pg_server.bindir / "createdb"), *common, name)
    asyncio.run(upgrade_to_head(pg_server.url(name), lambda _line: None))
    return name


@pytest.fixture
def pg_migrated_url(pg_server: PgServer, pg_template: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    common = ("-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "postgres")
    pg_server.run(str(pg_server.bindir / "createdb"), *common, "-T", pg_template, name)
    yield pg_server.url(name)
    pg_server.run(str(pg_server.bindir / "dropdb"), *common, "--force", name)


@pytest.fixture
async def migrated_sqlite(sqlite_url: str) -> str:
    await upgrade_to_head(sqlite_url, lambda _line: None)
    return sqlite_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_url(request: pytest.FixtureRequest) -> str:
    """A database at head: a SQLite file, then (marker `postgres`) a PostgreSQL database."""
    fixture = "migrated_sqlite" if request.param == "sqlite" else "pg_migrated_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore.from_url(migrated_url)
    await s.start()
    try:
        yield s
    finally:
        await s.close()
