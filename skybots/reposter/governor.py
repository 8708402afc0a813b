"""The rate governor: how much a run may read and write, and when it must stop.

- every request to Bluesky draws a token from one bucket shared by all bots (they share the
  cluster's egress address, which Bluesky limits to 3,000 requests per 5 minutes), fairly between
  tenants (`Cache.take_token`): a tenant alone may use the whole budget, and while n tenants' runs
  compete each gets 1/n of it, however many bots and requests it has;
- every repost spends write points of the account (3 each; Bluesky allows 5,000 an hour and
  35,000 a day, and the governor stops short of them);
- the bot's own limits: reposts per run, per hour and per day (counted over sliding windows).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from skybots.bluesky.errors import RateLimited
from skybots.bots import Limits
from skybots.reposter import bot_keys
from skybots.stores.cache import Cache

EGRESS_BUCKET = bot_keys.EGRESS_BUCKET
REPOST_POINTS = 3
HOUR, DAY = 3600, 86400


class Governor:
    def __init__(
        self,
        cache: Cache,
        *,
        bot: str,
        tenant: str,
        limits: Limits,
        egress_rate: float,
        egress_burst: float,
        points_per_hour: int,
        points_per_day: int,
        deadline: float,
    ) -> None:
        self._cache, self._tenant, self._limits = cache, tenant, limits
        self._rate, self._burst = egress_rate, egress_burst
        self._points = (points_per_hour, points_per_day)
        self._deadline = deadline  # time.monotonic() by which the run must be done
        self._reposts = bot_keys.reposts(bot)

    async def gate(self, nsid: str) -> None:
        """Wait for a token of the tenant's share of the request budget; RateLimited when it would not come in time."""
        while (
            wait := await self._cache.take_token(EGRESS_BUCKET, self._tenant, self._rate, self._burst)
        ) > 0:
            if time.monotonic() + wait >= self._deadline:
                raise RateLimited(nsid, "the platform's shared request budget is spent for now", status=None)
            await asyncio.sleep(wait)

    async def allowance(self) -> tuple[int, str]:
        """How many reposts this run may make under the bot's limits, and which limit sets it."""
        now = time.time()
        await self._cache.prune_scored(self._reposts, now - DAY)
        hour = await self._cache.count_scored(self._reposts, now - HOUR)
        day = await self._cache.count_scored(self._reposts, now - DAY)
        options = [
            (self._limits.per_run, f"perRun ({self._limits.per_run})"),
            (self._limits.per_hour - hour, f"perHour ({self._limits.per_hour})"),
            (self._limits.per_day - day, f"perDay ({self._limits.per_day})"),
        ]
        allowed, which = min(options, key=lambda option: option[0])
        return max(0, allowed), which

    async def spend_write(self, account: str) -> bool:
        """Take the points of one repost from the account's hourly and daily budgets; False when spent."""
        now = datetime.now(UTC)
        windows = (
            (f"skybots:points:{account}:h:{now:%Y%m%d%H}", HOUR, self._points[0]),
            (f"skybots:points:{account}:d:{now:%Y%m%d}", DAY, self._points[1]),
        )
        spent = [await self._cache.incr(key, REPOST_POINTS, ttl) for key, ttl, _ in windows]
        if all(total <= limit for total, (_, _, limit) in zip(spent, windows, strict=True)):
            return True
        for key, ttl, _ in windows:
            await self._cache.incr(key, -REPOST_POINTS, ttl)  # not spent after all
        return False

    async def count_repost(self, uri: str) -> None:
        await self._cache.add_scored(self._reposts, {uri: time.time()})
