"""The one typed object the lifespan builds: every long-lived component of a running app.

Routes and WebSocket sessions receive it (or one of its parts) through the typed
dependencies of `transport/deps.py`; nothing else reads the app's state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tickertape.chat.limits import RateLimiter, UserLimits
from tickertape.chat.service import ChatService
from tickertape.engine.types import Engine
from tickertape.metrics import Metrics
from tickertape.settings import Settings
from tickertape.store.sql_store import SqlStore

if TYPE_CHECKING:
    from tickertape.auth.authenticator import Authenticator


class OpenConnection(Protocol):
    async def flushed(self) -> None:
        """Return once every frame available so far has been sent."""


@dataclass(frozen=True, slots=True)
class LoginLimiters:
    by_ip: RateLimiter
    by_name: RateLimiter


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    metrics: Metrics
    store: SqlStore
    engine: Engine
    chat: ChatService
    limits: UserLimits
    authenticator: Authenticator
    handshake_limiter: RateLimiter
    login_limiters: LoginLimiters
    database_ready: Callable[[], Awaitable[bool]]
    connections: set[OpenConnection]  # open WebSocket sessions, for the shutdown flush
    # Several replicas (--redis-url): why the shared layer is not ready, None when it is
    # (or when there is none).
    shared_not_ready: Callable[[], str | None] = lambda: None
