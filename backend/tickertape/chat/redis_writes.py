"""The mirror's writes of one tick as ONE Redis command: a Lua script that runs them all.

A tick used to pipeline an `XADD` per reply with news (and the registrations, expiry
refreshes and ends), which at 50 ms ticks is about one command per streamed token: each one
packed, sent, parsed and answered by redis-py on the owner's event loop, which shares the
machine with the generation thread. Here the tick's writes travel as one JSON argument of
one `EVAL` (redis-py then packs one command and parses one answer a tick, whatever the
number of replies), and the script makes the same calls inside Redis, in the same order.

Failure is what it was: an error fails the tick (the writes before it stay, as a pipeline's
did), and the next tick sends the same frames again; readers skip frames they already have.
`EVAL` with the script's text (not `EVALSHA`) needs no `SCRIPT LOAD` and so survives a
Redis that restarted empty. The keys are named in the argument, not in `KEYS`: the script
writes the keys of many replies, so like the pipeline it replaces it needs one Redis (not a
cluster, where a script's keys must share a slot).

One entry per reply, in tick order, each a JSON object:

| field | what | calls |
| --- | --- | --- |
| `k`, `m` | the stream and meta keys | |
| `R` | register: `[reply id, user, conversation, stored, on_disconnect, cv key or ""]` | `HSET m`, `PEXPIRE m`, `SADD owned`, `SET cv PX` |
| `T` | refresh the expiries (cv key or ""); answers 2 integers: the stream and meta exist | `PEXPIRE k`, `PEXPIRE m`, `PEXPIRE cv` |
| `D` | write the stream again from seq 1 (Redis lost it) | `DEL k` |
| `F` | a stream entry: `[field, value, ...]` | `XADD k MAXLEN ~ max *` |
| `E` | the end was written: keep the keys for the retention | `PEXPIRE k`, `PEXPIRE m`, `SREM owned` |
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

# ARGV: the entries (JSON), MAXLEN, the TTL of a live reply's keys (ms), the retention after
# the end (ms), the TTL of `cv:` (ms), the owner, the owner's `owned:` set.
SCRIPT = """
local out = {}
local maxlen, live, keep, cv_ttl, owner, owned = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
for _, w in ipairs(cjson.decode(ARGV[1])) do
  local k, m = w.k, w.m
  local r = w.R
  if r then
    redis.call('HSET', m, 'owner', owner, 'user', r[2], 'conv', r[3], 'stored', r[4], 'od', r[5])
    redis.call('PEXPIRE', m, live)
    redis.call('SADD', owned, r[1])
    if r[6] ~= '' then redis.call('SET', r[6], r[1], 'PX', cv_ttl) end
  end
  if w.T then
    out[#out + 1] = redis.call('PEXPIRE', k, live)
    out[#out + 1] = redis.call('PEXPIRE', m, live)
    if w.T ~= '' then redis.call('PEXPIRE', w.T, cv_ttl) end
  end
  if w.D then redis.call('DEL', k) end
  if w.F then redis.call('XADD', k, 'MAXLEN', '~', maxlen, '*', unpack(w.F)) end
  if w.E then
    redis.call('PEXPIRE', k, keep)
    redis.call('PEXPIRE', m, keep)
    redis.call('SREM', owned, w.E)
  end
end
return out
"""


# Raw UTF-8 (cjson passes it through); the frames inside are JSON text already.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class MirrorWrites:
    """The writes of one tick (or of one registration), built up reply by reply."""

    def __init__(self, settings: tuple[str, ...]) -> None:
        """`settings`: ARGV 2.. (see SCRIPT)."""
        self._settings = settings
        self._entries: list[dict[str, object]] = []
        self.checks = 0  # answers of expiry refreshes so far

    def entry(self, stream: str, meta: str) -> dict[str, object]:
        """A reply's entry; what is set in it before `send` is written."""
        entry: dict[str, object] = {"k": stream, "m": meta}
        self._entries.append(entry)
        return entry

    def drop_last(self) -> None:
        """The last entry turned out to write nothing."""
        self._entries.pop()

    def refresh(self, entry: dict[str, object], conversation_key: str) -> int:
        """Refresh the entry's expiries; where the answers (stream, meta) will be."""
        entry["T"] = conversation_key
        at = self.checks
        self.checks += 2
        return at

    def _args(self) -> tuple[str, ...]:
        payload = _ENCODER.encode(self._entries)
        return (payload, *self._settings)

    def queue(self, pipe: Pipeline) -> None:
        """Add to a pipeline (the registration, batched with the limits of its moment)."""
        pipe.eval(SCRIPT, 0, *self._args())

    async def send(self, client: Redis) -> list[int]:
        """Run now: the answers of the expiry refreshes, in order."""
        return cast(list[int], await client.eval(SCRIPT, 0, *self._args()))
