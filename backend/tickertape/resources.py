"""Build the engine and the store from Settings (called from the app's lifespan)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from tickertape.engine.types import Engine
from tickertape.settings import Settings
from tickertape.store.migrations import is_at_head
from tickertape.store.sql_store import SqlStore

log = logging.getLogger(__name__)


def build_engine(settings: Settings) -> Engine:
    if settings.engine == "remote":
        from tickertape.engine.remote import RemoteEngine

        assert settings.upstream_url is not None  # checked by Settings
        key = settings.upstream_api_key
        return RemoteEngine(
            settings.upstream_url,
            settings.upstream_model,
            api_key=key.get_secret_value() if key else None,
            timeout_s=settings.upstream_timeout_s,
            max_concurrency=settings.max_batch,
            max_waiting=settings.max_waiting,
            context_length=settings.max_context,
        )
    from tickertape.engine.config import EngineConfig
    from tickertape.engine.factory import build_engine as build_local_engine

    config = EngineConfig(
        model=settings.model,
        max_batch=settings.max_batch,
        max_waiting=settings.max_waiting,
        max_new_tokens_limit=settings.max_tokens,
        prefill_chunk=settings.prefill_chunk,
        max_context=settings.max_context,
        per_user_concurrency=settings.max_concurrent_replies,
        torch_threads=settings.torch_threads,
        dtype=settings.dtype,
        device=settings.device,
        linear_kernel=settings.linear_kernel,
        kv_cache_bytes=settings.kv_cache_bytes,
        kv_cache_fraction=settings.kv_cache_fraction,
        block_size=settings.block_size,
        prefix_caching=settings.prefix_caching,
    )
    return build_local_engine(config)


async def build_store(settings: Settings) -> SqlStore:
    store = SqlStore.from_url(settings.database_url)
    await store.start()
    return store


def database_readiness(store: SqlStore) -> Callable[[], Awaitable[bool]]:
    """For /readyz: the schema is at Alembic's head (a server may run with migrations off)."""

    async def ready() -> bool:
        try:
            return await is_at_head(store.engine)
        except Exception:
            log.warning("readiness: the database did not answer", exc_info=True)
            return False

    return ready
