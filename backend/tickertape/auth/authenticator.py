"""Who is calling: bearer tokens, web session cookies, or the development mode `none`."""

from __future__ import annotations

import ipaddress
import logging
import re
from urllib.parse import urlsplit

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from tickertape.auth.accounts import AccountStore
from tickertape.auth.credentials import csrf_for_session, digests_match, sha256_hex
from tickertape.settings import Settings
from tickertape.store.records import WebSessionRecord
from tickertape.store.types import UserRecord

log = logging.getLogger(__name__)

LOCAL_USER_NAME = "local"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Longer credentials are refused without a database round trip.
MAX_CREDENTIAL_CHARS = 512
# What a browser sends: scheme://host[:port], no userinfo, path, query or fragment.
_ORIGIN_RE = re.compile(r"^[a-z][a-z0-9+.-]*://[a-z0-9.\-\[\]:]+$")


def hash_token(token: str) -> str:
    """API tokens are random and long, so one SHA-256 is enough to keep them unusable at rest."""
    return sha256_hex(token)


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _hostname(host_header: str) -> str | None:
    try:
        return urlsplit("//" + host_header).hostname
    except ValueError:  # a malformed bracketed IPv6 literal
        return None


def _is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Authenticator:
    def __init__(self, settings: Settings, store: object, local_user: UserRecord | None) -> None:
        self._settings = settings
        # A store without accounts (a test double) authenticates nobody but `none` mode.
        self._accounts = store if isinstance(store, AccountStore) else None
        self.local_user = local_user
        self.mode = settings.auth_mode
        self._allowed = {o.strip().lower().rstrip("/") for o in settings.allowed_origins}
        self._allowed_hosts = {
            name for o in self._allowed if (name := urlsplit(o).hostname) is not None
        }

    def secure_cookie(self, conn: HTTPConnection) -> bool:
        """`Secure` and `__Host-`: with --secure-cookies, or on a request that came over
        HTTPS (directly, or through a trusted proxy's X-Forwarded-Proto)."""
        return self._settings.secure_cookies or conn.url.scheme in ("https", "wss")

    def cookie_name(self, conn: HTTPConnection) -> str:
        return "__Host-tickertape_session" if self.secure_cookie(conn) else "tickertape_session"

    async def user_for_token(self, token: str) -> UserRecord | None:
        if self.mode == "none":
            return self.local_user
        if self._accounts is None or not token or len(token) > MAX_CREDENTIAL_CHARS:
            return None
        return await self._accounts.user_by_token_hash(hash_token(token))

    async def session_for_cookie(self, conn: HTTPConnection) -> WebSessionRecord | None:
        """The live web session named by the cookie (unexpired, of an enabled user)."""
        cookie = conn.cookies.get(self.cookie_name(conn))
        if self._accounts is None or not cookie or len(cookie) > MAX_CREDENTIAL_CHARS:
            return None
        return await self._accounts.get_web_session(sha256_hex(cookie))

    async def user_for_cookie(self, conn: HTTPConnection) -> UserRecord | None:
        """For the WebSocket, which calls this only when an allowed Origin came with it."""
        session = await self.session_for_cookie(conn)
        return None if session is None else session.user

    def csrf_token(self, conn: HTTPConnection) -> str | None:
        cookie = conn.cookies.get(self.cookie_name(conn))
        return csrf_for_session(cookie) if cookie else None

    async def authenticate_http(self, conn: HTTPConnection) -> UserRecord | None:
        """None means 401. Raises HTTPException 403 for a cookie request without its CSRF
        token on an unsafe method: the cookie is valid, the request may be forged."""
        token = bearer_token(conn)
        if token is not None:
            # A wrong bearer token is a 401 even if a cookie came along: no silent fallback.
            return await self.user_for_token(token)
        if self.mode == "none":
            return self.local_user if self.host_allowed(conn) else None
        session = await self.session_for_cookie(conn)
        if session is None:
            return None
        method = conn.scope.get("method", "GET")
        if method not in SAFE_METHODS:
            presented = conn.headers.get(CSRF_HEADER, "")
            if not presented or not digests_match(presented, session.csrf_hash):
                raise HTTPException(status_code=403, detail="missing or wrong X-CSRF-Token")
        return session.user

    def host_allowed(self, conn: HTTPConnection) -> bool:
        """Mode `none` serves this machine only.

        The client must be on loopback: behind a reverse proxy (whose forwarded client
        address we believe), a visitor reaching the proxy must not become the local admin.
        And against DNS rebinding: a page on evil.example whose name was re-pointed at
        127.0.0.1 is same-origin with itself, so the Origin check passes; its requests
        still carry `Host: evil.example`. IP literals cannot be rebound."""
        client = conn.client.host if conn.client else ""
        if not _is_loopback_address(client):
            return False
        name = _hostname(conn.headers.get("host", ""))
        if name is None:
            return False
        name = name.lower()
        return name == "localhost" or _is_ip_literal(name) or name in self._allowed_hosts

    def origin_allowed(self, conn: HTTPConnection) -> bool:
        """Browsers always send Origin on a WebSocket handshake; other clients may not."""
        if self.mode == "none" and not self.host_allowed(conn):
            return False
        origins = conn.headers.getlist("origin")
        if not origins:
            return True
        if len(origins) > 1:
            return False
        origin = origins[0].lower()
        if not _ORIGIN_RE.match(origin) or "@" in origin:
            return False
        if origin in self._allowed:
            return True
        host = conn.headers.get("host", "").lower()
        # The scheme the client used: behind TLS termination, Uvicorn's proxy-headers
        # middleware has set it from X-Forwarded-Proto, and only when the peer is a proxy
        # in --forwarded-allow-ips (serve.py); anyone else's claim never reaches this.
        own_scheme = "https" if conn.url.scheme in ("https", "wss") else "http"
        return bool(host) and origin == f"{own_scheme}://{host}"
