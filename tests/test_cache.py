"""The cache contract, held by both implementations: Redis (Debian's redis-server) and the
embedded in-memory one the local runtime uses. Each test runs once against each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import pytest

from skybots.stores.cache import Cache
from skybots.stores.memory import MemoryCache
from skybots.stores.redis import RedisCache


@pytest.fixture(params=["redis", "memory"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    store: Cache = (
        RedisCache(request.getfixturevalue("redis_url")) if request.param == "redis" else MemoryCache()
    )
    yield store
    await store.close()


async def test_values_expire_after_their_ttl(cache: Cache) -> None:
    assert await cache.get("session") is None
    await cache.set("session", "token", 0.3)
    await cache.set("other", "kept", 60)
    assert await cache.get("session") == "token"
    assert await cache.exists("session")
    await asyncio.sleep(0.4)
    assert await cache.get("session") is None
    assert not await cache.exists("session")
    assert await cache.get("other") == "kept"


async def test_set_replaces_the_value_and_its_ttl(cache: Cache) -> None:
    await cache.set("key", "first", 0.3)
    await cache.set("key", "second", 60)
    await asyncio.sleep(0.4)
    assert await cache.get("key") == "second"


async def test_set_new_reserves_once_until_deleted_or_expired(cache: Cache) -> None:
    assert await cache.set_new("lock", "run-1", 0.3) is True
    assert await cache.set_new("lock", "run-2", 60) is False
    assert await cache.get("lock") == "run-1"
    await asyncio.sleep(0.4)
    assert await cache.set_new("lock", "run-3", 60) is True
    await cache.delete("lock", "absent")
    await cache.delete()
    assert await cache.set_new("lock", "run-4", 60) is True


async def test_of_many_concurrent_reservations_exactly_one_wins(cache: Cache) -> None:
    won = await asyncio.gather(*(cache.set_new("reserve:post", f"run-{n}", 60) for n in range(50)))
    assert won.count(True) == 1
    assert await cache.get("reserve:post") == f"run-{won.index(True)}"


async def test_a_reservation_is_not_won_for_a_recorded_member(cache: Cache) -> None:
    def claim(run: str) -> Awaitable[bool]:
        return cache.set_new_unless_scored("reserve:post", run, 60, scored="reposted", member="post")

    await cache.add_scored("reposted", {"other": 1})
    assert await claim("run-1") is True
    assert await claim("run-2") is False  # held
    await cache.add_scored("reposted", {"post": 1})
    await cache.delete("reserve:post")
    assert await claim("run-3") is False  # recorded: never again, however late the claim
    assert not await cache.exists("reserve:post")
    won = await asyncio.gather(
        *(
            cache.set_new_unless_scored("reserve:new", f"run-{n}", 60, scored="reposted", member="new")
            for n in range(50)
        )
    )
    assert won.count(True) == 1
    assert (
        await cache.set_new_unless_scored("reserve:gone", "run", 0.3, scored="absent", member="gone") is True
    )
    await asyncio.sleep(0.4)
    assert (
        await cache.set_new_unless_scored("reserve:gone", "run", 60, scored="absent", member="gone") is True
    )


async def test_a_counter_expires_a_ttl_after_its_creation_not_its_last_increment(cache: Cache) -> None:
    assert await cache.incr("logins", 1, 1) == 1
    await asyncio.sleep(0.6)
    assert await cache.incr("logins", 2, 60) == 3  # a later TTL does not extend the first
    assert await cache.get("logins") == "3"
    await asyncio.sleep(0.6)
    assert await cache.get("logins") is None
    assert await cache.incr("logins", 1, 60) == 1


async def test_scored_sets(cache: Cache) -> None:
    await cache.add_scored("reposted", {})
    assert not await cache.exists("reposted")
    assert await cache.scores("reposted", ["a"]) == [None]
    assert await cache.all_scored("reposted") == {}
    assert await cache.count_scored("reposted", 0) == 0
    await cache.add_scored("reposted", {"c": 3, "a": 1, "b": 2})
    await cache.add_scored("reposted", {"a": 4, "d": 2})  # a score is replaced
    assert await cache.scores("reposted", ["b", "x", "a"]) == [2.0, None, 4.0]
    assert await cache.scores("reposted", []) == []
    assert list((await cache.all_scored("reposted")).items()) == [("b", 2), ("d", 2), ("c", 3), ("a", 4)]
    assert await cache.count_scored("reposted", 3) == 2  # at least the minimum
    await cache.prune_scored("reposted", 3)  # strictly below
    assert await cache.all_scored("reposted") == {"c": 3, "a": 4}
    await cache.prune_scored("reposted", 10)
    assert not await cache.exists("reposted")  # emptied sets are gone


async def test_maps_merge(cache: Cache) -> None:
    assert await cache.get_map("watermarks") == {}
    await cache.set_map("watermarks", {"search": "1", "feed": "2"})
    await cache.set_map("watermarks", {"feed": "3"})
    await cache.set_map("watermarks", {})
    assert await cache.get_map("watermarks") == {"search": "1", "feed": "3"}


async def test_the_token_bucket_spends_its_burst_then_says_how_long_to_wait(cache: Cache) -> None:
    rate, capacity = 10.0, 3.0
    assert [await cache.take_token("egress", "alice", rate, capacity) for _ in range(3)] == [0, 0, 0]
    wait = await cache.take_token("egress", "alice", rate, capacity)
    assert 0 < wait <= 1 / rate
    assert 0 < await cache.take_token("egress", "alice", rate, capacity) <= wait  # a refusal takes nothing
    await asyncio.sleep(wait + 0.01)
    assert await cache.take_token("egress", "alice", rate, capacity) == 0
    assert await cache.take_token("other", "alice", rate, capacity) == 0  # buckets are per key
    assert await cache.exists("egress")


async def asks(cache: Cache, tenant: str, times: int, rate: float, capacity: float) -> int:
    """`times` requests of one tenant's runs at once: how many got a token."""
    waits = await asyncio.gather(*(cache.take_token("egress", tenant, rate, capacity) for _ in range(times)))
    return waits.count(0)


