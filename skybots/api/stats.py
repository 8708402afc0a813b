"""A bot's runs, summed in time buckets for its charts from the run history's sums by the hour
(each bucket is whole UTC hours); cached briefly, as charts poll."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field

from skybots.bots import WireModel
from skybots.stores.runs import REJECTED, RunHistory

Range = Literal["24h", "7d", "30d"]
# How far back each range reaches, and how wide its buckets are.
RANGES: dict[str, tuple[timedelta, timedelta]] = {
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}


class Bucket(WireModel):
    """What the bot's runs that started in one time span did."""

    start: datetime
    """Start of the span (UTC)."""
    runs: int = 0
    """Runs."""
    failed_runs: int = 0
    """Runs that failed (errors)."""
    rate_limited_runs: int = 0
    """Runs a rate limit (Bluesky's or the platform's budget) stopped early; not failures."""
    candidates: int = 0
    """Posts considered."""
    reposted: int = 0
    """Posts reposted (dry runs excluded)."""
    duplicates: int = 0
    """Candidates already reposted before."""
    rejected: dict[str, int] = Field(default_factory=dict)
    """Candidates the filters rejected, by reason."""


class Stats(WireModel):
    """A bot's runs over a range, in equal buckets, oldest first."""

    range: Range
    """24h, 7d or 30d."""
    bucket_seconds: int
    """Width of each bucket."""
    buckets: list[Bucket]
    """The buckets, oldest first, empty ones included."""


class StatsReader:
    """Stats from the run history as JSON; charts poll, so answers are kept and refreshed behind them.

    An answer is fresh for `ttl` seconds; after that the stale one is still served while one
    refresh runs, and concurrent first requests for a bot share one computation. An answer made
    before the bot's last run (`last_run`, its Job) is never served: that run is in the history
    before it is in the Bot's status, so the next read counts it.

    At most `kept` answers are kept, the least recently read going first: 3,000 (a thousand bots
    watched in their three ranges) of at most a few kB each, unless a bot's rejections have many reasons.
    """

    def __init__(self, history: RunHistory, namespace: str, *, ttl: float = 30, kept: int = 3000) -> None:
        self._history, self._namespace, self._ttl, self._kept = history, namespace, ttl, kept
        self._answers: OrderedDict[tuple[str, Range], tuple[float, str, bytes]] = OrderedDict()
        self._computing: dict[tuple[str, Range, str], asyncio.Task[bytes]] = {}

    def forget(self, bot: str) -> None:
        """Drop the bot's answers (its owner deleted their account)."""
        for key in [key for key in self._answers if key[0] == bot]:
            del self._answers[key]

    async def read(self, bot: str, range_: Range, last_run: str = "") -> bytes:
        answer = self._answers.get((bot, range_))
        if answer is not None:
            self._answers.move_to_end((bot, range_))
        if answer is not None and answer[1] == last_run and answer[0] > time.monotonic():
            return answer[2]
        key = (bot, range_, last_run)
        task = self._computing.get(key) or self._start(key)
        return answer[2] if answer is not None and answer[1] == last_run else await asyncio.shield(task)

    def _start(self, key: tuple[str, Range, str]) -> asyncio.Task[bytes]:
        bot, range_, last_run = key

        async def compute() -> bytes:
            try:
                stats = (await self._compute(bot, range_)).model_dump_json(by_alias=True).encode()
                self._answers[bot, range_] = (time.monotonic() + self._ttl, last_run, stats)
                self._answers.move_to_end((bot, range_))
                while len(self._answers) > self._kept:
                    self._answers.popitem(last=False)
                return stats
            finally:
                del self._computing[key]

        task = self._computing[key] = asyncio.create_task(compute())
        return task

    async def _compute(self, bot: str, range_: Range) -> Stats:
        span, width = RANGES[range_]
        now = datetime.now(UTC)
        end = datetime.fromtimestamp(
            (now.timestamp() // width.total_seconds() + 1) * width.total_seconds(), UTC
        )
        start = end - span
        sums: list[Counter[str]] = [Counter() for _ in range(int(span / width))]
        for hour, counts in await self._history.hourly(self._namespace, bot, start, end):
            sums[int((hour - start) / width)].update(counts)
        return Stats(
            range=range_,
            bucket_seconds=int(width.total_seconds()),
            buckets=[
                Bucket.model_validate({"start": start + width * n, **_split(counts)})
                for n, counts in enumerate(sums)
            ],
        )


def _split(counts: Counter[str]) -> dict[str, object]:
    """A bucket's fields from its sums: the rejections by reason gathered under `rejected`."""
    rejected = {name.removeprefix(REJECTED): n for name, n in counts.items() if name.startswith(REJECTED)}
    return {**{name: n for name, n in counts.items() if not name.startswith(REJECTED)}, "rejected": rejected}
