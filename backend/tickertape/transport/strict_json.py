"""JSON as RFC 8259 has it, on every entry point: no NaN or Infinity (nor numbers that
overflow to them) and no lone UTF-16 surrogates, which no client's `JSON.parse` round-trips
and no database stores. WebSocket frames use `strict_loads`; HTTP routes use
`StrictJsonRoute`, which parses the body strictly before FastAPI reads it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


class InvalidJson(ValueError):
    """Valid for Python's json module, not for JSON: refused with `bad_request` / 400."""


def _reject_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999 parses as infinity
        raise InvalidJson(f"the number {literal[:32]} is out of range")
    return value


def _finite_int(literal: str) -> int:
    # A whole number too large for a double is infinity to JSON.parse (and to every
    # client that reads numbers as doubles): refused like 1e999.
    if len(literal) > 308 and math.isinf(float(literal)):  # ~1.8e308 has 309 digits
        raise InvalidJson(f"the number {literal[:32]}... is out of range")
    return int(literal)


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON; raise InvalidJson for what JSON forbids, ValueError if it is not JSON."""
    value = json.loads(
        text,
        parse_constant=_reject_constant,
        parse_float=_finite_float,
        parse_int=_finite_int,
    )
    raw = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    if "\\u" in raw:
        # Escapes are the only way a lone surrogate gets into valid UTF-8 text.
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidJson("a string contains a lone UTF-16 surrogate") from None
    return value


class StrictJsonRoute(APIRoute):
    """Routes whose JSON bodies are parsed with `strict_loads` (a 400 otherwise)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            if "json" in request.headers.get("content-type", ""):
                body = await request.body()
                if body:
                    try:
                        # Starlette's Request.json() returns this cached value, so FastAPI
                        # validates exactly what was parsed strictly.
                        request._json = strict_loads(body)
                    except InvalidJson as exc:
                        raise RequestValidationError(
                            [{"loc": ("body",), "msg": str(exc), "type": "json_invalid"}]
                        ) from exc
                    except (ValueError, RecursionError):
                        pass  # not JSON at all: FastAPI reports it in its own words
            return await handler(request)

        return route
