"""Credential material: API tokens, session cookies, CSRF tokens and password hashes.

Only digests ever reach the database: SHA-256 for the random secrets (they carry 256 bits
of entropy, so a fast hash is enough), Argon2id for passwords (people choose those).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_PREFIX = "tt_"
# `secrets.token_urlsafe(32)` is 32 random bytes = 43 base64url characters, no padding.
TOKEN_RE = re.compile(r"^tt_[A-Za-z0-9_-]{43}$")
log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024

_hasher = PasswordHasher()  # argon2-cffi's defaults are Argon2id with RFC 9106 parameters
# Verified against when the user does not exist, so that a login for an unknown name costs
# the same Argon2 work as one for a known name (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_secret() -> str:
    """The session cookie's value; the database keeps only its SHA-256 (the session id)."""
    return secrets.token_urlsafe(32)


def csrf_for_session(cookie_value: str) -> str:
    """The CSRF token of a session, derived from the (HttpOnly) cookie value.

    Deriving it means `GET /api/auth/me` can hand it out again after a page reload without
    storing it in plaintext, and without a server secret that would have to survive restarts.
    A page on another origin can neither read the cookie nor this token.
    """
    return hmac.new(cookie_value.encode("utf-8"), b"tickertape-csrf-v1", "sha256").hexdigest()


def digests_match(presented: str, expected_hex: str) -> bool:
    return hmac.compare_digest(sha256_hex(presented), expected_hex)


def check_new_password(password: str) -> None:
    """Raises ValueError with a message for the person choosing the password."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    if "\x00" in password:
        raise ValueError("a password cannot contain a NUL character")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Argon2 takes tens of milliseconds of CPU: run it off the event loop."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False  # refuse before hashing: huge inputs would be a cheap CPU attack
    return await asyncio.to_thread(_verify, password_hash or _DUMMY_HASH, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError) as exc:
        # A corrupt stored hash is an operator problem, but it must never let anyone in.
        log.warning("a stored password hash could not be verified: %s", type(exc).__name__)
        return False
