"""The web login: cookie attributes, CSRF, logout, revocation, disabled users."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.auth.accounts import create_user, database_url, users
from tests.security.conftest import USER_PASSWORD, Deployment

COOKIE = "tickertape_session"


def browser(deployment: Deployment) -> httpx.Client:
    return httpx.Client(base_url=deployment.server.base_url, timeout=30)


def login(http: httpx.Client, **body: str) -> httpx.Response:
    return http.post("/api/auth/login", json=body)


def test_password_login_sets_a_strict_httponly_cookie(deployment: Deployment) -> None:
    with browser(deployment) as http:
        answer = login(http, username="alice", password=USER_PASSWORD)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["user"]["name"] == "alice"
        assert body["user"]["role"] == "user"
        assert len(body["csrf_token"]) >= 32
        cookie = answer.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "path", "samesite", "max-age"} <= attributes
        assert "samesite=strict" in cookie.lower()
        assert "path=/" in cookie.lower()
        assert "domain" not in attributes
        # This server is plain HTTP (no --secure-cookies): neither Secure nor __Host-.
        assert cookie.startswith(f"{COOKIE}=")
        assert body["csrf_token"] not in cookie


def test_me_recovers_the_csrf_token_after_a_reload(deployment: Deployment) -> None:
    with browser(deployment) as http:
        csrf = login(http, username="alice", password=USER_PASSWORD).json()["csrf_token"]
        me = http.get("/api/auth/me")
        assert me.status_code == 200
        assert me.json() == {"user": me.json()["user"], "csrf_token": csrf}
    with deployment.server.http(deployment.user_token) as http:
        # A bearer caller has no cookie session, so no CSRF token either.
        assert http.get("/api/auth/me").json()["csrf_token"] is None
    with browser(deployment) as http:
        assert http.get("/api/auth/me").status_code == 401


def test_unsafe_cookie_requests_need_the_csrf_header(deployment: Deployment) -> None:
    with browser(deployment) as http:
        csrf = login(http, username="alice", password=USER_PASSWORD).json()["csrf_token"]
        path = "/api/conversations/does-not-exist"
        for method in ("PATCH", "DELETE", "POST", "PUT"):
            for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": csrf[:-1]}):
                answer = http.request(method, path, json={"title": "x"}, headers=headers)
                assert answer.status_code in (403, 405), (method, headers, answer.text)
                if answer.status_code == 403:
                    assert answer.json()["error"]["code"] == "forbidden"
        good = http.patch(path, json={"title": "x"}, headers={"X-CSRF-Token": csrf})
        assert good.status_code == 404  # past authentication: the conversation is missing
        assert http.get("/api/conversations").status_code == 200  # safe methods need none


def test_bearer_requests_need_no_csrf_header(deployment: Deployment) -> None:
    with deployment.server.http(deployment.user_token) as http:
        answer = http.patch("/api/conversations/does-not-exist", json={"title": "x"})
        assert answer.status_code == 404


def test_wrong_credentials_are_one_401(deployment: Deployment) -> None:
    with browser(deployment) as http:
        for body in (
            {"username": "alice", "password": "wrong password"},
            {"username": "nobody-by-this-name", "password": USER_PASSWORD},
            {"username": "mallory", "password": USER_PASSWORD},  # has no password at all
            {"token": "tt_" + "A" * 43},
        ):
            answer = login(http, **body)
            assert answer.status_code == 401, body
            # The same message whatever was wrong: no user enumeration.
            assert answer.json()["error"]["message"] == "wrong username, password or token"
        assert COOKIE not in http.cookies


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "alice"},
        {"password": "x"},
        {"token": ""},
        {"username": "alice", "password": USER_PASSWORD, "token": "tt_x"},
    ],
)
def test_malformed_logins_are_400(deployment: Deployment, body: dict[str, str]) -> None:
    with browser(deployment) as http:
        assert login(http, **body).status_code == 400


def test_login_wants_json_not_a_form(deployment: Deployment) -> None:
    # A cross-site <form> can post text/plain or urlencoded without a preflight.
    with browser(deployment) as http:
        raw = json.dumps({"username": "alice", "password": USER_PASSWORD})
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            answer = http.post(
                "/api/auth/login", content=raw, headers={"Content-Type": content_type}
            )
            assert answer.status_code == 400, content_type


def test_token_login_and_logout(deployment: Deployment) -> None:
    with browser(deployment) as http:
        answer = login(http, token=deployment.user_token)
        assert answer.status_code == 200
        csrf = answer.json()["csrf_token"]
        cookie = http.cookies[COOKIE]
        assert http.get("/api/auth/me").status_code == 200
        assert http.post("/api/auth/logout").status_code == 403  # CSRF needed here too
        assert http.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert COOKIE not in http.cookies
    with browser(deployment) as replay:
        # The old cookie value is dead on the server, not only forgotten by the browser.
        replay.cookies.set(COOKIE, cookie)
        assert replay.get("/api/auth/me").status_code == 401


def test_a_new_login_replaces_the_old_session(deployment: Deployment) -> None:
    with browser(deployment) as http:
        login(http, username="alice", password=USER_PASSWORD)
        first = http.cookies[COOKIE]
        login(http, username="alice", password=USER_PASSWORD)
        assert http.cookies[COOKIE] != first
    with browser(deployment) as replay:
        replay.cookies.set(COOKIE, first)
        assert replay.get("/api/auth/me").status_code == 401


def test_revoke_and_disable_take_effect_at_once(deployment: Deployment) -> None:
    url = database_url(deployment.db_path)
    token = create_user(url, "eve", password="eve's long password")
    with browser(deployment) as http:
        assert login(http, username="eve", password="eve's long password").status_code == 200
        users(url, "revoke", "eve")  # every token and web session of eve
        assert http.get("/api/auth/me").status_code == 401
    with deployment.server.http(token) as http:
        assert http.get("/api/auth/me").status_code == 401
    new_token = users(url, "token", "eve").strip()
    users(url, "disable", "eve")
    with deployment.server.http(new_token) as http:
        assert http.get("/api/auth/me").status_code == 401
    with browser(deployment) as http:
        assert login(http, username="eve", password="eve's long password").status_code == 401
    users(url, "enable", "eve")
    with deployment.server.http(new_token) as http:
        assert http.get("/api/auth/me").json()["user"]["name"] == "eve"


def test_an_open_socket_closes_once_its_credential_is_withdrawn(deployment: Deployment) -> None:
    """A revoked token, a disabled user or a logged-out web session stops being served on
    the sockets it opened: the next frame closes them with 1008."""
    url = database_url(deployment.db_path)
    server = deployment.server
    token = create_user(url, "trudy", password="trudy's long password")
    with browser(deployment) as http:
        csrf = login(http, token=token).json()["csrf_token"]
        cookie_socket = ws_connect(
            server.ws_url,
            additional_headers={
                "Origin": server.base_url,
                "Cookie": f"{COOKIE}={http.cookies[COOKIE]}",
            },
            open_timeout=10,
        )
        token_socket = ws_connect(
            server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10
        )
        with cookie_socket, token_socket:
            for ws in (cookie_socket, token_socket):
                assert json.loads(ws.recv(timeout=10))["type"] == "hello"
                ws.send(json.dumps({"type": "ping", "data": 1}))
                assert json.loads(ws.recv(timeout=10)) == {"type": "pong", "data": 1}
            assert http.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
            users(url, "disable", "trudy")  # the token stays, its user may not use it
            for ws in (cookie_socket, token_socket):
                ws.send(json.dumps({"type": "chat", "client_msg_id": "after", "content": "hi"}))
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=10)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1008
    users(url, "enable", "trudy")
    with ws_connect(
        server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        users(url, "revoke", "trudy")
        ws.send(json.dumps({"type": "ping", "data": 2}))
        with pytest.raises(ConnectionClosed) as revoked:
            ws.recv(timeout=10)
        assert revoked.value.rcvd is not None
        assert revoked.value.rcvd.code == 1008
