"""A bot's stats (StatsReader) over both run histories, DynamoDB (moto server) and SQLite: the same as
counting every run again, whatever order the runs were collected in and however often; cheap to read
after each new run; a bounded number of answers kept."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from skybots.api.stats import StatsReader
from skybots.bots import FAILED_OUTCOMES
from skybots.stores.runs import DynamoRunHistory, RunRecord
from tests.support.aws import REGION, store_edge
from tests.test_run_history import Opener, dynamo_history, open_history, record

__all__ = ["open_history"]  # the fixture, both histories

OUTCOMES = ["succeeded", "succeeded", "succeeded", "failed", "upstreamFailed", "rateLimited", "authFailed"]
REASONS = ["language", "reply", "minLikes", "too_old"]


def random_history(seed: int, count: int) -> list[RunRecord]:
    """`count` runs over the last 31 days (some before the 30 days charted), with random counts."""
    chance = random.Random(seed)
    now = datetime.now(UTC)
    return [
        record(
            f"news-{n}",
            now - timedelta(seconds=chance.uniform(0, 31 * 86400)),
            outcome=chance.choice(OUTCOMES),
            dryRun=chance.random() < 0.2,
            candidates=chance.randrange(50),
            reposted=chance.randrange(5),
            duplicates=chance.randrange(4),
            rejected={
                reason: chance.randrange(1, 9) for reason in chance.sample(REASONS, chance.randrange(3))
            },
        )
        for n in range(count)
    ]


def recounted(answer: dict[str, Any], runs: list[RunRecord]) -> list[dict[str, Any]]:
    """The answer's buckets as counting each of `runs` once into the bucket its start falls in gives them."""
    width = timedelta(seconds=answer["bucketSeconds"])
    buckets = []
    for bucket in answer["buckets"]:
        start = datetime.fromisoformat(bucket["start"])
        inside = [run for run in runs if start <= run.started_at < start + width]
        buckets.append(
            {
                "start": bucket["start"],
                "runs": len(inside),
                "failedRuns": sum(run.outcome in FAILED_OUTCOMES for run in inside),
                "rateLimitedRuns": sum(run.outcome == "rateLimited" for run in inside),
                "candidates": sum(run.candidates for run in inside),
                "reposted": sum(run.reposted for run in inside if not run.dry_run),
                "duplicates": sum(run.duplicates for run in inside),
                "rejected": dict(sum((Counter(run.rejected) for run in inside), Counter())),
            }
        )
    return buckets


async def test_the_stats_are_a_recount_of_every_run_once_however_late_or_often_collected(
    open_history: Opener,
) -> None:
    runs = random_history(15, 400)
    collected = random.Random(16).sample(runs, len(runs))  # out of time order, as late collection makes it
    history = open_history()
    for start in range(0, len(collected), 20):
        await asyncio.gather(*(history.append(run) for run in collected[start : start + 20]))
    again = collected[::7]
    stored = await asyncio.gather(*(open_history().append(run) for run in again * 2))  # twice, at once
    assert not any(stored)
    reader = StatsReader(open_history(), "team")
    for range_ in ("24h", "7d", "30d"):
        answer = json.loads(await reader.read("news", range_, "news-0"))
        assert datetime.fromisoformat(answer["buckets"][-1]["start"]) <= datetime.now(UTC)
        assert answer["buckets"] == recounted(answer, runs), range_
    assert sum(bucket["runs"] for bucket in answer["buckets"]) < len(runs)  # some began before the 30 days


async def test_a_run_collected_after_the_answer_was_kept_is_in_the_next_answer(open_history: Opener) -> None:
    now = datetime.now(UTC)
    runs = [record(f"news-{n}", now - timedelta(hours=n), reposted=1) for n in range(1, 5)]
    history = open_history()
    for run in runs:
        await history.append(run)
    reader = StatsReader(open_history(), "team")
    kept = json.loads(await reader.read("news", "30d", "news-1"))
    assert kept["buckets"] == recounted(kept, runs)
    late = record("news-late", now - timedelta(days=12), reposted=3, rejected={"reply": 2})  # began long ago
    assert await history.append(late)
    assert json.loads(await reader.read("news", "30d", "news-1")) == kept  # kept for the same last run
    after = json.loads(await reader.read("news", "30d", "news-late"))
    assert after["buckets"] == recounted(after, [*runs, late])
    assert sum(bucket["reposted"] for bucket in after["buckets"]) == 7


async def test_the_30_days_after_a_new_run_read_an_item_an_hour_not_every_run(aws: str) -> None:
    """A bot on a busy schedule: the 30 days are read from one sum per hour, not from its runs."""
    history = dynamo_history(aws)()
    now = datetime.now(UTC)
    runs = [record(f"news-{n}", now - timedelta(minutes=3 * n + 1)) for n in range(240)]  # 12 hours
    for start in range(0, len(runs), 20):
        await asyncio.gather(*(history.append(run) for run in runs[start : start + 20]))
    async with store_edge(aws) as edge:
        reader = StatsReader(DynamoRunHistory("runs", region=REGION, endpoint_url=edge.url), "team")
        await reader.read("news", "30d", "news-0")
        assert sum(call.items for call in edge.reads()) <= 13  # the hours those runs began in
        await history.append(record("news-new", now))
        edge.calls.clear()
        answer = json.loads(await reader.read("news", "30d", "news-new"))
        assert sum(call.items for call in edge.reads()) <= 13
    assert sum(bucket["runs"] for bucket in answer["buckets"]) == 241


async def test_a_reader_keeps_its_most_recently_read_answers_only(aws: str) -> None:
    """Many bots watched: the oldest read answer goes first, so that a replica's memory is bounded."""
    history = dynamo_history(aws)()
    for bot in ("a", "b", "c"):
        await history.append(record(f"{bot}-1", datetime.now(UTC), bot=bot))
    async with store_edge(aws) as edge:
        reader = StatsReader(DynamoRunHistory("runs", region=REGION, endpoint_url=edge.url), "team", kept=2)
        for bot in ("a", "b", "c"):
            await reader.read(bot, "24h", f"{bot}-1")
        edge.calls.clear()
        await reader.read("c", "24h", "c-1")
        await reader.read("b", "24h", "b-1")
        assert edge.reads() == []  # kept
        await reader.read("a", "24h", "a-1")
        assert len(edge.reads()) == 1  # gone: read again
