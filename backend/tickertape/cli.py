"""`tickertape` command line: serve, migrate, users.

Every Settings field becomes a flag, so the settings model stays the one source of truth.
Errors a user can fix are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from tickertape.auth.cli import add_user_commands
from tickertape.settings_flags import add_settings_flags, build_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickertape", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="apply migrations and serve HTTP + WebSocket")
    add_settings_flags(serve)
    migrate = commands.add_parser("migrate", help="upgrade the database schema to head")
    add_settings_flags(migrate)
    users = commands.add_parser("users", help="manage accounts and API tokens")
    add_settings_flags(users)
    add_user_commands(users)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    settings = build_settings(args)
    if args.command == "serve":
        from tickertape.serve import serve

        serve(settings)
    elif args.command == "migrate":
        from tickertape.serve import prepare_database

        asyncio.run(prepare_database(settings, migrate=True))
    elif args.command == "users":
        from tickertape.auth.cli import run_user_command

        raise SystemExit(asyncio.run(run_user_command(settings, args)))


if __name__ == "__main__":
    main()
