"""A reply's thinking and tool calls in the chat page and the admin viewer.

The server is the real app over the scripted engine (tests/support/script_engine.py), so
the test decides when each piece of the reply arrives: the thinking streams first (a
collapsed "Thinking…" disclosure that fills live), then a tool call whose arguments
arrive in pieces, then the reply waits for the result; a WebSocket client (another device
of the same user) sends it, and the same reply continues with its answer. After a reload
the stored reply shows the same. Tool results are text, never markup.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.support.app_server import AppServer, serve_app
from tests.support.script_engine import ScriptEngine

from .helpers import shot

pytestmark = pytest.mark.browser

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
        },
    }
]
HOSTILE = '<img src=x onerror="window.__pwned = 1">{"answer": 42}'


class ScriptedServer:
    """serve_app in a thread of its own (the sync Playwright API owns this one)."""

    def __init__(self, tmp: Path) -> None:
        self.engine = ScriptEngine()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.app: AppServer | None = None
        self._thread = threading.Thread(target=self._run, args=(tmp,), daemon=True)
        self._thread.start()
        assert self._ready.wait(60), "the scripted server did not start"

    def _run(self, tmp: Path) -> None:
        async def serve() -> None:
            self._stop = asyncio.Event()
            # The engine's step semaphore belongs to this loop: made here.
            self.engine.steps = asyncio.Semaphore(0)
            factory = lambda settings: self.engine  # noqa: E731
            async with serve_app(tmp, factory, auth="none") as app:
                self.app = app
                self._ready.set()
                await self._stop.wait()

        self._loop.run_until_complete(serve())

    def release(self, steps: int) -> None:
        for _ in range(steps):
            self._loop.call_soon_threadsafe(self.engine.steps.release)

    def close(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptedServer]:
    server = ScriptedServer(tmp_path_factory.mktemp("scripted"))
    yield server
    server.close()


def read_until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=30))
        assert frame["type"] != "error", frame
        if frame["type"] == kind:
            return frame


def test_thinking_and_a_tool_call_live_then_from_history(
    page: Any, scripted: ScriptedServer, screenshot_dir: Path
) -> None:
    app = scripted.app
    assert app is not None
    with connect(app.ws_url, open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        ws.send(
            json.dumps(
                {"type": "chat", "client_msg_id": "t1", "content": "paced_tool", "tools": TOOLS}
            )
        )
        accepted = read_until(ws, "accepted")
        # The scripted reply says it is queued until its first step: the status line shows
        # that, not "open".
        page.goto(f"{app.url}/#c={accepted['conversation_id']}")
        reply = page.locator(".message.assistant")
        expect(reply).to_have_count(1)
        thinking = reply.locator("details.reasoning")

        scripted.release(1)  # the thinking
        expect(thinking.locator("summary")).to_have_text("Thinking…")
        expect(thinking).not_to_have_attribute("open", "")
        expect(thinking.locator(".reasoning-text")).to_be_hidden()
        thinking.locator("summary").click()
        expect(thinking.locator(".reasoning-text")).to_have_text("I should call a tool.")

        scripted.release(8)  # the answer's first words, the call, its argument pieces
        call = reply.locator(".tool-call")
        expect(call.locator(".tool-call-name")).to_have_text("lookup")
        expect(call.locator(".tool-call-arguments")).to_have_text(
            json.dumps({"x": 1, "y": "two"}, indent=2)
        )
        expect(call.locator(".tool-result-pending")).to_have_text("Waiting for the result…")
        expect(reply).to_have_attribute("data-status", "awaiting_tools")
        expect(thinking.locator("summary")).to_have_text("Thoughts")
        shot(page, screenshot_dir, "tool-call-waiting-desktop")

        awaiting = read_until(ws, "awaiting_tools")
        call_id = awaiting["calls"][0]["call_id"]
        ws.send(
            json.dumps(
                {
                    "type": "tool_result",
                    "reply_id": accepted["reply_id"],
                    "call_id": call_id,
                    "content": HOSTILE,
                }
            )
        )
        read_until(ws, "end")

    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".message-body p")).to_have_text(["Calling.", f"Result: {HOSTILE}"])
    expect(call.locator(".tool-result-content")).to_have_text(HOSTILE)
    expect(reply.locator("img")).to_have_count(0)
    shot(page, screenshot_dir, "tool-call-answered-desktop")

    page.reload()
    reply = page.locator(".message.assistant")
    expect(reply).to_have_attribute("data-status", "complete")
    thinking = reply.locator("details.reasoning")
    expect(thinking).not_to_have_attribute("open", "")
    expect(thinking.locator("summary")).to_have_text("Thoughts")
    expect(reply.locator(".tool-call .tool-call-name")).to_have_text("lookup")
    expect(reply.locator(".tool-call .tool-result-content")).to_have_text(HOSTILE)
    expect(reply.locator("img")).to_have_count(0)

    page.goto(f"{app.url}/admin#c={accepted['conversation_id']}")
    admin_reply = page.locator("#admin-messages .admin-message.role-assistant")
    expect(admin_reply.locator("details.reasoning .reasoning-text")).to_have_text(
        "I should call a tool.", use_inner_text=False
    )
    expect(admin_reply.locator(".tool-call .tool-call-name")).to_have_text("lookup")
    expect(admin_reply.locator(".tool-call .tool-result-content")).to_have_text(HOSTILE)
    expect(page.locator("img")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None
