"""Credential material: formats, digests, Argon2id off the event loop, CSRF derivation."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fastapi import Request, Response

from tickertape.auth import credentials
from tickertape.auth.authenticator import Authenticator
from tickertape.auth.sessions import set_session_cookie
from tickertape.settings import Settings


def test_api_tokens_are_random_and_well_formed() -> None:
    tokens = {credentials.new_api_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(credentials.TOKEN_RE.match(t) for t in tokens)


def test_csrf_token_is_bound_to_the_session() -> None:
    a, b = credentials.new_session_secret(), credentials.new_session_secret()
    assert credentials.csrf_for_session(a) == credentials.csrf_for_session(a)
    assert credentials.csrf_for_session(a) != credentials.csrf_for_session(b)
    assert a not in credentials.csrf_for_session(a)
    digest = credentials.sha256_hex(credentials.csrf_for_session(a))
    assert credentials.digests_match(credentials.csrf_for_session(a), digest)
    assert not credentials.digests_match(credentials.csrf_for_session(b), digest)


async def test_argon2id_verifies_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = credentials.hash_password("s3cret password")
    assert stored.startswith("$argon2id$")
    threads: list[str] = []
    real = credentials._verify

    def spy(password_hash: str, password: str) -> bool:
        threads.append(threading.current_thread().name)
        return real(password_hash, password)

    monkeypatch.setattr(credentials, "_verify", spy)
    results = await asyncio.gather(
        credentials.verify_password(stored, "s3cret password"),
        credentials.verify_password(stored, "wrong"),
        credentials.verify_password(None, "anything"),  # unknown user: dummy hash
        credentials.verify_password("not a hash", "anything"),
    )
    assert results == [True, False, False, False]
    assert threading.main_thread().name not in threads
    assert await credentials.verify_password(stored, "x" * 10_000) is False


@pytest.mark.parametrize(
    ("password", "ok"),
    [("12345678", True), ("1234567", False), ("x" * 1025, False), ("a\x00bcdefgh", False)],
)
def test_password_rules(password: str, ok: bool) -> None:
    if ok:
        credentials.check_new_password(password)
    else:
        with pytest.raises(ValueError, match="password"):
            credentials.check_new_password(password)


@pytest.mark.parametrize(
    ("flag", "scheme", "secure"),
    [(False, "http", False), (True, "http", True), (False, "https", True), (True, "https", True)],
)
def test_cookie_attributes(flag: bool, scheme: str, secure: bool) -> None:
    """`Secure` and `__Host-` with --secure-cookies, and on any request that came over
    HTTPS (uvicorn sets the scheme from a trusted proxy's X-Forwarded-Proto)."""
    auth = Authenticator(Settings(secure_cookies=flag), object(), None)
    scope = {"type": "http", "scheme": scheme, "server": ("h", 443), "path": "/", "headers": []}
    request = Request(scope)
    assert auth.secure_cookie(request) is secure
    response = Response()
    set_session_cookie(response, auth.cookie_name(request), "value", auth.secure_cookie(request))
    header = response.headers["set-cookie"]
    assert "HttpOnly" in header
    assert "SameSite=strict" in header
    assert "Path=/" in header
    assert "Domain" not in header
    assert ("Secure" in header) == secure
    assert header.startswith("__Host-tickertape_session=" if secure else "tickertape_session=")
