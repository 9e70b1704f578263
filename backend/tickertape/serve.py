"""Start-up outside the app: check the database, migrate, then run uvicorn."""

from __future__ import annotations

import asyncio
import sys
from typing import NoReturn

import uvicorn

from tickertape.logs import configure_logging
from tickertape.settings import Settings
from tickertape.store.types import StoreError

EXIT_USAGE = 2


def _fail(message: str) -> NoReturn:
    print(f"tickertape: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _progress(line: str) -> None:
    print(f"tickertape: {line}", flush=True)


async def prepare_database(settings: Settings, *, migrate: bool) -> None:
    """Fail fast, in one line, on an unreachable database; apply migrations if asked."""
    from tickertape.store.migrations import check_connection, upgrade_to_head

    try:
        await check_connection(settings.database_url)
        if migrate:
            await upgrade_to_head(settings.database_url, _progress)
    except StoreError as exc:
        _fail(f"--database-url: {exc}")


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(prepare_database(settings, migrate=settings.migrate_on_start))

    from tickertape.app import create_app

    app = create_app(settings)
    _progress(
        f"listening on http://{_url_host(settings.host)}:{settings.port} "
        f"(model {settings.model if settings.engine == 'local' else settings.upstream_url}, "
        f"database {_redact_url(settings.database_url)}, auth {settings.auth_mode})"
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
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except OSError as exc:
        _fail(f"--port: cannot listen on {settings.host}:{settings.port}: {exc.strerror}")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _redact_url(url: str) -> str:
    """Never print a database password."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"
