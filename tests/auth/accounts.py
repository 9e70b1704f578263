"""Create accounts the way an operator does: through `tickertape users ...` (in-process)."""

from __future__ import annotations

import argparse
import asyncio
import io
from pathlib import Path

from tickertape.auth.cli import run_user_command
from tickertape.settings import Settings


def database_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def users(
    db_url: str, command: str, name: str | None = None, *, stdin: str = "", **flags: object
) -> str:
    """Run one `users` command against `db_url`; return its stdout (exit code must be 0)."""
    args = argparse.Namespace(user_command=command, name=name, **flags)
    out = io.StringIO()
    code = asyncio.run(
        run_user_command(Settings(database_url=db_url), args, stdin=io.StringIO(stdin), stdout=out)
    )
    assert code == 0, f"users {command} {name} exited {code}"
    return out.getvalue()


def create_user(db_url: str, name: str, *, admin: bool = False, password: str | None = None) -> str:
    """The new user's API token (printed once by `users create`)."""
    token = users(db_url, "create", name, admin=admin).strip()
    if password is not None:
        users(db_url, "set-password", name, stdin=password + "\n")
    return token
