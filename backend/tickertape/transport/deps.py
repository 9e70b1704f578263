"""Typed FastAPI dependencies: the lifespan builds resources, routes reach them here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

from fastapi import Depends, HTTPException, Request

from tickertape.chat.service import ChatService
from tickertape.engine.types import Engine
from tickertape.settings import Settings
from tickertape.store.types import Store, UserRecord

if TYPE_CHECKING:
    from tickertape.auth.authenticator import Authenticator


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def get_engine(request: Request) -> Engine:
    return cast(Engine, request.app.state.engine)


def get_store(request: Request) -> Store:
    return cast(Store, request.app.state.store)


def get_chat_service(request: Request) -> ChatService:
    return cast(ChatService, request.app.state.chat_service)


def get_authenticator(request: Request) -> Authenticator:
    return cast("Authenticator", request.app.state.authenticator)


async def current_user(request: Request) -> UserRecord:
    """The caller, from a bearer token or the web session cookie; 401 otherwise."""
    user = await get_authenticator(request).authenticate_http(request)
    if user is None:
        raise HTTPException(status_code=401, detail="authentication required")
    return user


async def current_admin(user: Annotated[UserRecord, Depends(current_user)]) -> UserRecord:
    if user.role != "admin":
        raise HTTPException(status_code=403, detail="admin role required")
    return user


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
StoreDep = Annotated[Store, Depends(get_store)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
UserDep = Annotated[UserRecord, Depends(current_user)]
AdminDep = Annotated[UserRecord, Depends(current_admin)]
