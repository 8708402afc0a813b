"""The reposter's cache in Redis: every bot's runs share it, and it survives their processes."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import cast

import redis.asyncio as redis

# KEYS[1]: the bucket (a hash of tokens and the time they were counted); ARGV: rate per second,
# capacity, now. Refills by elapsed time, takes one token if there is one; returns 0, or the
# seconds until one. Atomic, so every bot behind one egress address draws from the same budget.
TOKEN_BUCKET = """
local rate, capacity, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or capacity, tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
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

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
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

    async def all_scored(self, key: str) -> dict[str, float]:
        pairs = cast(list[tuple[str, float]], await self._redis.zrange(key, 0, -1, withscores=True))
        return {member: float(score) for member, score in pairs}

    async def get_map(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], await self._redis.hgetall(key))

    async def set_map(self, key: str, values: Mapping[str, str]) -> None:
        if values:
            await self._redis.hset(key, mapping=dict(values))  # type: ignore[arg-type]

    async def take_token(self, key: str, rate: float, capacity: float) -> float:
        return float(await self._bucket(keys=[key], args=[rate, capacity, time.time()]))

    async def close(self) -> None:
        await self._redis.aclose()
