"""The reposter's cache in Redis: every bot's runs share it, and it survives their processes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

import redis.asyncio as redis

from skybots.stores.cache import TENANT_GRACE_SECONDS, tenant_keys

# KEYS: the shared bucket, the tenant's share of it, and the tenants competing lately (a sorted set:
# tenant -> until when it counts); ARGV: rate per second, capacity, tenant, grace seconds. Buckets are
# hashes of tokens and when they were counted, by Redis' clock (one clock for every pod). Refills by
# elapsed time, the tenant's share at rate / n and never above what the shared bucket holds; takes a
# token from both or from neither; returns 0, or the seconds until the tenant's share has one. Atomic,
# so every bot behind one egress address draws from the same budget, each tenant its share.
TOKEN_BUCKET = """
local rate, capacity, tenant, grace = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. now)
local tenants = redis.call('ZCARD', KEYS[3])
if not redis.call('ZSCORE', KEYS[3], tenant) then tenants = tenants + 1 end
local share_rate, share_capacity = rate / tenants, math.max(1, capacity / tenants)
local function refilled(key, per_second, most)
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(state[1]) or most, tonumber(state[2]) or now
  return math.min(most, tokens + math.max(0, now - at) * per_second)
end
local shared = refilled(KEYS[1], rate, capacity)
local own = math.min(shared, refilled(KEYS[2], share_rate, share_capacity))
local wait = 0
if own >= 1 then shared, own = shared - 1, own - 1 else wait = (1 - own) / share_rate end
local ttl = math.ceil(capacity / rate) + 60
redis.call('HSET', KEYS[1], 'tokens', tostring(shared), 'at', tostring(now))
redis.call('HSET', KEYS[2], 'tokens', tostring(own), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], now + wait + grace, tenant)
local competing = ttl + math.ceil(wait + grace)
if redis.call('TTL', KEYS[3]) < competing then redis.call('EXPIRE', KEYS[3], competing) end
return tostring(wait)
"""

# KEYS[1]: the key to set, KEYS[2]: a scored set; ARGV: value, ttl in milliseconds, member.
# SET NX PX unless the member is in the set, atomically: returns 1 when stored, else 0.
SET_NEW_UNLESS_SCORED = """
if redis.call('ZSCORE', KEYS[2], ARGV[3]) then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0
"""


class RedisCache:
    """`skybots.stores.cache.Cache` on Redis (6.2 or newer: ZMSCORE)."""

    def __init__(self, url: str, *, password: str | None = None) -> None:
        """`password` (from a Secret) is for a URL without one, so that the URL can sit in a ConfigMap."""
        self._redis = redis.Redis.from_url(
            url, password=password, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )
        self._bucket = self._redis.register_script(TOKEN_BUCKET)
        self._set_new_unless_scored = self._redis.register_script(SET_NEW_UNLESS_SCORED)

    async def get(self, key: str) -> str | None:
        return cast(str | None, await self._redis.get(key))

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._redis.set(key, value, px=int(ttl * 1000))

    async def set_new(self, key: str, value: str, ttl: float) -> bool:
        return bool(await self._redis.set(key, value, px=int(ttl * 1000), nx=True))

    async def set_new_unless_scored(
        self, key: str, value: str, ttl: float, *, scored: str, member: str
    ) -> bool:
        stored = await self._set_new_unless_scored(keys=[key, scored], args=[value, int(ttl * 1000), member])
        return bool(int(stored))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*keys)

    async def exists(self, key: str) -> bool:
        return bool(await self._redis.exists(key))

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, amount)
            pipe.expire(key, int(ttl), nx=True)
            total, _ = await pipe.execute()
        return int(total)

    async def scores(self, key: str, members: Iterable[str]) -> list[float | None]:
        asked = list(members)
        if not asked:
            return []
        found = await self._redis.zmscore(key, asked)
        return [None if score is None else float(score) for score in found]

    async def add_scored(self, key: str, members: Mapping[str, float]) -> None:
        if members:
            await self._redis.zadd(key, dict(members))

    async def count_scored(self, key: str, minimum: float) -> int:
        return int(await self._redis.zcount(key, minimum, "+inf"))

    async def prune_scored(self, key: str, below: float) -> None:
        await self._redis.zremrangebyscore(key, "-inf", f"({below}")

    async def remove_scored(self, key: str, members: Iterable[str]) -> None:
        if asked := list(members):
            await self._redis.zrem(key, *asked)

    async def all_scored(self, key: str) -> dict[str, float]:
        pairs = cast(list[tuple[str, float]], await self._redis.zrange(key, 0, -1, withscores=True))
        return {member: float(score) for member, score in pairs}

    async def get_map(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], await self._redis.hgetall(key))

    async def set_map(self, key: str, values: Mapping[str, str]) -> None:
        if values:
            await self._redis.hset(key, mapping=dict(values))  # type: ignore[arg-type]

    async def take_token(self, bucket: str, tenant: str, rate: float, capacity: float) -> float:
        keys = [bucket, *tenant_keys(bucket, tenant)]
        return float(await self._bucket(keys=keys, args=[rate, capacity, tenant, TENANT_GRACE_SECONDS]))

    async def close(self) -> None:
        await self._redis.aclose()
