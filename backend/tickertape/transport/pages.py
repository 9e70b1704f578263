"""The static front end: `/` (chat), `/admin` (transcripts), assets under `/static/`.

The files live in the package (`tickertape/web/`), so a wheel installed anywhere serves them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

import tickertape

# Package data: the same place in a source checkout and in an installed wheel.
FRONTEND_DIR = Path(tickertape.__file__).resolve().parent / "web"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)

router = APIRouter(include_in_schema=False)


@router.get("/")
async def chat_page() -> FileResponse:
    return FileResponse(FRONTEND_DIR / "index.html")


@router.get("/admin")
async def admin_page() -> FileResponse:
    return FileResponse(FRONTEND_DIR / "admin.html")


def mount_frontend(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=FRONTEND_DIR, check_dir=False), name="static")
