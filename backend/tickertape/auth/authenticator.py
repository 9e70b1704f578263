"""Who is calling: bearer tokens, session cookies, or the development mode `none`."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from tickertape.settings import Settings
from tickertape.store.types import UserRecord

LOCAL_USER_NAME = "local"


def hash_token(token: str) -> str:
    """API tokens are random and long, so one SHA-256 is enough to keep them unusable at rest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class Authenticator:
    def __init__(self, settings: Settings, store: object, local_user: UserRecord | None) -> None:
        self._settings = settings
        self._store = store
        self.local_user = local_user
        self.mode = settings.auth_mode
        self._allowed = {o.lower().rstrip("/") for o in settings.allowed_origins}

    async def user_for_token(self, token: str) -> UserRecord | None:
        if self.mode == "none":
            return self.local_user
        lookup = getattr(self._store, "user_by_token_hash", None)
        if lookup is None:
            return None
        user: UserRecord | None = await lookup(hash_token(token))
        return user

    async def user_for_cookie(self, conn: HTTPConnection) -> UserRecord | None:
        """The web login's session; wired by the accounts module when present."""
        sessions = getattr(self._store, "user_by_session_hash", None)
        cookie = conn.cookies.get(self.cookie_name)
        if sessions is None or not cookie:
            return None
        user: UserRecord | None = await sessions(hash_token(cookie))
        return user

    @property
    def cookie_name(self) -> str:
        return "__Host-tickertape_session" if self._settings.secure_cookies else "tickertape_session"

    async def authenticate_http(self, conn: HTTPConnection) -> UserRecord | None:
        token = bearer_token(conn)
        if token is not None:
            return await self.user_for_token(token)
        if self.mode == "none":
            return self.local_user
        return await self.user_for_cookie(conn)

    def origin_allowed(self, conn: HTTPConnection) -> bool:
        """Browsers always send Origin on a WebSocket handshake; other clients may not."""
        origin = conn.headers.get("origin")
        if origin is None:
            return True
        origin = origin.strip().lower().rstrip("/")
        if origin in self._allowed:
            return True
        host = conn.headers.get("host", "").lower()
        parts = urlsplit(origin)
        own_scheme = "https" if conn.url.scheme in ("https", "wss") else "http"
        return bool(host) and parts.scheme == own_scheme and parts.netloc == host and not (
            parts.path or parts.query or parts.fragment
        )
