"""ASGI entry point for process managers that import an app, e.g.

    gunicorn -k uvicorn.workers.UvicornWorker 'tickertape.asgi:app'
    uvicorn --factory tickertape.asgi:create_app_from_env

Settings come from TICKERTAPE_* environment variables. Unlike `tickertape serve`, this does
not apply migrations: run `tickertape migrate` once before starting workers. The server, not
the app, decides whose X-Forwarded-Proto/-For to believe: gunicorn's or Uvicorn's
`--forwarded-allow-ips` (docs/deployment.md).
"""

from __future__ import annotations

from fastapi import FastAPI

from tickertape.app import create_app
from tickertape.logs import configure_logging
from tickertape.settings import Settings


def create_app_from_env() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def __getattr__(name: str) -> FastAPI:
    # `app` is built on first access, so importing this module stays cheap.
    if name == "app":
        app = create_app_from_env()
        globals()["app"] = app
        return app
    raise AttributeError(name)
