"""Every Settings field as a command-line flag, so the settings model stays the one source
of truth for `serve`, `migrate` and `users`. Errors a user can fix are one line on stderr
and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
import types
import typing
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
        default = field.get_default(call_default_factory=True)
        help_text = f"{field.description or ''} (default: {default!r})"
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
