"""`tickertape users ...` as an operator runs it: a subprocess, argv and stdin."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.auth.accounts import database_url
from tickertape.auth.credentials import TOKEN_RE, sha256_hex


def tickertape(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tickertape", "users", *args, "--database-url", database_url(db)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli") / "users.db"


def test_create_prints_the_token_once(db: Path) -> None:
    created = tickertape(db, "create", "ada", "--admin")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert TOKEN_RE.match(token), "tt_ + 43 urlsafe characters"
    assert token not in created.stderr
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert token not in dump
    assert sha256_hex(token) in dump
    listing = tickertape(db, "list")
    assert re.search(r"^ada\s+admin\s+active\s+1\s", listing.stdout, re.M), listing.stdout
    assert token not in listing.stdout


def test_duplicate_and_unknown_names_are_usage_errors(db: Path) -> None:
    tickertape(db, "create", "bea")
    again = tickertape(db, "create", "bea")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    missing = tickertape(db, "revoke", "nobody")
    assert missing.returncode == 2
    assert "no user called" in missing.stderr


def test_set_password_reads_stdin_never_argv(db: Path) -> None:
    tickertape(db, "create", "cy")
    done = tickertape(db, "set-password", "cy", stdin="a long enough password\n")
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM users WHERE name = 'cy'").fetchone()
    assert stored.startswith("$argon2id$")
    assert "a long enough password" not in stored
    short = tickertape(db, "set-password", "cy", stdin="short\n")
    assert short.returncode == 2
    assert "at least 8" in short.stderr
    # There is no flag that would put a password on the command line (visible in `ps`).
    flag = tickertape(db, "set-password", "cy", "--password", "a long enough password")
    assert flag.returncode == 2


def test_revoke_counts_tokens_and_sessions(db: Path) -> None:
    tickertape(db, "create", "dee")
    tickertape(db, "token", "dee")
    revoked = tickertape(db, "revoke", "dee")
    assert revoked.returncode == 0
    assert "revoked 2 token(s) and 0 web session(s)" in revoked.stdout
    listing = tickertape(db, "list").stdout
    assert re.search(r"^dee\s+user\s+active\s+0\s", listing, re.M), listing
