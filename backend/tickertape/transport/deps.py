"""Typed FastAPI dependencies: the lifespan builds `Services`, routes receive it here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from tickertape.chat.service import ChatService
from tickertape.metrics import Metrics
from tickertape.services import Services
from tickertape.settings import Settings
from tickertape.store.sql_store import SqlStore
from tickertape.store.types import UserRecord

if TYPE_CHECKING:
    from tickertape.auth.authenticator import Authenticator


def services_of(app: Starlette) -> Services | None:
    """None while the app is still starting (the model loads before `Services` exist)."""
    services = getattr(app.state, "services", None)
    return services if isinstance(services, Services) else None


def services_or_none(conn: HTTPConnection) -> Services | None:
    return services_of(conn.app)


def get_services(conn: HTTPConnection) -> Services:
    services = services_or_none(conn)
    if services is None:
        raise HTTPException(status_code=503, detail="the server is starting")
    return services


def get_metrics(conn: HTTPConnection) -> Metrics:
    """Built with the app (its HTTP middleware counts requests from the start)."""
    metrics = conn.app.state.metrics
    assert isinstance(metrics, Metrics)
    return metrics


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_store(services: ServicesDep) -> SqlStore:
    return services.store


def get_chat_service(services: ServicesDep) -> ChatService:
    return services.chat


def get_authenticator(services: ServicesDep) -> Authenticator:
    return services.authenticator


async def current_user(conn: HTTPConnection, services: ServicesDep) -> UserRecord:
    """The caller, from a bearer token or the web session cookie; 401 otherwise."""
    user = await services.authenticator.authenticate_http(conn)
    if user is None:
        raise HTTPException(status_code=401, detail="authentication required")
    return user


async def current_admin(user: Annotated[UserRecord, Depends(current_user)]) -> UserRecord:
    if user.role != "admin":
        raise HTTPException(status_code=403, detail="admin role required")
    return user


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[SqlStore, Depends(get_store)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
UserDep = Annotated[UserRecord, Depends(current_user)]
AdminDep = Annotated[UserRecord, Depends(current_admin)]
