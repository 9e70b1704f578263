"""A fault-injecting OpenAI-compatible upstream: raw HTTP on asyncio, for precise faults.

The last user message picks the behaviour (`normal`, `cut`, `429`, ...), so one engine can
meet a fault and then a healthy request on the same upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tickertape.engine.remote import RemoteEngine

MODEL = "fault-model"
CONTEXT = 4096
HELLO = ["Hel", "lo", " wor", "ld"]
Writer = asyncio.StreamWriter


def sse(obj: dict[str, Any] | str) -> bytes:
    return f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()


def chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {} if text is None else {"content": text}
    return sse(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


USAGE = sse(
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11},
    }
)


class FaultUpstream:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str | None] = []
        self.disconnected = asyncio.Event()  # a streaming client went away mid-response
        self.release = asyncio.Event()  # lets `hold` replies finish
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: set[Writer] = set()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()  # Python 3.11's wait_closed() waits for every client
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        self._writers.add(writer)
        try:
            method, path, _ = (await reader.readline()).decode().split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.auth_headers.append(headers.get("authorization"))
            if method == "GET" and path == "/v1/models":
                models = {
                    "object": "list",
                    "data": [
                        {"id": MODEL, "object": "model", "max_model_len": CONTEXT},
                        {"id": "other-model", "object": "model"},
                    ],
                }
                await self._json(writer, 200, models)
                return
            request = json.loads(body)
            self.requests.append(request)
            mode = request["messages"][-1]["content"].split(":")[0]
            await MODES[mode](self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: that is what some modes wait for
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    # --- response helpers
    async def _json(self, w: Writer, status: int, obj: Any, extra: str = "") -> None:
        body = json.dumps(obj).encode()
        w.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await w.drain()

    async def _head(self, w: Writer, chunked: bool = True) -> None:
        te = "Transfer-Encoding: chunked\r\n" if chunked else ""
        w.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{te}"
            "Connection: close\r\n\r\n".encode()
        )
        await w.drain()

    async def _send(self, w: Writer, *parts: bytes, chunked: bool = True) -> None:
        for part in parts:
            w.write(f"{len(part):x}\r\n".encode() + part + b"\r\n" if chunked else part)
        await w.drain()

    async def _end(self, w: Writer) -> None:
        w.write(b"0\r\n\r\n")
        await w.drain()

    async def _until_client_leaves(self, r: asyncio.StreamReader) -> None:
        while await r.read(1024):
            continue
        self.disconnected.set()

    # --- modes
    async def normal(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self._head(w)
        await self._send(
            w, chunk(""), *[chunk(t) for t in HELLO], chunk(finish="stop"), USAGE, sse("[DONE]")
        )
        await self._end(w)

    async def length(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self._head(w)
        await self._send(w, chunk("Hel"), chunk(finish="length"), sse("[DONE]"))
        await self._end(w)

    async def cutcall(self, r: asyncio.StreamReader, w: Writer) -> None:
        """A tool call cut by the upstream's max_tokens: its arguments are a prefix."""
        call = {"index": 0, "id": "c", "function": {"name": "f", "arguments": '{"a": '}}
        cut = sse(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "model": MODEL,
                "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}],
            }
        )
        await self._head(w)
        await self._send(w, cut, chunk(finish="length"), sse("[DONE]"))
        await self._end(w)

    async def garbage(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self._head(w)
        noise = (
            b": keep-alive\n\nthis line is garbage\nevent: message\nid: 7\nretry: 10\nfoo: 1\n\n"
        )
        await self._send(
            w,
            noise,
            chunk("Hel"),
            b"\xef\xbb\xbfjunk\r\n\r\n",
            chunk("lo"),
            chunk(finish="stop"),
            sse("[DONE]"),
        )
        await self._end(w)

    async def nonjson(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self._head(w)
        await self._send(w, chunk("Hel"), b"data: {not json\n\n", chunk("lo"))
        await self._end(w)

    async def errorevent(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self._head(w)
        await self._send(w, chunk("Hel"), sse({"error": {"message": "CUDA out of memory"}}))
        await self._end(w)

    async def cut(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self._head(w)
        await self._send(w, chunk("Hel"), chunk("lo"))
        w.transport.abort()  # no terminating chunk: the connection just drops

    async def eof(self, r: asyncio.StreamReader, w: Writer) -> None:
        # A close-delimited body that ends cleanly but without finish_reason or [DONE].
        await self._head(w, chunked=False)
        await self._send(w, chunk("Hel"), chunk("lo"), chunked=False)

    async def slow(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self._until_client_leaves(r)  # never a byte: the engine's read timeout fires

    async def stall(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self._head(w)
        await self._send(w, chunk("Hel"))
        await self._until_client_leaves(r)

    async def endless(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self._head(w)
        await self._send(w, chunk("Hel"), chunk("lo"))
        await self._until_client_leaves(r)

    async def hold(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self._head(w)
        await self._send(w, chunk("Hel"))
        await self.release.wait()
        await self._send(w, chunk("lo"), chunk(finish="stop"), sse("[DONE]"))
        await self._end(w)

    async def status(self, w: Writer, status: int, message: str, extra: str = "") -> None:
        await self._json(w, status, {"error": {"message": message, "type": "x"}}, extra)

    async def s429(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self.status(w, 429, "slow down", "Retry-After: 2\r\n")

    async def s429bare(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self.status(w, 429, "slow down")

    async def s500(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self.status(w, 500, "boom")

    async def s503(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self.status(w, 503, "warming up", "Retry-After: 3\r\n")

    async def s400ctx(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self.status(
            w,
            400,
            "This model's maximum context length is 4096 tokens. "
            "However, you requested 5000 tokens.",
        )

    async def s400(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self.status(w, 400, "top_p must be in (0, 1]")

    async def s401(self, r: asyncio.StreamReader, w: Writer) -> None:
        await self.status(w, 401, "invalid api key")


Mode = Callable[[FaultUpstream, asyncio.StreamReader, Writer], Awaitable[None]]
MODES: dict[str, Mode] = {
    "normal": FaultUpstream.normal,
    "length": FaultUpstream.length,
    "cutcall": FaultUpstream.cutcall,
    "garbage": FaultUpstream.garbage,
    "nonjson": FaultUpstream.nonjson,
    "errorevent": FaultUpstream.errorevent,
    "cut": FaultUpstream.cut,
    "eof": FaultUpstream.eof,
    "slow": FaultUpstream.slow,
    "stall": FaultUpstream.stall,
    "endless": FaultUpstream.endless,
    "hold": FaultUpstream.hold,
    "429": FaultUpstream.s429,
    "429bare": FaultUpstream.s429bare,
    "500": FaultUpstream.s500,
    "503": FaultUpstream.s503,
    "400ctx": FaultUpstream.s400ctx,
    "400": FaultUpstream.s400,
    "401": FaultUpstream.s401,
}


@pytest.fixture
async def upstream() -> AsyncIterator[FaultUpstream]:
    server = FaultUpstream()
    await server.start()
    yield server
    server.release.set()
    await server.close()


@pytest.fixture
async def engine(upstream: FaultUpstream) -> AsyncIterator[RemoteEngine]:
    eng = RemoteEngine(upstream.url, None, api_key="sk-test", timeout_s=1.0, max_concurrency=4)
    await eng.start()
    yield eng
    await eng.close()
