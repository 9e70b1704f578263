"""`on_disconnect: "stop"` across replicas: a reply stops when its last reader on ANY
replica goes away, not when the owner's own readers are gone.

Readers elsewhere (`remote_log.py`): the first connection of a replica that follows such a
reply adds that replica's id to the set `rd:{reply}`; the last one to leave removes it and
publishes the reply's id on the owner's channel `left:{owner}`.

The owner (this module) decides, always: when its own last reader of such a reply leaves
(`ChatService.reader_left`), and when a replica says its readers left, it counts the
replicas in `rd:{reply}` whose heartbeat is alive. None: the reply stops. Some: it goes on,
and the owner watches it, asking again at every heartbeat (a replica that dies or whose
`left` message was lost stops counting within `--redis-owner-timeout-s`). A reply whose
owner has readers of its own is never asked about: those readers decide when they go.

Redis unreachable when the owner asks: the reply stops (the single-process rule). Readers on
other replicas cannot get its frames then anyway, and `stop` is what a client that chose it
wants when in doubt: the inference is the expensive part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from tickertape.chat.reply_log import ReplyLog
from tickertape.redis_client import COMMAND_TIMEOUT_S, Keys

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


class ReaderWatch:
    def __init__(self, client: Redis, keys: Keys, replica_id: str) -> None:
        self._client = client
        self._keys = keys
        self._replica = replica_id
        # Replies running here, without readers here, that readers elsewhere keep going:
        # the reply's log and how to stop it.
        self._watched: dict[str, tuple[ReplyLog, Callable[[], None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def local_readers_left(self, reply_log: ReplyLog, stop: Callable[[], None]) -> None:
        """The last reader here of a reply that runs here left: stop it unless another
        replica has a reader of it."""
        self._watched[reply_log.reply_id] = (reply_log, stop)
        self._spawn(self._decide([reply_log.reply_id]))

    def remote_readers_left(self, reply_id: str) -> None:
        """Another replica's last reader of a reply that runs here left (its message)."""
        if reply_id in self._watched:
            self._spawn(self._decide([reply_id]))

    async def recheck(self) -> None:
        """After every heartbeat: the watched replies, again."""
        if self._watched:
            await self._decide(list(self._watched))

    @property
    def watched(self) -> int:
        return len(self._watched)

    async def _decide(self, reply_ids: list[str]) -> None:
        candidates = []
        for reply_id in reply_ids:
            entry = self._watched.get(reply_id)
            if entry is None:
                continue
            reply_log, _ = entry
            if reply_log.end is not None or reply_log.listener_count:
                # Over, or read here again: the readers here decide when they go.
                del self._watched[reply_id]
            else:
                candidates.append(reply_id)
        if not candidates:
            return
        try:
            counts = await asyncio.wait_for(self._readers(candidates), COMMAND_TIMEOUT_S)
        except Exception as exc:
            log.warning("redis: readers of other replicas unknown (%s); deciding alone", exc)
            counts = dict.fromkeys(candidates, 0)
        for reply_id in candidates:
            entry = self._watched.get(reply_id)
            if entry is None or counts.get(reply_id):
                continue
            reply_log, stop = entry
            del self._watched[reply_id]
            if reply_log.end is None and reply_log.listener_count == 0:
                log.info("reply %s: its last reader on any replica left; stopping it", reply_id)
                try:
                    stop()
                except Exception:
                    log.exception("reply %s could not be stopped", reply_id)

    async def _readers(self, reply_ids: list[str]) -> dict[str, int]:
        """How many live replicas (not this one) have a reader of each reply."""
        pipe = self._client.pipeline(transaction=False)
        for reply_id in reply_ids:
            pipe.smembers(self._keys.readers(reply_id))
        members = [
            sorted(r for r in replicas if r != self._replica) for replicas in await pipe.execute()
        ]
        asked = sorted({r for replicas in members for r in replicas})
        if not asked:
            return dict.fromkeys(reply_ids, 0)
        pipe = self._client.pipeline(transaction=False)
        for replica in asked:
            pipe.exists(self._keys.heartbeat(replica))
        alive = dict(zip(asked, await pipe.execute(), strict=True))
        return {
            reply_id: sum(1 for r in replicas if alive[r])
            for reply_id, replicas in zip(reply_ids, members, strict=True)
        }

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name="redis-readers")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
