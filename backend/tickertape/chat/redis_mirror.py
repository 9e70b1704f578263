"""The owner's side of cross-replica replies: this replica's reply logs, mirrored to Redis.

For every reply it runs, the replica writes
- at the start (awaited before the engine gets the reply, so that a resume on another
  replica right after `accepted` finds it): the meta hash `m:{id}` (owner, user,
  conversation, stored, on_disconnect), the reply's id in the set `owned:{replica}` (what
  the janitor ends as `interrupted` if this replica dies) and in `cv:{conversation}` (what a
  deletion of the conversation on another replica stops);
- every `interval_ms` (a tick), for each reply with news, ONE stream entry on `r:{id}`:
  the frames sealed since the last entry `{s: first seq, f: [[kind, text], ...]}`, a queue
  position `{q}` while it waits (at most one a second), and finally the end `{e}`. All
  replies' writes of a tick go out as one command, a Lua script (redis_writes.py), in one
  round trip; the registrations at the start too. `XADD ... MAXLEN ~ N`
  bounds a stream (N is above what a legitimate reply writes: one entry holds at least one
  frame, a frame at least one token). Keys expire `resume_retention_s` after the end (while
  streaming, they are refreshed every 10 s; a refresh that finds them gone, as after a
  Redis restart without persistence, has the reply registered and its stream written
  again from seq 1).

Seq: the local log is the one authority. The tick seals the log's open tail (as a reader
asking for the next frame would) and publishes frames `mirrored+1 .. sealed` in order; a
tick whose write fails changes nothing and the next one sends the same frames again, so
every frame reaches the stream in order, and readers skip a frame they already have (a
write that succeeded but whose answer was lost). Local readers never touch Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from tickertape.chat.frame_codec import encode_frame
from tickertape.chat.redis_writes import MirrorWrites
from tickertape.chat.remote_reply import encode_end
from tickertape.chat.reply_log import ReplyLog
from tickertape.redis_client import COMMAND_TIMEOUT_S, Batcher, Keys

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

STREAMING_TTL_S = 600.0  # keys of a streaming reply, refreshed every EXPIRY_REFRESH_S
EXPIRY_REFRESH_S = 10.0
# `cv:{conversation}` (the reply streaming in it): refreshed with the others while the reply
# streams, left to lapse after its end (a later turn of the conversation overwrites it).
CONVERSATION_TTL_S = 60.0
# A waiting reply's queue position moves at every step of a busy engine; followers on other
# replicas see it at most this stale (the first position at once). Written at every tick, the
# positions of hundreds of waiting replies were most of the mirror's commands.
QUEUE_EVERY_S = 1.0
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps(separators=) makes one a call


@dataclass
class _Mirrored:
    log: ReplyLog
    stored: bool
    registered: bool = False
    registering: bool = False  # the registration at the start is in flight (not the ticks')
    mirrored: int = 0  # the last seq written to the stream
    queued: int | None = None  # the last queue position written
    queued_at: float = 0.0  # when (monotonic)
    expires_at: float = field(default_factory=time.monotonic)
    rewrite: bool = False  # Redis lost the reply's keys: write its stream again from seq 1


class _Planned(NamedTuple):
    mirrored: int  # the last seq this tick writes
    queued: int | None  # the queue position written last, with this tick's
    ended: bool  # this tick writes the end
    entry: bool  # this tick writes a stream entry
    check: int | None  # where the answers of this tick's expiry refreshes are
    registers: bool  # this tick (re)registers the reply


@dataclass
class MirrorStats:
    entries: int = 0  # stream entries written
    frames: int = 0  # frames they carried
    failures: int = 0  # ticks whose write failed (retried at the next tick)


class ReplyMirror:
    def __init__(
        self,
        client: Redis,
        keys: Keys,
        replica_id: str,
        *,
        interval_ms: int,
        retention_s: float,
        max_entries: int,
        batcher: Batcher | None = None,
    ) -> None:
        self._client = client
        self._batcher = batcher or Batcher(client)
        self._keys = keys
        self._replica = replica_id
        self._interval_s = interval_ms / 1000
        retention_ms = max(1000, int(retention_s * 1000))
        self._settings = (
            str(max_entries),
            str(int(STREAMING_TTL_S * 1000)),
            str(retention_ms),
            str(int(CONVERSATION_TTL_S * 1000)),
            replica_id,
            keys.owned(replica_id),
        )
        self._live: dict[str, _Mirrored] = {}
        self._task: asyncio.Task[None] | None = None
        self._flushing = False
        self.stats = MirrorStats()

    async def register(self, reply_log: ReplyLog, stored: bool) -> None:
        """Make the reply known to every replica; never raises (it streams locally anyway,
        and the ticks retry the registration)."""
        mirrored = _Mirrored(reply_log, stored, registering=True)
        self._live[reply_log.reply_id] = mirrored
        writes = self._writes()
        self._register(writes, mirrored)
        try:
            # Batched with the other turns of this moment (and their limit scripts).
            await self._batcher.run(writes.queue)
        except Exception as exc:
            log.warning("redis: reply %s not registered yet: %s", reply_log.reply_id, exc)
        else:
            mirrored.registered = True
        finally:
            mirrored.registering = False
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="redis-mirror")

    def _writes(self) -> MirrorWrites:
        return MirrorWrites(self._settings)

    def _register(
        self, writes: MirrorWrites, m: _Mirrored, entry: dict[str, object] | None = None
    ) -> dict[str, object]:
        reply = m.log
        if entry is None:
            entry = writes.entry(self._keys.stream(reply.reply_id), self._keys.meta(reply.reply_id))
        conversation = reply.conversation_id or ""
        entry["R"] = [
            reply.reply_id,
            reply.user_id,
            conversation,
            "1" if m.stored else "0",
            reply.on_disconnect,
            # Deleting the conversation on any replica finds the reply to stop here.
            self._keys.conversation(conversation) if conversation else "",
        ]
        m.expires_at = time.monotonic() + EXPIRY_REFRESH_S
        return entry

    async def _run(self) -> None:
        while self._live:
            await asyncio.sleep(self._interval_s)
            await self.flush()

    async def flush(self) -> None:
        """One tick: every reply's news in one script call (one round trip)."""
        if self._flushing:
            return  # the previous tick is still writing; its successor carries more
        self._flushing = True
        try:
            await self._flush()
        finally:
            self._flushing = False

    async def _flush(self) -> None:
        writes = self._writes()
        done: list[tuple[_Mirrored, _Planned]] = []
        now = time.monotonic()
        for m in list(self._live.values()):
            planned = self._plan(writes, m, now)
            if planned is not None:
                done.append((m, planned))
        if not done:
            return
        try:
            results = await asyncio.wait_for(writes.send(self._client), COMMAND_TIMEOUT_S)
        except Exception as exc:
            self.stats.failures += 1
            if self.stats.failures == 1 or self.stats.failures % 100 == 0:
                log.warning("redis: mirror write failed (%d so far): %s", self.stats.failures, exc)
            return
        for m, (mirrored, queued, ended, entry, check, registers) in done:
            if registers:
                m.registered, m.rewrite = True, False
            if queued != m.queued:
                m.queued_at = now
            self.stats.entries += entry
            self.stats.frames += mirrored - m.mirrored
            had_stream = m.mirrored > 0 or m.queued is not None
            m.mirrored, m.queued = mirrored, queued
            if ended:
                self._live.pop(m.log.reply_id, None)
            elif check is not None and (
                not results[check + 1] or (had_stream and not results[check])
            ):
                # Redis lost the reply's keys (evicted, a restart without persistence):
                # register it again and write its whole stream anew at the next tick, so that
                # resumes elsewhere find it and read it from seq 1 without a gap.
                log.warning(
                    "redis: the keys of reply %s were lost; writing them again", m.log.reply_id
                )
                m.registered, m.rewrite = False, True
                m.mirrored, m.queued = 0, None

    def _plan(self, writes: MirrorWrites, m: _Mirrored, now: float) -> _Planned | None:
        """Add this reply's writes to the tick's, if any."""
        reply = m.log
        if (
            (m.registered or m.registering)
            and reply.end is None
            and now < m.expires_at
            and not reply.has_tail
            and reply.sealed_seq == m.mirrored
            and not _queue_due(m, now)
        ):
            return None  # nothing new: most replies at most ticks (waiting ones above all)
        entry = writes.entry(self._keys.stream(reply.reply_id), self._keys.meta(reply.reply_id))
        check = None
        registers = not m.registered and not m.registering
        if registers:
            self._register(writes, m, entry)
        elif m.registered and reply.end is None and now >= m.expires_at:
            # Before this tick's entry: the answers (0: no such key) tell whether Redis
            # still has the keys.
            conversation = reply.conversation_id
            check = writes.refresh(
                entry, self._keys.conversation(conversation) if conversation else ""
            )
            m.expires_at = now + EXPIRY_REFRESH_S
        if m.rewrite:
            entry["D"] = 1
        if reply.end is None and reply.has_tail:
            reply.seal()
        sealed = reply.sealed_seq
        fields: list[str] = []
        if sealed > m.mirrored:
            frames = reply.frames[m.mirrored : sealed]
            fields += ("s", str(m.mirrored + 1))
            fields += ("f", _COMPACT.encode([encode_frame(f) for f in frames]))
        queued = reply.queue_position
        wrote_queue = queued is not None and _queue_due(m, now)
        if wrote_queue:
            fields += ("q", str(queued))
        ended = reply.end is not None
        if ended:
            assert reply.end is not None
            fields += ("e", encode_end(reply.end))
        if fields:
            entry["F"] = fields
        if ended:
            entry["E"] = reply.reply_id
        elif not fields and not registers and check is None:
            writes.drop_last()
            return None
        return _Planned(
            sealed, queued if wrote_queue else m.queued, ended, bool(fields), check, registers
        )

    @property
    def pending(self) -> int:
        """Replies whose end is not in their stream yet."""
        return len(self._live)

    async def close(self) -> None:
        """Stop ticking, then write what is left (the ends of a graceful shutdown).

        The ticker goes first: while one of its flushes is in flight, `flush()` returns at
        once, so three flushes could all be no-ops and the ends never written (readers on
        other replicas would then wait for the reaper).
        """
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for _ in range(3):
            if not self._live:
                break
            await self.flush()


def _queue_due(m: _Mirrored, now: float) -> bool:
    """A waiting reply's new queue position is to be written now."""
    reply = m.log
    queued = reply.queue_position
    return (
        queued is not None
        and queued != m.queued
        and reply.sealed_seq == 0
        and reply.end is None
        and (m.queued is None or now - m.queued_at >= QUEUE_EVERY_S)
    )
