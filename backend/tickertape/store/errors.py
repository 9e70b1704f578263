"""Typed store errors beyond the contract's (`types.py`): all are `StoreError` subclasses."""

from __future__ import annotations

from tickertape.store.types import Conflict, NotFound, StoreError

__all__ = [
    "BadRequest",
    "Conflict",
    "DatabaseUnavailable",
    "InvalidDatabaseUrl",
    "NotFound",
    "StoreClosed",
    "StoreError",
    "check_length",
    "check_text",
]


class BadRequest(StoreError):
    """Input the database cannot hold or the store cannot parse (a bad cursor, a NUL byte)."""

    code = "bad_request"


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or opened. The message is one line, fit for a CLI."""


class InvalidDatabaseUrl(DatabaseUnavailable):
    """The database URL is malformed or names a driver that is not installed."""


class StoreClosed(StoreError):
    """A write was submitted after `close()` (or the writer task died)."""


def check_length(value: str, what: str, maximum: int, minimum: int = 1) -> str:
    """PostgreSQL enforces VARCHAR lengths and SQLite does not: check here for both."""
    if not minimum <= len(value) <= maximum:
        raise BadRequest(f"{what} must be {minimum} to {maximum} characters")
    return check_text(value, what)


def check_text(value: str, what: str) -> str:
    """Refuse text neither backend can store byte for byte: NUL and lone surrogates."""
    if "\x00" in value:
        raise BadRequest(f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not valid Unicode (lone surrogate)") from None
    return value