async def test_a_tenant_alone_may_use_the_whole_budget(cache: Cache) -> None:
    rate, capacity = 2.0, 4.0
    assert await asks(cache, "abuser", 20, rate, capacity) == 4
    assert 0 < await cache.take_token("egress", "abuser", rate, capacity) <= 1 / rate  # the whole rate


async def test_while_tenants_compete_each_gets_its_share_of_the_budget(cache: Cache) -> None:
    """The abuser's many runs have spent the budget when the victim's run comes: from then on the
    rate is halved for each, and the abuser's twenty requests at once get no more than the victim's one."""
    rate, capacity = 2.0, 2.0
    assert await asks(cache, "abuser", 20, rate, capacity) == 2  # alone: the whole burst
    victim_wait = await cache.take_token("egress", "victim", rate, capacity)
    assert 1 / rate < victim_wait <= 2 / rate  # its share: half the rate
    assert 1 / rate < await cache.take_token("egress", "abuser", rate, capacity) <= 2 / rate  # halved too

    await asyncio.sleep(victim_wait + 0.05)  # a share's token each; the abuser asks first, twenty times
    assert await asks(cache, "abuser", 20, rate, capacity) == 1
    assert await asks(cache, "victim", 1, rate, capacity) == 1


async def test_new_tenants_cannot_take_more_than_the_shared_budget(cache: Cache) -> None:
    rate, capacity = 0.01, 3.0
    granted = [await asks(cache, f"tenant-{n}", 3, rate, capacity) for n in range(10)]
    assert sum(granted) == 3
    assert granted[0] == 3  # the first alone took the burst; the others wait for their shares


async def test_closing_the_memory_cache_keeps_its_state() -> None:
    """The local runtime shares one MemoryCache between runs, and each run closes its cache at the end."""
    cache = MemoryCache()
    await cache.set("session", "token", 60)
    await cache.close()
    assert await cache.get("session") == "token"


async def test_removed_members_are_gone_and_a_set_without_members_with_them(cache: Cache) -> None:
    await cache.add_scored("tenants", {"user/a": 1.0, "user/b": 2.0})
    await cache.remove_scored("tenants", ["user/a", "user/unknown"])
    assert await cache.all_scored("tenants") == {"user/b": 2.0}
    await cache.remove_scored("tenants", ["user/b"])
    assert not await cache.exists("tenants")
    await cache.remove_scored("nothing", ["user/a"])  # no such set: nothing to do
