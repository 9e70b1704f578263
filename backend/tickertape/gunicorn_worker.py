"""A Uvicorn worker for gunicorn with the WebSocket settings the contract requires.

    gunicorn -k tickertape.gunicorn_worker.TickertapeWorker 'tickertape.asgi:app'

Uvicorn's stock worker negotiates per-message compression, which protocol v1 forbids.
Proxy headers are believed from gunicorn's `--forwarded-allow-ips` (env FORWARDED_ALLOW_IPS,
loopback by default), which the base class passes on; TICKERTAPE_FORWARDED_ALLOW_IPS is for
`tickertape serve`.
Importing this module needs gunicorn installed; nothing else in tickertape imports it.
"""

from __future__ import annotations

from typing import Any

from uvicorn.workers import UvicornWorker


class TickertapeWorker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {  # noqa: RUF012 (the base class declares it so)
        "loop": "auto",
        "http": "auto",
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
    }
