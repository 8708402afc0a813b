"""The reposter's cache in the process's memory, for the embedded runtime (`make demo`).

It behaves as `skybots.stores.redis.RedisCache` does, command for command, so the reposter
cannot tell them apart; it keeps nothing on disk, which the cache's contract allows (losing it
loses nothing). Every bot run of the runtime shares the one instance.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from skybots.stores.cache import TENANT_GRACE_SECONDS, tenant_keys

SWEEP_SECONDS = 60.0


class _Scored(dict[str, float]):
    """A scored set (Redis' ZSET): member to score."""


class _Map(dict[str, str]):
    """A map (Redis' HASH)."""


Kind = TypeVar("Kind", str, _Scored, _Map)


@dataclass
class _Entry:
    value: str | _Scored | _Map
    expires: float | None  # the time.monotonic() at which the key is gone; None: never


class WrongTypeError(TypeError):
    """The key holds another kind of value (Redis' WRONGTYPE error)."""


class MemoryCache:
    """`skybots.stores.cache.Cache` in a dict; keys expire as Redis keys do.

    No method awaits while it works on the dict, so each is atomic for the runs sharing one event
    loop (`set_new` is a real reservation); the lock makes that hold for threads as well.
    Expired keys are dropped when touched, and all of them once a minute, so memory stays bounded.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._next_sweep = time.monotonic() + SWEEP_SECONDS

    def _live(self, key: str) -> _Entry | None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._entries = {k: e for k, e in self._entries.items() if e.expires is None or e.expires > now}
            self._next_sweep = now + SWEEP_SECONDS
        entry = self._entries.get(key)
        if entry is not None and entry.expires is not None and entry.expires <= now:
            del self._entries[key]
            return None
        return entry

    def _read(self, key: str, kind: type[Kind]) -> Kind | None:
        entry = self._live(key)
        if entry is None:
            return None
        if not isinstance(entry.value, kind):
            raise WrongTypeError(f"{key} holds a {type(entry.value).__name__}, not a {kind.__name__}")
        return entry.value

    def _collection(self, key: str, kind: type[Kind]) -> Kind:
        """The key's set or map, made empty (with no expiry) when absent, as ZADD and HSET do."""
        found = self._read(key, kind)
        if found is None:
            found = kind()
            self._entries[key] = _Entry(found, None)
        return found

    def _put(self, key: str, value: str, ttl: float) -> None:
        milliseconds = int(ttl * 1000)  # SET's PX, as RedisCache sends it
        if milliseconds <= 0:
            raise ValueError(f"invalid expire time for {key}: {ttl}")
        self._entries[key] = _Entry(value, time.monotonic() + milliseconds / 1000)

    async def get(self, key: str) -> str | None:
        with self._lock:
            return self._read(key, str)

    async def set(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            self._put(key, value, ttl)

    async def set_new(self, key: str, value: str, ttl: float) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._put(key, value, ttl)
            return True

    async def set_new_unless_scored(
        self, key: str, value: str, ttl: float, *, scored: str, member: str
    ) -> bool:
        with self._lock:
            recorded = self._read(scored, _Scored) or _Scored()
            if member in recorded or self._live(key) is not None:
                return False
            self._put(key, value, ttl)
            return True

    async def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    async def exists(self, key: str) -> bool:
        with self._lock:
            return self._live(key) is not None

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        """INCRBY, then EXPIRE NX in whole seconds: the first increment's TTL stands."""
        with self._lock:
            total = int(self._read(key, str) or 0) + amount
            entry = self._entries.setdefault(key, _Entry("", None))
            entry.value = str(total)
            if entry.expires is None:
                entry.expires = time.monotonic() + int(ttl)  # no time left: gone, as in Redis
            return total

    async def scores(self, key: str, members: Iterable[str]) -> list[float | None]:
        with self._lock:
            found = self._read(key, _Scored) or _Scored()
            return [found.get(member) for member in members]

    async def add_scored(self, key: str, members: Mapping[str, float]) -> None:
        if members:
            with self._lock:
                self._collection(key, _Scored).update({m: float(s) for m, s in members.items()})

    async def count_scored(self, key: str, minimum: float) -> int:
        with self._lock:
            found = self._read(key, _Scored) or _Scored()
            return sum(1 for score in found.values() if score >= minimum)

    async def prune_scored(self, key: str, below: float) -> None:
        with self._lock:
            found = self._read(key, _Scored)
            if found is not None:
                self._remove(key, found, [m for m, score in found.items() if score < below])

    async def remove_scored(self, key: str, members: Iterable[str]) -> None:
        with self._lock:
            found = self._read(key, _Scored)
            if found is not None:
                self._remove(key, found, [m for m in members if m in found])

    def _remove(self, key: str, found: _Scored, members: list[str]) -> None:
        for member in members:
            del found[member]
        if not found:
            del self._entries[key]  # Redis drops a set that lost its last member

    async def all_scored(self, key: str) -> dict[str, float]:
        """By score, then member, as ZRANGE orders them."""
        with self._lock:
            found = self._read(key, _Scored) or _Scored()
            return dict(sorted(found.items(), key=lambda pair: (pair[1], pair[0])))

    async def get_map(self, key: str) -> dict[str, str]:
        with self._lock:
            return dict(self._read(key, _Map) or _Map())

    async def set_map(self, key: str, values: Mapping[str, str]) -> None:
        if values:
            with self._lock:
                self._collection(key, _Map).update(values)

    async def take_token(self, bucket: str, tenant: str, rate: float, capacity: float) -> float:
        """The fair token bucket of `skybots.stores.redis.TOKEN_BUCKET`, step for step."""
        now = time.time()
        share_key, tenants_key = tenant_keys(bucket, tenant)
        with self._lock:
            competing = self._collection(tenants_key, _Scored)
            for gone in [t for t, until in competing.items() if until < now]:
                del competing[gone]
            tenants = len(competing) + (tenant not in competing)
            share_rate, share_capacity = rate / tenants, max(1.0, capacity / tenants)
            shared_state, own_state = self._collection(bucket, _Map), self._collection(share_key, _Map)
            shared = _refilled(shared_state, now, rate, capacity)
            own = min(shared, _refilled(own_state, now, share_rate, share_capacity))
            wait = 0.0
            if own >= 1:
                shared, own = shared - 1, own - 1
            else:
                wait = (1 - own) / share_rate
            ttl = math.ceil(capacity / rate) + 60
            shared_state.update(tokens=repr(shared), at=repr(now))
            own_state.update(tokens=repr(own), at=repr(now))
            competing[tenant] = now + wait + TENANT_GRACE_SECONDS
            until = time.monotonic() + ttl
            self._entries[bucket].expires = self._entries[share_key].expires = until
            tenants_entry = self._entries[tenants_key]
            competing_until = until + math.ceil(wait + TENANT_GRACE_SECONDS)
            tenants_entry.expires = max(tenants_entry.expires or 0.0, competing_until)
            return wait

    async def close(self) -> None:
        """Nothing to release; the state stays, as it does in Redis when one client goes."""


def _refilled(state: _Map, now: float, per_second: float, most: float) -> float:
    """A bucket's tokens now: what it held, plus what the time since has added, up to `most`."""
    tokens, at = float(state.get("tokens", most)), float(state.get("at", now))
    return min(most, tokens + max(0.0, now - at) * per_second)
