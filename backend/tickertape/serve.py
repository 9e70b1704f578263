"""Start-up outside the app: check the database, migrate, then run uvicorn."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Callable
from typing import NoReturn

import uvicorn
from fastapi import FastAPI

from tickertape.app import create_app, drain
from tickertape.logs import configure_logging, redact_url
from tickertape.settings import Settings
from tickertape.store.types import StoreError

EXIT_USAGE = 2


def _fail(message: str) -> NoReturn:
    print(f"tickertape: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _progress(line: str) -> None:
    print(f"tickertape: {line}", flush=True)


def _progress_for(settings: Settings) -> Callable[[str], None]:
    """Start-up progress: plain lines for a person, log events with `--log-format json`
    (every line a machine reads is then JSON)."""
    if settings.log_format == "json":
        return logging.getLogger("tickertape.serve").info
    return _progress


async def prepare_database(
    settings: Settings, *, migrate: bool, progress: Callable[[str], None] = _progress
) -> None:
    """Fail fast, in one line, on an unreachable database; apply migrations if asked."""
    from tickertape.store.db import check_connection, create_engine
    from tickertape.store.migrations import upgrade_to_head

    try:
        engine = create_engine(settings.database_url)
        try:
            await check_connection(engine)
        finally:
            await engine.dispose()
        if migrate:
            await upgrade_to_head(settings.database_url, progress)
    except StoreError as exc:
        _fail(f"--database-url: {exc}")


def check_local_model(settings: Settings) -> None:
    """Refuse a checkpoint the local engine cannot serve from its config, before any
    weights load: one line, exit code 2."""
    if settings.engine != "local":
        return
    from tickertape.engine.linear import check_request
    from tickertape.engine.support import (
        UnsupportedModel,
        check_device,
        check_model,
        checkpoint_dtype,
    )

    try:
        check_device(settings.device)
    except UnsupportedModel as exc:
        _fail(str(exc))
    try:
        check_request(settings.linear_kernel, settings.device, settings.dtype)
    except ValueError as exc:
        _fail(str(exc))
    try:
        config = check_model(settings.model, settings.max_context)
    except UnsupportedModel as exc:
        _fail(f"--model {settings.model}: {exc}")
    except (OSError, ValueError) as exc:
        _fail(f"--model {settings.model}: {str(exc).strip().splitlines()[0]}")
    if settings.dtype == "auto":  # the checkpoint's own dtype decides (float16 cannot pack)
        dtype = checkpoint_dtype(config)
        try:
            check_request(settings.linear_kernel, settings.device, dtype)
        except ValueError as exc:
            _fail(f"{exc}; --model {settings.model} is {dtype} (--dtype auto)")


async def check_redis(settings: Settings) -> None:
    """With --redis-url, refuse to start (one line, exit 2) when Redis does not answer."""
    if settings.redis_url is None:
        return
    from tickertape.redis_client import RedisUnavailable, check

    try:
        await check(settings.redis_url.get_secret_value())
    except RedisUnavailable as exc:
        _fail(f"--redis-url: {exc}")


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    check_local_model(settings)
    asyncio.run(check_redis(settings))
    progress = _progress_for(settings)
    asyncio.run(prepare_database(settings, migrate=settings.migrate_on_start, progress=progress))

    app = create_app(settings)
    progress(
        f"listening on http://{_url_host(settings.host)}:{settings.port} "
        f"(model {settings.model if settings.engine == 'local' else settings.upstream_url}, "
        f"database {redact_url(settings.database_url)}, auth {settings.auth_mode}"
        + (
            f", redis {redact_url(settings.redis_url.get_secret_value())})"
            if settings.redis_url is not None
            else ")"
        )
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_interval_s,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s) or None,
        # Scheme and client address from X-Forwarded-Proto/-For, only when the peer is a
        # configured proxy: the Origin check, the logs and the per-IP limits then see the
        # browser's https and address, and nobody else can claim them.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    server = _Server(config, app)
    try:
        server.run()
    except OSError as exc:
        _fail(f"--port: cannot listen on {settings.host}:{settings.port}: {exc.strerror}")


class _Server(uvicorn.Server):
    """Uvicorn, with our drain between "stop accepting" and "close sockets with 1012"."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.servers:
            listener.close()
        await drain(self._app)
        await super().shutdown(sockets)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
