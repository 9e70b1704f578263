"""`tickertape` command line: serve, migrate, users.

Every Settings field becomes a flag, so the settings model stays the one source of truth.
Errors a user can fix are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import types
import typing
from collections.abc import Sequence
from typing import Any, NoReturn

from pydantic import ValidationError

from tickertape.settings import Settings

EXIT_USAGE = 2


def _fail(message: str) -> NoReturn:
    print(f"tickertape: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return bool in typing.get_args(annotation)
    return False


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Settings field; unset flags fall back to env vars and defaults."""
    group = parser.add_argument_group("settings (also TICKERTAPE_<NAME> environment variables)")
    for name, field in Settings.model_fields.items():
        help_text = f"{field.description or ''} (default: {field.get_default()!r})"
        if _is_bool(field.annotation):
            group.add_argument(
                _flag(name),
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(_flag(name), dest=name, default=argparse.SUPPRESS, help=help_text)


def build_settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if k in Settings.model_fields}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        _fail(_describe(exc))


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "__root__"]
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:
        return message
    return f"{_flag(loc[0])}: {message} (got {first.get('input')!r})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickertape", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="apply migrations and serve HTTP + WebSocket")
    add_settings_flags(serve)
    migrate = commands.add_parser("migrate", help="upgrade the database schema to head")
    add_settings_flags(migrate)
    users = commands.add_parser("users", help="manage accounts and API tokens")
    add_settings_flags(users)
    from tickertape.auth.cli import add_user_commands

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
