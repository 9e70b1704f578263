"""A reply that runs on another replica, read from its Redis stream as a `ReplyLog`.

The owner's mirror (`redis_mirror.py`) appends every sealed frame of the reply's log to the
stream `r:{reply_id}` with its seq, then the end. Here a `RemoteReplyLog` is filled from
that stream (XRANGE from the start, then XREAD), so the transports read it exactly like a
local log: a connection's cursor, `follow()`, `resume` from any `last_seq`. One reader
task per process follows every remote reply its connections follow, in one XREAD.

An owner that dies stops its heartbeat; the reader then has the reply ended `interrupted`
(`redis_reaper.py`), so nobody waits forever on a stream that no longer grows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from tickertape.chat.errors import ChatError
from tickertape.chat.frame_codec import decode_frame
from tickertape.chat.reply_log import ReplyEnd, ReplyError, ReplyLog
from tickertape.redis_client import Keys, RedisHealth

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from redis.asyncio import Redis

log = logging.getLogger(__name__)

BLOCK_MS = 100  # how long one XREAD waits for news (also: how soon a new stream joins)
MIN_ROUND_S = 0.01  # at most ~100 XREADs a second per process, however busy
OWNER_CHECK_S = 1.0
CATCH_UP_S = 1.0  # a client may hold a frame the owner has not mirrored yet: wait for it
IDLE_S = 30.0  # a remote reply nobody here follows is dropped after this long
KEEP_FINISHED_S = 10.0


def encode_end(end: ReplyEnd) -> str:
    return json.dumps(asdict(end), separators=(",", ":"))


def decode_end(text: str) -> ReplyEnd:
    data = json.loads(text)
    error = data.get("error")
    return ReplyEnd(
        int(data["seq"]),
        str(data["finish_reason"]),
        str(data["status"]),
        dict(data["usage"]),
        dict(data["timing"]),
        ReplyError(**error) if error else None,
    )


class RemoteReplyLog(ReplyLog):
    def __init__(
        self, reply_id: str, user_id: str, conversation_id: str | None, owner: str, stored: bool
    ) -> None:
        # `on_disconnect: stop` is the owner's business: its own connections decide.
        super().__init__(reply_id, user_id, conversation_id, "continue")
        self.owner = owner
        self.stored = stored
        self.last_id = "0-0"  # the stream entry read last
        self.last_used = time.monotonic()
        self.reaping = False
        self.finished_at: float | None = None
        self._final_text: str | None = None

    @classmethod
    def from_meta(cls, reply_id: str, meta: dict[str, str]) -> RemoteReplyLog:
        return cls(
            reply_id, meta["user"], meta.get("conv") or None, meta["owner"], meta["stored"] == "1"
        )

    def add_entries(self, entries: list[tuple[str, dict[str, str]]]) -> bool:
        """Apply stream entries in order (repeats are skipped); False on a gap."""
        ok = True
        for entry_id, fields in entries:
            ok = self._apply(fields) and ok
            self.last_id = entry_id
        self._notify()
        return ok

    def _apply(self, fields: dict[str, str]) -> bool:
        if self.end is not None:
            return True
        if "q" in fields and not self.frames:
            self.queue_position = int(fields["q"])
        if "f" in fields:
            seq = int(fields["s"])
            for encoded in json.loads(fields["f"]):
                if seq == len(self.frames) + 1:
                    self.frames.append(decode_frame(seq, encoded))
                    self.queue_position = None
                elif seq > len(self.frames) + 1:
                    return False  # frames missing: the stream lost entries
                seq += 1
        if "e" in fields:
            end = decode_end(fields["e"])
            if "x" in fields:
                self._final_text = fields["x"]
            elif end.seq != len(self.frames):
                return False
            self.end = end
            self.queue_position = None
        return True

    def text_through(self, seq: int, kind: str = "text") -> str:
        if self._final_text is not None and self.end is not None and seq == self.end.seq:
            return self._final_text  # an end rebased on the store's text (see the reaper)
        return super().text_through(seq, kind)


class RemoteLogs:
    """The remote replies this process's connections follow, and the task that reads them."""

    def __init__(
        self,
        client: Redis,
        keys: Keys,
        health: RedisHealth,
        reap: Callable[[str], Awaitable[None]],
    ) -> None:
        self._client = client
        self._keys = keys
        self._health = health
        self._reap = reap
        self._logs: dict[str, RemoteReplyLog] = {}
        self._task: asyncio.Task[None] | None = None
        self._reaping: set[asyncio.Task[None]] = set()

    async def open(self, user_id: str, reply_id: str, last_seq: int) -> RemoteReplyLog | None:
        """The reply's remote log, or None when Redis does not know it (then the store
        answers); `not_found` when it is another user's."""
        reply_log = self._logs.get(reply_id)
        if reply_log is None:
            reply_log = await self._load(reply_id)
            if reply_log is None:
                return None
        if reply_log.user_id != user_id:
            raise ChatError("not_found", "no such reply", reply_id)
        reply_log.last_used = time.monotonic()
        if last_seq > reply_log.sealed_seq and reply_log.end is None:
            await _wait_for(reply_log, lambda: reply_log.sealed_seq >= last_seq, CATCH_UP_S)
        return reply_log

    async def _load(self, reply_id: str) -> RemoteReplyLog | None:
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(self._keys.meta(reply_id))
            pipe.xrange(self._keys.stream(reply_id))
            meta, entries = await pipe.execute()
        except Exception as exc:
            log.info("redis: reply %s read from the store instead: %s", reply_id, exc)
            return None
        if not meta or "owner" not in meta:
            return None
        reply_log = RemoteReplyLog.from_meta(reply_id, meta)
        if not reply_log.add_entries(entries):
            log.warning("redis: the stream of reply %s has a gap; using the store", reply_id)
            return None
        existing = self._logs.get(reply_id)  # another resume loaded it meanwhile
        if existing is not None:
            return existing
        if reply_log.end is None:
            self._logs[reply_id] = reply_log
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._follow(), name="redis-follower")
        return reply_log

    async def _follow(self) -> None:
        last_owner_check = time.monotonic()
        while self._prune():
            started = time.monotonic()
            live = {self._keys.stream(rid): rl for rid, rl in self._logs.items() if rl.end is None}
            try:
                answer = await self._client.xread(
                    {key: rl.last_id for key, rl in live.items()}, block=BLOCK_MS
                )
            except Exception as exc:
                log.debug("redis follower: %s", exc)
                await asyncio.sleep(0.5)
                continue
            for key, entries in _stream_items(answer):
                reply_log = live.get(key)
                if reply_log is not None and not reply_log.add_entries(entries):
                    self._broken(reply_log)
            if started - last_owner_check >= OWNER_CHECK_S:
                last_owner_check = started
                await self._check_owners(list(live.values()))
            elapsed = time.monotonic() - started
            if elapsed < MIN_ROUND_S:
                await asyncio.sleep(MIN_ROUND_S - elapsed)

    def _prune(self) -> bool:
        """Forget what nobody follows any more; True while a remote reply is live here.

        A finished reply stays a little (a resume right after `end` reads it here), and
        all of them go when none is live (they are read again from the stream if needed).
        """
        now = time.monotonic()
        live = False
        for reply_id, reply_log in list(self._logs.items()):
            if reply_log.end is not None:
                if reply_log.finished_at is None:
                    reply_log.finished_at = now
                if now - reply_log.finished_at > KEEP_FINISHED_S:
                    del self._logs[reply_id]
            elif reply_log.listener_count == 0 and now - reply_log.last_used > IDLE_S:
                del self._logs[reply_id]
            else:
                live = True
        if not live:
            self._logs.clear()
        return live

    async def _check_owners(self, live: list[RemoteReplyLog]) -> None:
        owners = sorted({rl.owner for rl in live if not rl.reaping})
        if not owners:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for owner in owners:
                pipe.exists(self._keys.heartbeat(owner))
            alive = dict(zip(owners, await pipe.execute(), strict=True))
        except Exception:
            return  # Redis is away: nobody can tell, nobody is reaped
        for reply_log in live:
            if not reply_log.reaping and not alive.get(reply_log.owner, True):
                reply_log.reaping = True
                task = asyncio.create_task(self._reap_one(reply_log), name="redis-reap")
                self._reaping.add(task)
                task.add_done_callback(self._reaping.discard)

    async def _reap_one(self, reply_log: RemoteReplyLog) -> None:
        try:
            await self._reap(reply_log.reply_id)
        except Exception:
            log.warning(
                "redis: ending reply %s of a dead replica failed", reply_log.reply_id, exc_info=True
            )
        finally:
            reply_log.reaping = False  # checked again in a second unless its end came

    def _broken(self, reply_log: RemoteReplyLog) -> None:
        """A gap in a stream (Redis lost data): end the followers' wait with an error."""
        log.error("redis: the stream of reply %s has a gap", reply_log.reply_id)
        reply_log.end = ReplyEnd(
            reply_log.sealed_seq,
            "error",
            "error",
            {"prompt_tokens": 0, "completion_tokens": 0},
            {"queued_ms": 0.0, "ttft_ms": 0.0, "total_ms": 0.0},
            ReplyError("internal", "the live reply was lost; reload the conversation"),
        )
        reply_log.add_entries([])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _stream_items(answer: Any) -> list[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """XREAD's answer as (key, entries) pairs (RESP2 lists and RESP3 maps alike)."""
    if not answer:
        return []
    if isinstance(answer, dict):
        return [
            (key, value[0] if value and isinstance(value[0], list) else value)
            for key, value in answer.items()
        ]
    return [(key, entries) for key, entries in answer]


async def _wait_for(reply_log: ReplyLog, done: Callable[[], bool], seconds: float) -> None:
    wake = asyncio.Event()
    reply_log.add_listener(wake.set)
    try:
        async with asyncio.timeout(seconds):
            while not done() and reply_log.end is None:
                wake.clear()
                await wake.wait()
    except TimeoutError:
        pass
    finally:
        reply_log.remove_listener(wake.set)
