"""Records for the auth and admin helpers (beyond the chat contract in `types.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tickertape.store.types import UserRecord


@dataclass(frozen=True, slots=True)
class UserAccount:
    """A user with what login and the admin pages need; `record` is the contract's UserRecord."""

    id: str
    name: str
    role: Literal["user", "admin"]
    password_hash: str | None
    created_at: datetime
    disabled_at: datetime | None

    @property
    def record(self) -> UserRecord:
        return UserRecord(self.id, self.name, self.role)


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    id: str
    user_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class WebSessionRecord:
    id: str  # sha256 hex of the cookie value
    user: UserRecord
    csrf_hash: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    actor_user_id: str | None
    action: str
    target: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditRecord]
    next_cursor: str | None
