"""Request and response bodies of the auth and audit routes, as they appear in /openapi.json."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """The shape of every HTTP error (see transport/http_errors.py)."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorOut} for status in statuses}


class PasswordLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenLogin(BaseModel):
    """An API token exchanged for a cookie session (the token stays out of the page's JS
    after this, which is the point: the cookie is HttpOnly)."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=512)


LoginIn = PasswordLogin | TokenLogin


class UserOut(BaseModel):
    id: str
    name: str
    role: Literal["user", "admin"]


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str | None = Field(
        description="send as X-CSRF-Token on POST/PATCH/PUT/DELETE made with the cookie; "
        "null when the caller did not authenticate with the cookie"
    )


class AuditEntryOut(BaseModel):
    id: int
    actor_user_id: str | None
    action: str
    target: str | None
    created_at: str


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None
