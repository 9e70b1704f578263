"""SQL injection payloads round-trip byte for byte; the database holds no usable secret."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid

import httpx

from tests.security.conftest import USER_PASSWORD, Deployment
from tests.support.wsclient import client
from tickertape.auth.credentials import sha256_hex

PAYLOADS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "'; DROP TABLE users; --",
    "'; DROP TABLE messages;--",
    "1; DELETE FROM conversations",
    "admin'--",
    "admin' #",
    "' UNION SELECT password_hash FROM users --",
    "' UNION SELECT token_hash, 1 FROM api_tokens--",
    "1' AND SLEEP(5)#",
    "1'; WAITFOR DELAY '0:0:5'--",
    "'; SELECT pg_sleep(5);--",
    "1 AND 1=CONVERT(int,@@version)",
    "' AND extractvalue(1,concat(0x7e,version()))--",
    "%",
    "_",
    "%%",
    "%_%",
    "\\",
    "\\%",
    "\\_",
    "a%b_c\\d",
    "[a-z]*",
    "'||'",
    "'+'",
    "'; ATTACH DATABASE '/tmp/x.db' AS x; --",
    "'; PRAGMA writable_schema=1; --",
    "') OR ('a'='a",
    "')) OR (('a'='a",
    "1 OR 1=1",
    "1' ORDER BY 100--",
    "' GROUP BY 1--",
    "'; INSERT INTO users(name) VALUES('evil'); --",
    "\\'; SELECT 1; --",
    "`; SELECT 1; --",
    "$1",
    "?",
    ":name",
    "@p",
    "{0}",
    "%s",
    "%(x)s",
    "NULL",
    "null",
    "'",
    "''",
    '"',
    "--",
    "/* comment */ SELECT",
    "; ; ;",
    "ö'ü\"ß",
    "😀' OR '😀'='😀",
    "x' COLLATE NOCASE --",
]


def msg_id() -> str:
    return uuid.uuid4().hex


async def chat_each(url: str, token: str, contents: list[str]) -> dict[str, str]:
    """Send each content as a one-token chat; map content -> conversation id."""
    conversations: dict[str, str] = {}
    async with client(url, token) as ws:
        for content in contents:
            accepted = await ws.chat(content, msg_id(), params={"max_tokens": 1})
            assert accepted["type"] == "accepted", (content, accepted)
            await ws.collect_reply(accepted["reply_id"])
            conversations[content] = accepted["conversation_id"]
    return conversations


def test_payloads_round_trip(deployment: Deployment) -> None:
    assert len(PAYLOADS) >= 50
    server = deployment.server
    conversations = asyncio.run(chat_each(server.ws_url, deployment.user_token, PAYLOADS))
    with server.http(deployment.user_token) as http, server.http(deployment.admin_token) as admin:
        for payload, conversation_id in conversations.items():
            transcript = http.get(f"/api/conversations/{conversation_id}").json()
            assert transcript["messages"][0]["content"] == payload
            renamed = http.patch(f"/api/conversations/{conversation_id}", json={"title": payload})
            assert renamed.status_code == 200, renamed.text
            assert renamed.json()["title"] == payload
            again = http.get(f"/api/conversations/{conversation_id}").json()
            assert again["title"] == payload
            found = admin.get(
                "/api/admin/conversations", params={"q": payload, "user": "alice", "limit": 100}
            )
            assert found.status_code == 200, found.text
            assert conversation_id in {c["id"] for c in found.json()["items"]}, payload
        # LIKE wildcards are literal: "%" finds only conversations that contain a "%".
        # (Other tests' conversations may hold anything, so only ours are judged.)
        percent = admin.get("/api/admin/conversations", params={"q": "%", "limit": 100}).json()
        found_ids = {c["id"] for c in percent["items"]}
        for payload, conversation_id in conversations.items():
            assert (conversation_id in found_ids) == ("%" in payload), payload
        # And nothing was dropped along the way.
        assert http.get("/api/auth/me").json()["user"]["name"] == "alice"


def test_no_plaintext_secret_at_rest(deployment: Deployment) -> None:
    server = deployment.server
    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        login = browser.post(
            "/api/auth/login", json={"username": "alice", "password": USER_PASSWORD}
        )
        assert login.status_code == 200
        cookie, csrf = browser.cookies["tickertape_session"], login.json()["csrf_token"]
    asyncio.run(chat_each(server.ws_url, deployment.admin_token, ["remember nothing secret"]))
    with sqlite3.connect(deployment.db_path) as db:
        dump = "\n".join(db.iterdump())
    secrets = {
        "admin token": deployment.admin_token,
        "user token": deployment.user_token,
        "other token": deployment.other_token,
        "password": USER_PASSWORD,
        "session cookie": cookie,
        "csrf token": csrf,
    }
    for what, secret in secrets.items():
        assert secret not in dump, f"the {what} is stored in plaintext"
        assert secret[4:-4] not in dump, f"part of the {what} is stored"
    # The dump is the right one: the digests are there, and the password is Argon2id.
    assert sha256_hex(deployment.user_token) in dump
    assert sha256_hex(cookie) in dump
    assert "$argon2id$" in dump
