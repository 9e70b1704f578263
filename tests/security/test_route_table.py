"""Walk the whole route table, so that a route added later cannot slip past these rules."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from tests.security.conftest import Deployment
from tickertape.app import create_app
from tickertape.settings import Settings

# Routes anyone may call. Everything else under /api and /v1 needs a user.
PUBLIC = {("POST", "/api/auth/login"), ("POST", "/api/auth/logout")}
SECRET_PARAM = re.compile(r"token|passw|secret|key|cookie|session|auth|csrf|credential", re.I)


@pytest.fixture(scope="module")
def app() -> FastAPI:
    # The same factory `tickertape serve` runs: routers are included here, not in the lifespan.
    return create_app(Settings(auth="token"))


def api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, path, route) of every HTTP route under /api and /v1, included routers and
    their prefixes resolved (FastAPI keeps included routers lazily in `app.routes`)."""
    found = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if isinstance(route, APIRoute) and path and path.startswith(("/api/", "/v1/")):
            found.extend((method, path, route) for method in sorted(context.methods or ()))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "no-such-id", path)


def call(http: httpx.Client, method: str, path: str) -> httpx.Response:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return http.request(method, concrete(path), json=body)


def test_the_walk_finds_the_admin_routes(app: FastAPI) -> None:
    admin = {path for _, path, _ in api_routes(app) if path.startswith("/api/admin")}
    assert {"/api/admin/conversations", "/api/admin/audit", "/api/admin/export"} <= admin


def test_every_admin_route_is_401_then_403_then_open(app: FastAPI, deployment: Deployment) -> None:
    server = deployment.server
    admin_routes = [(m, p) for m, p, _ in api_routes(app) if p.startswith("/api/admin")]
    with (
        server.http() as anonymous,
        server.http(deployment.user_token) as user,
        server.http(deployment.admin_token) as admin,
    ):
        for method, path in admin_routes:
            assert call(anonymous, method, path).status_code == 401, (method, path)
            forbidden = call(user, method, path)
            assert forbidden.status_code == 403, (method, path)
            assert forbidden.json()["error"]["code"] == "forbidden"
            assert call(admin, method, path).status_code not in (401, 403), (method, path)


def test_every_other_api_route_needs_a_user(app: FastAPI, deployment: Deployment) -> None:
    with deployment.server.http() as anonymous, deployment.server.http("tt_" + "x" * 43) as bad:
        for method, path, _ in api_routes(app):
            if (method, path) in PUBLIC:
                continue
            assert call(anonymous, method, path).status_code == 401, (method, path)
            assert call(bad, method, path).status_code == 401, (method, path)


def test_no_route_takes_a_credential_in_the_url(app: FastAPI) -> None:
    # URLs land in access logs, proxy logs, browser history and Referer headers.
    for method, path, route in api_routes(app):
        for dependant in (route.dependant, *route.dependant.dependencies):
            for param in (*dependant.query_params, *dependant.path_params):
                assert not SECRET_PARAM.search(param.alias), (method, path, param.alias)


def test_openapi_has_no_credential_query_parameters(deployment: Deployment) -> None:
    with deployment.server.http() as http:
        schema = http.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                if param["in"] in ("query", "path"):
                    assert not SECRET_PARAM.search(param["name"]), (method, path, param["name"])
