"""`tickertape users ...`: accounts, API tokens and passwords, straight against the database.

A new token is printed once, on stdout, and never stored or shown again (the database keeps
its SHA-256). Passwords are read from a TTY prompt or stdin, never from argv (argv is
visible to every local user in `ps`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Protocol, TextIO

from tickertape.auth.accounts import AccountStore
from tickertape.auth.authenticator import hash_token
from tickertape.auth.credentials import check_new_password, hash_password, new_api_token
from tickertape.settings import Settings
from tickertape.settings_flags import add_settings_flags
from tickertape.store.errors import BadRequest, Conflict, NotFound, StoreError
from tickertape.store.records import UserAccount

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake the operator can fix: one line on stderr, exit code 2."""


def add_user_commands(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    create = verbs.add_parser("create", help="create a user and print its first API token")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="give the user the admin role")
    verbs.add_parser("list", help="list users, their role, state and live tokens")
    for verb, text in (
        ("revoke", "revoke every API token and web session of a user"),
        ("token", "issue an additional API token to a user (printed once)"),
        ("set-password", "set a user's password (prompt, or stdin when not a TTY)"),
        ("disable", "refuse every login and token of a user (kept for the audit trail)"),
        ("enable", "undo disable"),
    ):
        verbs.add_parser(verb, help=text).add_argument("name")
    for sub in verbs.choices.values():
        add_settings_flags(sub)


async def run_user_command(
    settings: Settings,
    args: argparse.Namespace,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout
    try:
        store = await _open_store(settings)
    except StoreError as exc:
        print(f"tickertape: error: --database-url: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        command = _COMMANDS[args.user_command]
        await command(store, args, stdin or sys.stdin, out)
        return EXIT_OK
    except (UsageError, StoreError) as exc:
        print(f"tickertape: error: {exc}", file=sys.stderr)
        fixable = isinstance(exc, UsageError | Conflict | BadRequest | NotFound)
        return EXIT_USAGE if fixable else EXIT_FAIL
    finally:
        await store.close()


async def _open_store(settings: Settings) -> _ClosableStore:
    from tickertape.store.migrations import upgrade_to_head
    from tickertape.store.sql_store import SqlStore

    await upgrade_to_head(settings.database_url, lambda _line: None)
    store = SqlStore.from_url(settings.database_url)
    await store.start()
    return store


class _ClosableStore(AccountStore, Protocol):
    """What the CLI opens: the account methods, and close()."""

    async def close(self) -> None: ...


async def _user(store: AccountStore, name: str) -> UserAccount:
    user = await store.get_user_by_name(name)
    if user is None:
        raise UsageError(f"no user called {name!r}")
    return user


async def _issue_token(store: AccountStore, user: UserAccount, out: TextIO) -> None:
    token = new_api_token()
    await store.add_api_token(user.id, hash_token(token), "cli")
    await store.add_audit(None, "token_issued", user.name)
    print(token, file=out)
    print(
        f"tickertape: API token for {user.name!r} printed above; it is not shown again",
        file=sys.stderr,
    )


async def _create(store: AccountStore, args: argparse.Namespace, _in: TextIO, out: TextIO) -> None:
    user = await store.create_user(args.name, "admin" if args.admin else "user")
    await store.add_audit(None, "user_created", user.name)
    await _issue_token(store, user, out)


async def _token(store: AccountStore, args: argparse.Namespace, _in: TextIO, out: TextIO) -> None:
    await _issue_token(store, await _user(store, args.name), out)


async def _list(store: AccountStore, _args: argparse.Namespace, _in: TextIO, out: TextIO) -> None:
    print(f"{'NAME':<24} {'ROLE':<6} {'STATE':<9} {'TOKENS':>6} {'PASSWORD':<8} CREATED", file=out)
    for user in await store.list_users():
        live = [t for t in await store.list_api_tokens(user.id) if t.revoked_at is None]
        state = "disabled" if user.disabled_at else "active"
        password = "set" if user.password_hash else "-"
        created = user.created_at.strftime("%Y-%m-%d %H:%M")
        print(
            f"{user.name:<24} {user.role:<6} {state:<9} {len(live):>6} {password:<8} {created}",
            file=out,
        )


async def _revoke(store: AccountStore, args: argparse.Namespace, _in: TextIO, out: TextIO) -> None:
    user = await _user(store, args.name)
    tokens = await store.revoke_tokens(user.id)
    sessions = await store.delete_user_web_sessions(user.id)
    await store.add_audit(None, "tokens_revoked", user.name)
    print(f"revoked {tokens} token(s) and {sessions} web session(s) of {user.name!r}", file=out)


async def _set_password(
    store: AccountStore, args: argparse.Namespace, stdin: TextIO, out: TextIO
) -> None:
    user = await _user(store, args.name)
    password = _read_password(stdin, user.name)
    try:
        check_new_password(password)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    await store.set_password_hash(user.id, hash_password(password))
    # A new password ends the sessions opened with the old one.
    await store.delete_user_web_sessions(user.id)
    await store.add_audit(None, "password_set", user.name)
    print(f"password of {user.name!r} set", file=out)


def _read_password(stdin: TextIO, name: str) -> str:
    if stdin.isatty():
        first = getpass.getpass(f"new password for {name}: ")
        if getpass.getpass("again: ") != first:
            raise UsageError("the two passwords differ")
        return first
    # Piped: the first line, without its line break (a password may contain spaces).
    return stdin.readline().rstrip("\r\n")


async def _disable(store: AccountStore, args: argparse.Namespace, _in: TextIO, out: TextIO) -> None:
    user = await _user(store, args.name)
    await store.set_user_disabled(user.id, True)
    await store.delete_user_web_sessions(user.id)
    await store.add_audit(None, "user_disabled", user.name)
    print(f"{user.name!r} disabled", file=out)


async def _enable(store: AccountStore, args: argparse.Namespace, _in: TextIO, out: TextIO) -> None:
    user = await _user(store, args.name)
    await store.set_user_disabled(user.id, False)
    await store.add_audit(None, "user_enabled", user.name)
    print(f"{user.name!r} enabled", file=out)


_Command = Callable[[AccountStore, argparse.Namespace, TextIO, TextIO], Awaitable[None]]
_COMMANDS: dict[str, _Command] = {
    "create": _create,
    "token": _token,
    "list": _list,
    "revoke": _revoke,
    "set-password": _set_password,
    "disable": _disable,
    "enable": _enable,
}
