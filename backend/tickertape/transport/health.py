"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    reasons: list[str] = []
    engine = getattr(state, "engine", None)
    if engine is None or not getattr(state, "engine_started", False):
        reasons.append("model not loaded")
    elif not engine.alive:
        reasons.append(f"generation loop not alive: {engine.stats().error or 'stopped'}")
    readiness = getattr(state, "database_ready", None)
    if readiness is None or not await readiness():
        reasons.append("database not migrated to head")
    body: dict[str, Any] = {"status": "ready" if not reasons else "not_ready", "reasons": reasons}
    return JSONResponse(body, status_code=200 if not reasons else 503)
