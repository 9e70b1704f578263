"""A tiny OpenAI-compatible upstream whose replies the test can hold open.

The server under test runs `--engine remote` against it, so what is generated, and when the
last chunk is sent, is in the test's hands: a reply to `hold` sends its first chunk, then
waits for `release` before the rest. That makes "the client got the first chunk before the
reply was finished" a fact by construction, not a timing measurement. Any other message is
answered at once. It runs in its own threads, so sync fixtures and async tests can share it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "gated-model"
FIRST, REST = "Hel", ["lo", " wor", "ld"]
HOLD = "hold"
# A held reply gives up waiting after this long, so a failed test never hangs a thread.
HOLD_LIMIT_S = 120.0


def _chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {} if text is None else {"content": text}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "model": MODEL, "choices": [choice]}
    return f"data: {json.dumps(body)}\n\n".encode()


class GatedUpstream:
    def __init__(self) -> None:
        self.release = threading.Event()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0 with no Content-Length: the body ends when the connection closes.
            def do_GET(self) -> None:
                body = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def do_POST(self) -> None:
                request: dict[str, Any] = json.loads(
                    self.rfile.read(int(self.headers.get("Content-Length", "0")))
                )
                held = request["messages"][-1]["content"] == HOLD
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(_chunk(FIRST))
                if held:
                    upstream.release.wait(HOLD_LIMIT_S)
                for text in REST:
                    self.wfile.write(_chunk(text))
                self.wfile.write(_chunk(finish="stop") + b"data: [DONE]\n\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test's output is the server's log, not this one's

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[GatedUpstream]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.release.set()
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=10)
