"""The app factory: resources are built in the lifespan, never at import time."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickertape.auth.authenticator import LOCAL_USER_NAME, Authenticator
from tickertape.chat.hub import ReplyHub
from tickertape.chat.limits import LimitsConfig, LocalLimits, RateLimiter, UserLimits
from tickertape.chat.notices import LocalNoticeBus
from tickertape.chat.service import ChatService
from tickertape.chat.turns import ChatConfig
from tickertape.engine.types import Engine
from tickertape.metrics import Metrics
from tickertape.services import LoginLimiters, Services
from tickertape.settings import Settings
from tickertape.transport import auth_routes, health, http_api, metrics_route, ws
from tickertape.transport.deps import services_of
from tickertape.transport.http_errors import install_error_handlers
from tickertape.transport.http_limits import BodySizeLimit
from tickertape.transport.metrics_route import HttpMetrics
from tickertape.transport.pages import CONTENT_SECURITY_POLICY, mount_frontend
from tickertape.transport.request_ids import RequestIds

if TYPE_CHECKING:
    from tickertape.chat.redis_layer import RedisLayer
    from tickertape.store.sql_store import SqlStore

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, engine_factory: Callable[[Settings], Engine] | None = None
) -> FastAPI:
    """The app; `engine_factory` replaces the engine Settings describe (tests about the
    transport drive a scripted engine through the real chat service this way)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _lifespan(app, engine_factory):
            yield

    app = FastAPI(
        title="tickertape",
        version="0.1.0",
        description="WebSocket-first real-time LLM chat backend. The WebSocket contract "
        "lives at /ws (see docs/protocol.md); these are the HTTP routes.",
        lifespan=lifespan,
    )
    # The two things that exist before the lifespan: what it builds from, and the metrics
    # the HTTP middleware counts into from the first request.
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics_route.router)
    app.include_router(http_api.router)
    app.include_router(auth_routes.router)
    app.include_router(ws.router)
    _include_optional_routers(app)
    mount_frontend(app)
    # Large JSON (transcripts, exports) compresses well; SSE is excluded by Starlette.
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetrics, metrics=app.state.metrics)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestIds)
    return app


def _include_optional_routers(app: FastAPI) -> None:
    from tickertape.transport import responses_ws
    from tickertape.transport.openai_api import build_openai_router
    from tickertape.transport.responses_routes import build_responses_router

    app.include_router(build_openai_router())
    app.include_router(build_responses_router())
    app.include_router(responses_ws.router)


async def _open_shared(
    settings: Settings, store: SqlStore, limits: LimitsConfig
) -> RedisLayer | None:
    """The Redis layer of several replicas, when `--redis-url` is set."""
    if settings.redis_url is None:
        return None
    from tickertape.chat.redis_layer import RedisConfig, RedisLayer

    config = RedisConfig(
        url=settings.redis_url.get_secret_value(),
        prefix=settings.redis_prefix,
        mirror_interval_ms=settings.redis_mirror_interval_ms,
        owner_timeout_s=settings.redis_owner_timeout_s,
        retention_s=settings.resume_retention_s,
        max_entries=settings.max_tokens + settings.max_waiting + 16,
    )
    return await RedisLayer.open(config, store, limits)


@asynccontextmanager
async def _lifespan(
    app: FastAPI, engine_factory: Callable[[Settings], Engine] | None
) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    from tickertape.resources import build_engine, build_store, database_readiness

    store = await build_store(settings)
    await store.purge_expired_web_sessions()
    limits_config = LimitsConfig(
        max_concurrent_replies=settings.max_concurrent_replies,
        messages_per_minute=settings.messages_per_minute,
        max_connections_per_user=settings.max_connections_per_user,
    )
    shared = await _open_shared(settings, store, limits_config)
    try:
        # With live peers, their `streaming` replies are theirs: the janitor ends those of
        # dead replicas (chat/redis_reaper.py) instead of this blanket recovery.
        if shared is None or await shared.alone():
            recovered = await store.recover_interrupted()
            if recovered:
                log.info("marked %d replies interrupted by the last shutdown", recovered)
        local_user = None
        if settings.auth_mode == "none":
            local_user = await store.ensure_user(LOCAL_USER_NAME, "admin")

        engine = (engine_factory or build_engine)(settings)
        await engine.start()
    except BaseException:
        if shared is not None:
            await shared.close()
        raise
    log.info("model %s loaded", engine.model_name)
    metrics.watch_engine(engine.stats)
    metrics.watch_store(store.queue_depth)
    store.observe_commits(metrics.commit_latency.observe)
    limits: UserLimits = LocalLimits(limits_config) if shared is None else shared.limits
    chat = ChatService(
        ChatConfig(
            system_prompt=settings.system_prompt,
            checkpoint_interval_ms=settings.checkpoint_interval_ms,
            checkpoint_tokens=settings.checkpoint_tokens,
            tool_wait_s=settings.tool_wait_s,
        ),
        engine,
        store,
        ReplyHub(settings.resume_retention_s),
        limits,
        LocalNoticeBus() if shared is None else shared.notices,
        metrics,
        shared,
    )
    if shared is not None:
        shared.on_stop(chat.stop_owned)
        shared.on_tool_result(chat.tool_result_owned)
        shared.watch(metrics)
    app.state.services = Services(
        settings=settings,
        metrics=metrics,
        store=store,
        engine=engine,
        chat=chat,
        limits=limits,
        authenticator=Authenticator(settings, store, local_user),
        handshake_limiter=RateLimiter(settings.handshakes_per_minute),
        login_limiters=LoginLimiters(
            by_ip=RateLimiter(auth_routes.LOGIN_PER_IP_PER_MINUTE),
            by_name=RateLimiter(auth_routes.LOGIN_PER_USERNAME_PER_MINUTE),
        ),
        database_ready=database_readiness(store),
        connections=set(),
        shared_not_ready=(lambda: None) if shared is None else (lambda: shared.ready_reason),
    )
    # What start-up built (model, libraries, caches) lives as long as the process. Frozen,
    # the collector never scans it again: a full collection over it took ~200 ms here, a
    # stall every stream would show if one came due while replies are streaming.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        await drain(app)
        if shared is not None:
            await shared.close()
        await engine.close()
        await store.close()
        log.info("shut down cleanly")


async def drain(app: FastAPI) -> None:
    """End every reply as `interrupted` and let each socket send what it has, in bounded time.

    Called before Uvicorn closes the sockets with 1012 (serve.py) and again, as a no-op
    then, from the lifespan's shutdown.
    """
    services = services_of(app)
    if services is None:
        return
    timeout_s = services.settings.shutdown_timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            await services.chat.drain()
            await asyncio.gather(*(conn.flushed() for conn in list(services.connections)))
    except TimeoutError:
        log.warning("shutdown: replies or sockets did not finish within %.0f s", timeout_s)


class SecurityHeaders:
    """Pure ASGI, so streaming responses and WebSockets pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(("/docs", "/redoc")):
            # Swagger UI needs inline script; it shows only our public schema.
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
