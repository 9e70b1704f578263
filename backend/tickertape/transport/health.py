"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tickertape.transport.deps import services_or_none

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    services = services_or_none(request)
    reasons: list[str] = []
    if services is None:
        reasons.append("model not loaded")
    else:
        if not services.engine.alive:
            error = services.engine.stats().error or "stopped"
            reasons.append(f"generation loop not alive: {error}")
        if not await services.database_ready():
            reasons.append("database not migrated to head")
        if (shared := services.shared_not_ready()) is not None:
            reasons.append(shared)
    body: dict[str, Any] = {"status": "ready" if not reasons else "not_ready", "reasons": reasons}
    return JSONResponse(body, status_code=200 if not reasons else 503)
