"""A real tickertape server in a subprocess, on a free loopback port."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

READY_LINE = "Uvicorn running on"
START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """One `tickertape serve` process; its stderr is kept for assertions on the log."""

    args: list[str]
    env: dict[str, str]
    port: int
    module: str = "tickertape"  # what `python -m` runs (benchmarks swap in a wrapper)
    # Instead of `python -m <module>`, e.g. the `tickertape` script of another venv.
    command: list[str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    _events: queue.Queue[str | None] = field(default_factory=queue.Queue)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        self._events = queue.Queue()
        program = self.command or [sys.executable, "-m", self.module]
        self.proc = subprocess.Popen(
            [*program, "serve", *self.args],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        self._wait_for(READY_LINE)

    def _read_output(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._events.put(line)
        self._events.put(None)

    def _wait_for(self, marker: str) -> None:
        try:
            self.wait_for_line(marker, START_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError("server did not start:\n" + self.log) from None
        except EOFError:
            raise RuntimeError("server exited during start:\n" + self.log) from None

    def wait_for_line(self, marker: str, timeout: float) -> float:
        """Block until the server prints a line containing `marker` (one not consumed by an
        earlier wait); return `time.monotonic()` then. Raises TimeoutError, or EOFError
        when the server's output ends first. Blocking: from async code, use a thread."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no line with {marker!r} within {timeout:g} s") from None
            if line is None:
                raise EOFError(f"the server's output ended before a line with {marker!r}")
            if marker in line:
                return time.monotonic()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def http(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


def make_server(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
    port = free_port()
    database = tmp_path / "tickertape.db"
    args = [
        "--port",
        str(port),
        "--database-url",
        f"sqlite+aiosqlite:///{database}",
        *extra,
    ]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return ServerProcess(args=args, env=full_env, port=port)


@contextmanager
def running_server(
    tmp_path: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    server = make_server(tmp_path, *extra, env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
