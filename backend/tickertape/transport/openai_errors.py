"""Errors of the OpenAI-compatible routes, in OpenAI's shape: {"error": {message, type, code}}.

The app's own handlers answer in the contract's shape, so this router converts its errors
itself, in a route class (exception handlers belong to the app, not to a router).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tickertape.chat.errors import ChatError
from tickertape.chat.types import ModelInfo
from tickertape.transport.strict_json import StrictJsonRoute

log = logging.getLogger(__name__)

# contract error code -> (HTTP status, OpenAI error type, OpenAI error code)
_BY_CODE: dict[str, tuple[int, str, str]] = {
    "bad_request": (400, "invalid_request_error", "invalid_value"),
    "too_long": (400, "invalid_request_error", "context_length_exceeded"),
    "not_found": (404, "invalid_request_error", "not_found"),
    "conflict": (409, "invalid_request_error", "conflict"),
    "rate_limited": (429, "rate_limit_error", "rate_limit_exceeded"),
    "overloaded": (503, "server_error", "overloaded"),
    "internal": (500, "server_error", "internal_error"),
    # The model's tool call could not be completed (max_tokens ran out inside it) or does
    # not fit its schema (a format the grammar cannot drive): the generation failed.
    "tool_call_incomplete": (500, "server_error", "tool_call_incomplete"),
    "invalid_tool_call": (500, "server_error", "invalid_tool_call"),
}
_BY_STATUS = {
    401: "invalid_api_key",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorOut(BaseModel):
    """OpenAI's error body, as /openapi.json declares it for the /v1 routes."""

    error: OpenAIErrorDetail


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": OpenAIErrorOut} for status in statuses}


class OpenAIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.retry_after_ms = retry_after_ms

    @classmethod
    def from_code(cls, code: str, message: str, retry_after_ms: int | None = None) -> OpenAIError:
        status, type_, openai_code = _BY_CODE.get(code, _BY_CODE["internal"])
        return cls(status, message, type_=type_, code=openai_code, retry_after_ms=retry_after_ms)

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        headers: dict[str, str] = {}
        if self.retry_after_ms is not None:
            # retry-after-ms is what the openai clients read first; Retry-After for the rest.
            headers["retry-after-ms"] = str(self.retry_after_ms)
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_ms / 1000)))
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def check_model(served: ModelInfo, model: str) -> None:
    """A request names the model this server serves, or gets OpenAI's 404."""
    if model != served.name:
        raise OpenAIError(
            404,
            f"the model {model!r} does not exist; this server serves {served.name!r}",
            code="model_not_found",
            param="model",
        )


_NAMED = re.compile(r"^([a-z_][a-z0-9_.\[\]]*): ")  # a message that starts with its field


def from_chat_error(exc: ChatError) -> OpenAIError:
    error = OpenAIError.from_code(exc.code, exc.message, exc.retry_after_ms)
    if exc.code == "bad_request" and (named := _NAMED.match(exc.message)):
        error.param = named.group(1)  # a schema the engine could not compile, say
    return error


# The names pydantic puts in an error's location for the member of a union that failed.
_UNION_MEMBERS = {"str", "int", "float", "bool", "dict", "list", "none", "bytes"}
_FIELD = re.compile(r"[a-z_][a-z0-9_]*")


def openai_param(loc: Sequence[Any]) -> str | None:
    """pydantic's location as OpenAI names a parameter: `messages[0].content`, without
    the body marker or the union member that was tried."""
    param = ""
    for part in loc:
        if isinstance(part, int):
            param += f"[{part}]"
        elif _FIELD.fullmatch(str(part)) and part not in _UNION_MEMBERS and part != "body":
            param += f".{part}" if param else str(part)
    return param or None


def from_validation(errors: Sequence[Any]) -> OpenAIError:
    """A 400 naming the first invalid field (pydantic's `errors()`)."""
    first = errors[0] if errors else {}
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error") or message
        return OpenAIError(
            400, f"We could not parse the JSON body of your request: {reason}", code="invalid_json"
        )
    param = openai_param(first.get("loc", ()))
    if param is None and (named := _NAMED.match(message)):
        # A whole-body check names its field at the start of the message.
        param, message = named.group(1), message[named.end() :]
    return OpenAIError(
        400, f"{param}: {message}" if param else message, code="invalid_value", param=param
    )


def from_http(exc: HTTPException) -> OpenAIError:
    error = OpenAIError(exc.status_code, str(exc.detail), code=_BY_STATUS.get(exc.status_code))
    if exc.status_code >= 500:
        error.type = "server_error"
    return error


class OpenAIRoute(StrictJsonRoute):
    """Every failure of these routes leaves as an OpenAI-shaped error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except OpenAIError as exc:
                return exc.response()
            except RequestValidationError as exc:
                return from_validation(exc.errors()).response()
            except HTTPException as exc:
                response = from_http(exc).response()
                response.headers.update(exc.headers or {})
                return response
            except ChatError as exc:
                return from_chat_error(exc).response()

        return route
