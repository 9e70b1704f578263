"""Every HTTP error as `{"error": {"code", "message"}}` with the matching status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tickertape.store.types import StoreError
from tickertape.transport.openai_errors import OpenAIError, from_http

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    code = CODES.get(status, "internal" if status >= 500 else "bad_request")
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _openai_path(request: Request) -> bool:
    # What no /v1 route answered (an unknown path, a wrong method): OpenAI's clients read
    # OpenAI's error shape there too.
    path = request.url.path
    return path == "/v1" or path.startswith("/v1/")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if _openai_path(request):
        error = from_http(exc)
        if exc.status_code in (404, 405) and exc.detail in ("Not Found", "Method Not Allowed"):
            error.message = f"Invalid URL ({request.method} {request.url.path})"  # OpenAI's words
        response = error.response()
        response.headers.update(headers or {})
        return response
    return error_response(exc.status_code, str(exc.detail), headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return error_response(400, f"{where}: {first.get('msg', 'invalid')}")


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoreError)
    status = {"bad_request": 400, "not_found": 404, "conflict": 409}.get(exc.code)
    if status is None:
        return error_response(503, "the database is unavailable")
    return error_response(status, str(exc) or exc.code)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    if _openai_path(request):
        return OpenAIError.from_code("internal", "internal error").response()
    return error_response(500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(Exception, _unhandled)
