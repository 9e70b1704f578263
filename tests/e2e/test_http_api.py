"""The HTTP half of the contract against a real server."""

from __future__ import annotations

import json
import uuid

from tests.support.server import ServerProcess
from tests.support.wsclient import client


async def _make_conversations(server: ServerProcess, n: int) -> list[str]:
    ids = []
    async with client(server.ws_url) as c:
        for i in range(n):
            accepted = await c.chat(
                f"pagination probe {i}", uuid.uuid4().hex, params={"max_tokens": 2}
            )
            await c.collect_reply(accepted["reply_id"])
            ids.append(accepted["conversation_id"])
    return ids


async def test_cursor_pagination_walks_every_conversation_once(live_server: ServerProcess) -> None:
    made = await _make_conversations(live_server, 5)
    seen: list[str] = []
    with live_server.http() as http:
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = http.get("/api/conversations", params=params).json()
            assert len(page["items"]) <= 2
            seen += [item["id"] for item in page["items"]]
            for item in page["items"]:
                assert set(item) == {"id", "title", "created_at", "updated_at", "message_count"}
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert len(seen) == len(set(seen))
    assert set(made) <= set(seen)
    # newest first
    assert [i for i in seen if i in made] == list(reversed(made))


async def test_rename_and_delete(live_server: ServerProcess) -> None:
    (cid,) = await _make_conversations(live_server, 1)
    with live_server.http() as http:
        renamed = http.patch(f"/api/conversations/{cid}", json={"title": "Renamed ✓"})
        assert renamed.status_code == 200
        assert renamed.json()["title"] == "Renamed ✓"
        assert http.get(f"/api/conversations/{cid}").json()["title"] == "Renamed ✓"
        bad = http.patch(f"/api/conversations/{cid}", json={"title": ""})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "bad_request"
        assert http.delete(f"/api/conversations/{cid}").status_code == 204
        gone = http.get(f"/api/conversations/{cid}")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "not_found"


async def test_admin_search_transcript_and_export(live_server: ServerProcess) -> None:
    marker = f"zebra-{uuid.uuid4().hex[:8]}"
    async with client(live_server.ws_url) as c:
        accepted = await c.chat(
            f"Tell me about the {marker}", uuid.uuid4().hex, params={"max_tokens": 4}
        )
        await c.collect_reply(accepted["reply_id"])
    with live_server.http() as http:
        found = http.get("/api/admin/conversations", params={"q": marker}).json()["items"]
        assert [item["id"] for item in found] == [accepted["conversation_id"]]
        assert found[0]["user"]["name"] == "local"
        assert http.get("/api/admin/conversations", params={"user": "nobody"}).json()["items"] == []
        transcript = http.get(f"/api/admin/conversations/{accepted['conversation_id']}").json()
        reply = transcript["messages"][1]
        assert reply["status"] == "complete"
        assert reply["usage"]["completion_tokens"] > 0
        assert set(reply["timing"]) == {"queued_ms", "ttft_ms", "total_ms"}
        export = http.get("/api/admin/export", params={"format": "jsonl"})
        assert export.status_code == 200
        lines = [json.loads(line) for line in export.text.splitlines()]
        assert accepted["conversation_id"] in {line["id"] for line in lines}
        assert http.get("/api/admin/export", params={"format": "xml"}).status_code == 400


def test_health_readiness_metrics_and_pages(live_server: ServerProcess) -> None:
    with live_server.http() as http:
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["reasons"] == []
        metrics = http.get("/metrics").text
        for name in (
            "tickertape_engine_running",
            "tickertape_ws_connections",
            "tickertape_store_write_queue",
            "tickertape_http_requests_total",
        ):
            assert name in metrics
        page = http.get("/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert http.get("/admin").status_code == 200
        assert http.get("/openapi.json").json()["info"]["title"] == "tickertape"
        assert http.get("/nope").json()["error"]["code"] == "not_found"


def test_request_ids_are_echoed_or_made(live_server: ServerProcess) -> None:
    with live_server.http() as http:
        made = http.get("/healthz").headers["x-request-id"]
        assert len(made) == 32
        assert (
            http.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
            == "abc-123"
        )
        forged = http.get("/healthz", headers={"X-Request-ID": "evil\tline"})
        assert forged.headers["x-request-id"] != "evil\tline"
