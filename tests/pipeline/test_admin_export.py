"""The admin viewer's API: failed replies and sampling per message, the status filter, and
the export of the current filter or one conversation as JSONL, CSV or Markdown, safe to
open in a spreadsheet or a Markdown viewer."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.app_server import AppServer, serve_app
from tests.support.script_engine import REPLY, ScriptEngine
from tests.support.wsclient import client
from tickertape.settings import Settings
from tickertape.transport.export import escape_markdown, fenced, safe_cell

pytestmark = pytest.mark.timeout(60)

FORMULA = '=HYPERLINK("http://evil.example","click")'
HOSTILE = "<img src=x onerror=alert(1)> [link](javascript:alert(1)) ```"


def test_cells_and_markdown_are_inert() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(text) == "'" + text
    assert (safe_cell("fine"), safe_cell(-1), safe_cell("")) == ("fine", -1, "")
    assert escape_markdown("# <b>*x*</b>\n[a](b)") == r"\# \<b\>\*x\*\<\/b\> \[a\]\(b\)"
    assert fenced("a ```` b") == "`````text\na ```` b\n`````\n"
    assert fenced("plain\n") == "```text\nplain\n```\n"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[AppServer]:
    engine = ScriptEngine()

    def factory(settings: Settings) -> ScriptEngine:
        return engine

    async with serve_app(tmp_path, factory, users=("alice", "bob"), admins=("root",)) as server:
        yield server


def http(app: AppServer, user: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {app.token(user)}"}
    return httpx.AsyncClient(base_url=app.url, headers=headers, timeout=20)


async def test_status_filter_failed_replies_and_exports(app: AppServer) -> None:
    async with client(app.ws_url, app.token("alice")) as alice:
        risky = await alice.chat(FORMULA, "a1", params={"temperature": 0.5})
        await alice.collect_reply(risky["reply_id"])
        cid = risky["conversation_id"]
        failed = await alice.chat("fail", "a2", conversation_id=cid)
        _, _, end = await alice.collect_reply(failed["reply_id"])
        assert end["error"] == {"code": "internal", "message": "scripted internal"}
    async with client(app.ws_url, app.token("bob")) as bob:
        hostile = await bob.chat(HOSTILE, "b1")
        await bob.collect_reply(hostile["reply_id"])
    other = hostile["conversation_id"]

    async with http(app, "root") as admin, http(app, "alice") as alice_http:
        listed = (await admin.get("/api/admin/conversations")).json()["items"]
        assert {(c["id"], c["has_error"]) for c in listed} == {(cid, True), (other, False)}
        only = (await admin.get("/api/admin/conversations", params={"status": "error"})).json()
        assert [c["id"] for c in only["items"]] == [cid]
        bad = await admin.get("/api/admin/conversations", params={"status": "broken"})
        assert bad.status_code == 400

        transcript = (await admin.get(f"/api/admin/conversations/{cid}")).json()
        assert transcript["has_error"] is True
        first_reply, failed_reply = transcript["messages"][1], transcript["messages"][3]
        assert first_reply["params"]["temperature"] == 0.5
        assert failed_reply["error"] == {"code": "internal", "message": "scripted internal"}
        assert [m["content"] for m in transcript["tree"]] == [FORMULA, REPLY, "fail", "The quick"]

        # CSV of the current filter: one row a message, formulas neutralised.
        exported = await admin.get("/api/admin/export", params={"format": "csv", "q": "hyperlink"})
        assert exported.headers["content-type"].startswith("text/csv")
        header, *rows = list(csv.reader(io.StringIO(exported.text)))
        assert len(rows) == 4
        assert {row[0] for row in rows} == {cid}
        cell = dict(zip(header, rows[0], strict=True))
        assert (cell["content"], cell["conversation_title"][0]) == ("'" + FORMULA, "'")
        assert dict(zip(header, rows[3], strict=True))["error_code"] == "internal"

        # Markdown of one conversation: nothing the user wrote is markup.
        markdown = await admin.get(
            "/api/admin/export", params={"format": "markdown", "conversation_id": other}
        )
        assert markdown.headers["content-type"].startswith("text/markdown")
        title = markdown.text.splitlines()[0]
        assert title == "# " + escape_markdown(HOSTILE)
        assert title.startswith(r"# \<img src\=x onerror\=alert\(1\)\> \[link\]")
        assert "````text\n" + HOSTILE + "\n````" in markdown.text  # fence outlasts the ```
        assert HOSTILE not in markdown.text.replace("````text\n" + HOSTILE, "")

        lines = (await admin.get("/api/admin/export", params={"user": "bob"})).text.splitlines()
        assert [json.loads(line)["id"] for line in lines] == [other]
        everything = (await admin.get("/api/admin/export", params={"format": "jsonl"})).text
        conversations = [json.loads(line) for line in everything.splitlines()]
        assert [(c["id"], len(c["messages"])) for c in conversations] == [(cid, 4), (other, 2)]
        assert conversations[0]["messages"][1]["parent_id"] == conversations[0]["messages"][0]["id"]
        missing = await admin.get("/api/admin/export", params={"conversation_id": "0" * 32})
        assert missing.status_code == 404

        for path in (
            "/api/admin/export",
            "/api/admin/conversations",
            f"/api/admin/conversations/{cid}",
        ):
            denied = await alice_http.get(path, params={"format": "csv"})
            assert (denied.status_code, denied.json()["error"]["code"]) == (403, "forbidden")


async def test_the_date_and_user_filters_page_and_export_on_the_server(app: AppServer) -> None:
    """`since` / `until` select on the server (a page, and the export of the filter); the
    user filter takes a part of the name in any case."""
    async with client(app.ws_url, app.token("alice")) as alice:
        accepted = await alice.chat("dated", "d1")
        await alice.collect_reply(accepted["reply_id"])
    cid = accepted["conversation_id"]
    now = datetime.now(UTC)
    past, future = (now - timedelta(days=1)).isoformat(), (now + timedelta(days=1)).isoformat()
    async with http(app, "root") as root:

        async def listed(**params: str) -> list[str]:
            answer = await root.get("/api/admin/conversations", params=params)
            assert answer.status_code == 200, answer.text
            return [item["id"] for item in answer.json()["items"]]

        async def exported(**params: str) -> list[str]:
            answer = await root.get("/api/admin/export", params={"format": "jsonl", **params})
            assert answer.status_code == 200, answer.text
            return [json.loads(line)["id"] for line in answer.text.splitlines()]

        assert await listed(since=past, until=future) == [cid]
        assert await listed(until=past) == await exported(until=past) == []
        assert await listed(since=future) == await exported(since=future) == []
        assert await exported(since=past, user="ALI") == [cid]
        assert await listed(user="LIC") == [cid]
        assert await listed(until="2024-03-11T00:00:00") == []  # no offset: UTC
        for bad in ("0.5", "2024-13-45", "yesterday"):  # not a number as a Unix time either
            answer = await root.get("/api/admin/conversations", params={"until": bad})
            assert answer.status_code == 400, bad
