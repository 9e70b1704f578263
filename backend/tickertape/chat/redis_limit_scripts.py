"""The Lua scripts of `RedisLimits` (redis_limits.py): each check is one atomic script,
sent as `EVAL` with its text (no `SCRIPT EXISTS`/`SCRIPT LOAD` round trips; Redis caches
the compiled script by its hash). Times are Redis' clock, so replicas' clocks do not matter.
"""

from __future__ import annotations

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# A token bucket in a hash: -1 if a token was spent, else ms until one is back.
_TAKE_FROM = """
local function take(key, rate, burst, ttl)
  local b = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens, ts = tonumber(b[1]), tonumber(b[2])
  if tokens == nil or ts == nil then tokens, ts = burst, now end
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  local wait = -1
  if tokens >= 1 then tokens = tokens - 1 else wait = math.max(1, math.ceil((1 - tokens) / rate)) end
  redis.call('HSET', key, 'tokens', string.format('%.6f', tokens), 'ts', now)
  redis.call('PEXPIRE', key, ttl)
  return wait
end
"""
# Places (replies in flight, connections): a sorted set scored by expiry; drop the expired.
_AT_CAP = """
local function at_cap(key, cap)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  return redis.call('ZCARD', key) >= cap
end
local function add_place(key, member, ttl)
  redis.call('ZADD', key, now + ttl, member)
  redis.call('PEXPIRE', key, ttl)
end
"""
# KEYS[1] the user's places; ARGV: member, cap, ttl_ms. 1 if taken, 0 at the cap.
ACQUIRE = (
    _NOW_MS
    + _AT_CAP
    + """
if at_cap(KEYS[1], tonumber(ARGV[2])) then return 0 end
add_place(KEYS[1], ARGV[1], tonumber(ARGV[3]))
return 1
"""
)
# KEYS[1] the user's places; ARGV: ttl_ms, members held by this replica. Only existing ones.
REFRESH = (
    _NOW_MS
    + """
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""
)
# KEYS[1] the bucket; ARGV: tokens per ms, burst, ttl_ms. -1 if allowed, else ms to wait.
TAKE = (
    _NOW_MS
    + _TAKE_FROM
    + """
return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
"""
)
# A turn: a reply place and a message, both or neither, in the order of the checks of
# `LocalLimits` (at the cap, no message is spent). KEYS[1] the user's reply places, KEYS[2]
# the bucket; ARGV: member, cap, ttl_ms, tokens per ms, burst, bucket ttl_ms. -1 if both
# were taken, 0 at the cap, else ms to wait for a message (and no place taken).
ADMIT = (
    _NOW_MS
    + _AT_CAP
    + _TAKE_FROM
    + """
if at_cap(KEYS[1], tonumber(ARGV[2])) then return 0 end
local wait = take(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
if wait >= 0 then return wait end
add_place(KEYS[1], ARGV[1], tonumber(ARGV[3]))
return -1
"""
)
# KEYS[1] the bucket; ARGV: burst. Gives one token back (an idempotent retry).
GIVE_BACK = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens ~= nil then
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', math.min(tonumber(ARGV[1]), tokens + 1)))
end
return 1
"""
