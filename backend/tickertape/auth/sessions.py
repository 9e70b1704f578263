"""Web login sessions: an HttpOnly cookie whose SHA-256 is the session row's id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Response

from tickertape.auth.accounts import AccountStore
from tickertape.auth.credentials import csrf_for_session, new_session_secret, sha256_hex
from tickertape.store.models import utcnow

# A working day and a half: long enough not to nag, short enough that a forgotten
# session on a shared machine dies on its own. Logout and `users revoke` end it sooner.
SESSION_TTL = timedelta(hours=36)


@dataclass(frozen=True, slots=True)
class NewSession:
    cookie_value: str
    csrf_token: str


async def open_session(store: AccountStore, user_id: str) -> NewSession:
    cookie = new_session_secret()
    csrf = csrf_for_session(cookie)
    await store.create_web_session(
        sha256_hex(cookie), user_id, sha256_hex(csrf), utcnow() + SESSION_TTL
    )
    return NewSession(cookie, csrf)


async def close_session(store: AccountStore, cookie_value: str) -> None:
    await store.delete_web_session(sha256_hex(cookie_value))


def set_session_cookie(response: Response, name: str, value: str, secure: bool) -> None:
    # SameSite=Strict: no cross-site request carries the cookie at all (CSRF tokens are the
    # second line). `__Host-` names (secure mode) also forbid Domain and force Path=/.
    response.set_cookie(
        name,
        value,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, name: str, secure: bool) -> None:
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")
