"""Replies of a replica that died: ended `interrupted`, in the store and in their streams.

A replica that is SIGKILLed (or loses its host) leaves its replies `streaming` in the
database and their streams without an end. Two things notice: a replica whose connections
follow such a reply (its reader sees the owner's heartbeat gone, `remote_log.py`), and the
janitor every replica runs (`sweep`, every few seconds: a replica in `replicas` without a
heartbeat has its `owned:{replica}` set reaped). Either calls `reap(reply_id)`, once per
reply thanks to a lock:

- the final text is the longer of what the stream holds and the store's last checkpoint
  (both are prefixes of the same log); the row becomes `interrupted` with it (only if it is
  still `streaming`: an owner that committed its end first wins);
- the end is appended to the stream, so every reader on every replica ends the reply. If the
  store's text is ahead of the stream, the end carries that text (`x`): readers then get a
  `snapshot` of it before `end`, since the frames in between were never mirrored.

A replica that starts while no other one is alive also marks every `streaming` reply
`interrupted` (the single-process recovery); with live peers it leaves that to the janitor.

Orphans: a replica that dies between committing a turn and registering its reply in Redis
(milliseconds; longer if Redis was unreachable then) leaves a `streaming` row that is in
no `owned:` set. Every `ORPHAN_EVERY_S` the janitor asks the store for replies streaming
with no write for `ORPHAN_AFTER_S` and reaps those Redis has no meta of: a live owner
registers its replies within a tick and keeps their meta for as long as they stream, and
one older than that has had time to. (A live reply is taken for an orphan only if Redis
lost its keys in the last `EXPIRY_REFRESH_S` and it wrote nothing for a minute; like an
unfenced replica, its owner's final write then puts the row right.)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from tickertape.chat.remote_reply import RemoteReplyLog, encode_end, end_of_record
from tickertape.chat.reply_log import ReplyEnd
from tickertape.redis_client import Keys

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tickertape.store.types import MessageRecord

log = logging.getLogger(__name__)

LOCK_MS = 15_000
SWEEP_EVERY_S = 5.0
ORPHAN_EVERY_S = 60.0
ORPHAN_AFTER_S = 60.0  # no write for this long, and no meta in Redis: an orphan
_ZERO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0}
_ZERO_TIMING = {"queued_ms": 0.0, "ttft_ms": 0.0, "total_ms": 0.0}


class ReaperStore(Protocol):
    async def get_message(self, message_id: str) -> MessageRecord | None: ...

    async def interrupt_reply(self, reply_id: str, content: str, seq: int) -> bool: ...

    async def streaming_before(self, cutoff: datetime, limit: int = 100) -> list[str]: ...


class Reaper:
    def __init__(
        self,
        client: Redis,
        keys: Keys,
        store: ReaperStore,
        replica_id: str,
        *,
        retention_s: float,
        max_entries: int,
    ) -> None:
        self._client = client
        self._keys = keys
        self._store = store
        self._replica = replica_id
        self._retention_ms = max(1000, int(retention_s * 1000))
        self._max_entries = max_entries
        self.reaped = 0

    async def reap(self, reply_id: str, owner: str | None = None) -> bool:
        """End the reply of a dead replica (`owner`: the replica whose `owned:` set holds
        it, in case its meta expired). False if it is not done with: its owner is alive
        after all, or another replica is at it (and removes it from `owned:` when done)."""
        lock = self._keys.reap_lock(reply_id)
        if not await self._client.set(lock, self._replica, nx=True, px=LOCK_MS):
            return False  # another replica is at it; its end reaches the stream
        try:
            return await self._reap(reply_id, owner)
        finally:
            await self._client.delete(lock)

    async def _reap(self, reply_id: str, owner_hint: str | None) -> bool:
        pipe = self._client.pipeline(transaction=False)
        pipe.hgetall(self._keys.meta(reply_id))
        pipe.xrange(self._keys.stream(reply_id))
        meta, entries = await pipe.execute()
        owner = meta.get("owner") if meta else owner_hint
        if owner is not None and await self._client.exists(self._keys.heartbeat(owner)):
            return False  # alive after all (a late heartbeat): nothing to do
        if meta and "owner" in meta:
            stream = RemoteReplyLog.from_meta(reply_id, meta)
            if not stream.add_entries(entries):
                stream = RemoteReplyLog.from_meta(reply_id, meta)  # unusable: the store decides
        else:
            stream = RemoteReplyLog(reply_id, "", None, "", stored=True)
        if stream.end is not None:  # it ended in time
            if owner is not None:
                await self._client.srem(self._keys.owned(owner), reply_id)
            return True
        seq, text = stream.sealed_seq, stream.text_through(stream.sealed_seq)
        end, final_text = await self._final(reply_id, stream.stored, seq, text)
        fields = {"e": encode_end(end)}
        if final_text is not None:
            fields["x"] = final_text
        stream_key, meta_key = self._keys.stream(reply_id), self._keys.meta(reply_id)
        pipe = self._client.pipeline(transaction=False)
        pipe.xadd(stream_key, fields, maxlen=self._max_entries, approximate=True)  # type: ignore[arg-type]
        pipe.pexpire(stream_key, self._retention_ms)
        pipe.pexpire(meta_key, self._retention_ms)
        if owner is not None:
            pipe.srem(self._keys.owned(owner), reply_id)
        await pipe.execute()
        self.reaped += 1
        log.info("reply %s of a dead replica ended %s at seq %d", reply_id, end.status, end.seq)
        return True

    async def _final(
        self, reply_id: str, stored: bool, seq: int, text: str
    ) -> tuple[ReplyEnd, str | None]:
        """The reply's end, and its text when the frames in the stream do not reach it."""
        record = await self._store.get_message(reply_id) if stored else None
        if record is not None and record.status == "streaming":
            final_seq, final_text = seq, text
            if record.seq > seq:  # checkpointed further than it was mirrored
                final_seq, final_text = record.seq, record.content
            if await self._store.interrupt_reply(reply_id, final_text, final_seq):
                end = _interrupted(final_seq)
                return end, (final_text if final_seq != seq else None)
            record = await self._store.get_message(reply_id)  # its owner finished it first
        if record is not None and record.status != "streaming":
            end = end_of_record(record)
            same = record.seq == seq and record.content == text
            return end, (None if same else record.content)
        return _interrupted(seq), None

    async def sweep(self) -> None:
        """The janitor: reap every reply of every replica whose heartbeat is gone."""
        replicas = sorted(_strs(await self._client.smembers(self._keys.replicas)))
        others = [r for r in replicas if r != self._replica]
        if not others:
            return
        pipe = self._client.pipeline(transaction=False)
        for replica in others:
            pipe.exists(self._keys.heartbeat(replica))
        alive = await pipe.execute()
        for replica, up in zip(others, alive, strict=True):
            if up:
                continue
            owned = self._keys.owned(replica)
            for reply_id in sorted(_strs(await self._client.smembers(owned))):
                try:
                    await self.reap(reply_id, replica)  # removes it from `owned:` when ended
                except Exception:
                    log.warning("janitor: reply %s not ended yet", reply_id, exc_info=True)
            # The replica leaves `replicas` only once nothing of it is left to end. Never
            # delete `owned:` wholesale: a replica whose heartbeat lapsed but that lives on
            # adds its new replies to it meanwhile (and re-adds itself to `replicas`).
            pipe = self._client.pipeline(transaction=False)
            pipe.scard(owned)
            pipe.exists(self._keys.heartbeat(replica))
            left, back = await pipe.execute()
            if not left and not back:
                await self._client.srem(self._keys.replicas, replica)
                log.info("janitor: replica %s is gone; its replies are ended", replica)

    async def sweep_orphans(self, idle_s: float = ORPHAN_AFTER_S) -> int:
        """Reap the replies streaming in the store with no write for `idle_s` that Redis
        has no meta of (see the module docstring); how many were ended."""
        cutoff = datetime.now(UTC) - timedelta(seconds=idle_s)
        candidates = await self._store.streaming_before(cutoff)
        if not candidates:
            return 0
        pipe = self._client.pipeline(transaction=False)
        for reply_id in candidates:
            pipe.exists(self._keys.meta(reply_id))
        known = await pipe.execute()
        ended = 0
        for reply_id, registered in zip(candidates, known, strict=True):
            if registered:
                continue
            try:
                if await self.reap(reply_id):
                    ended += 1
                    log.info("janitor: reply %s was never registered; ended", reply_id)
            except Exception:
                log.warning("janitor: orphan %s not ended yet", reply_id, exc_info=True)
        return ended

    async def others_alive(self) -> bool:
        """Whether another replica has a heartbeat now (start-up recovery asks)."""
        replicas = _strs(await self._client.smembers(self._keys.replicas))
        others = [r for r in replicas if r != self._replica]
        if not others:
            return False
        return bool(await self._client.exists(*(self._keys.heartbeat(r) for r in others)))


def _strs(values: set[bytes | str] | set[str] | set[bytes]) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def _interrupted(seq: int) -> ReplyEnd:
    return ReplyEnd(seq, "interrupted", "interrupted", dict(_ZERO_USAGE), dict(_ZERO_TIMING))
