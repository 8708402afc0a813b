"""The run history the operator appends to and the API charts, held by both implementations:
DynamoDB (moto server) and the SQLite file the embedded runtime uses. Each test runs against each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from skybots.stores import dynamo
from skybots.stores.runs import DynamoRunHistory, RunHistory, RunRecord, SqliteRunHistory
from tests.support.aws import CLOUD_OR_EMBEDDED, REGION, reopener
from tests.support.runs import run_record

# Within the retention: the SQLite history drops expired records, as DynamoDB's TTL does.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)


def record(job: str, started: datetime, **fields: Any) -> RunRecord:
    return run_record(job, started, **({"bot": "news", "namespace": "team"} | fields))


Opener = Callable[[], RunHistory]


@pytest.fixture(params=CLOUD_OR_EMBEDDED)
def open_history(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    return reopener(request, lambda: SqliteRunHistory(tmp_path / "skybots.db"), dynamo_history)


def dynamo_history(aws: str) -> Opener:
    DynamoRunHistory("runs", region=REGION, endpoint_url=aws).ensure_table()
    return lambda: DynamoRunHistory("runs", region=REGION, endpoint_url=aws)


async def test_a_job_is_recorded_once_and_read_back_in_time_order(open_history: Opener) -> None:
    history = open_history()
    later = record("news-2", T0 + timedelta(minutes=15), reposted=2, rejected={"language": 3})
    assert await history.append(later) is True
    assert await history.append(record("news-1", T0, reposted=1)) is True
    assert await open_history().append(later) is False  # the same Job again: refused, not doubled

    runs = await open_history().query("team", "news", T0, T0 + timedelta(hours=1))
    assert [r.job for r in runs] == ["news-1", "news-2"]
    assert runs[1].rejected == {"language": 3}
    assert runs[1].duration_seconds == 3


async def test_query_is_bounded_by_time_and_bot(open_history: Opener) -> None:
    history = open_history()
    for minute in range(0, 60, 10):
        await history.append(record(f"news-{minute}", T0 + timedelta(minutes=minute)))
    await history.append(record("other-0", T0).model_copy(update={"bot": "other"}))

    runs = await history.query("team", "news", T0 + timedelta(minutes=10), T0 + timedelta(minutes=30))
    assert [r.job for r in runs] == ["news-10", "news-20"]  # [since, until)
    assert [r.job for r in await history.query("team", "other", T0, T0 + timedelta(hours=1))] == ["other-0"]


async def test_of_concurrent_appends_of_one_job_one_is_stored(open_history: Opener) -> None:
    first, second = open_history(), open_history()
    run = record("news-1", T0, reposted=1)
    stored = await asyncio.gather(*(history.append(run) for history in (first, second) * 4))
    assert stored.count(True) == 1
    assert await first.query("team", "news", T0, T0 + timedelta(hours=1)) == [run]


async def test_sqlite_drops_records_past_their_retention_as_dynamodbs_ttl_does(tmp_path: Path) -> None:
    history = SqliteRunHistory(tmp_path / "skybots.db", retention=timedelta(days=1))
    old, recent = T0 - timedelta(days=400), datetime.now(UTC) - timedelta(hours=1)
    await history.append(record("news-old", old))
    await history.append(record("news-recent", recent))
    assert await history.query("team", "news", old, recent) == []
    assert [r.job for r in await history.query("team", "news", recent, recent + timedelta(seconds=1))] == [
        "news-recent"
    ]


async def test_the_latest_runs_come_newest_first_a_page_at_a_time(open_history: Opener) -> None:
    history = open_history()
    for minute in range(0, 50, 10):
        await history.append(record(f"news-{minute}", T0 + timedelta(minutes=minute)))
    await history.append(record("other-0", T0 + timedelta(hours=1)).model_copy(update={"bot": "other"}))

    pages, cursor = [], None
    while True:
        page, cursor = await open_history().latest("team", "news", since=T0, limit=2, before=cursor)
        pages.append([run.job for run in page])
        if cursor is None:
            break
    assert pages == [["news-40", "news-30"], ["news-20", "news-10"], ["news-0"]]
    recent, more = await history.latest("team", "news", since=T0 + timedelta(minutes=25), limit=5)
    assert ([run.job for run in recent], more) == (["news-40", "news-30"], None)
    exact, more = await history.latest("team", "news", since=T0, limit=5)
    assert len(exact) == 5  # a full page has a cursor, though nothing may come after it
    assert await history.latest("team", "news", since=T0, limit=5, before=more) == ([], None)


async def test_one_run_is_read_by_its_job_and_only_under_its_bot(open_history: Opener) -> None:
    run = record("news-1", T0, reposted=2, rejected={"language": 1})
    await open_history().append(run)
    assert await open_history().get("team", "news", "news-1") == run
    assert await open_history().get("team", "other", "news-1") is None
    assert await open_history().get("other-team", "news", "news-1") is None
    assert await open_history().get("team", "news", "news-2") is None


async def test_an_append_that_stopped_between_its_two_items_is_completed_by_the_next(aws: str) -> None:
    history = dynamo_history(aws)()
    run = record("news-1", T0)
    in_time_order, _ = DynamoRunHistory("runs", region=REGION).items(run)
    dynamo.client(REGION, aws).put_item(TableName="runs", Item=in_time_order)  # then the operator stopped
    assert await history.get("team", "news", "news-1") is None
    assert await history.append(run) is False  # collected again: stored once
    assert await history.get("team", "news", "news-1") == run
    assert await history.hourly("team", "news", T0, T0 + timedelta(hours=1)) == [
        (T0, {"runs": 1})
    ]  # and counted
    assert await history.append(run) is False
    assert await history.hourly("team", "news", T0, T0 + timedelta(hours=1)) == [(T0, {"runs": 1})]  # once


async def test_forgetting_a_bot_deletes_all_its_runs_and_no_other_bots(open_history: Opener) -> None:
    history = open_history()
    for n in range(30):  # more than a batch of deletes
        await history.append(record(f"news-{n}", T0 + timedelta(minutes=n)))
    await history.append(record("art-1", T0, bot="art"))
    await history.append(record("news-x", T0, namespace="other"))

    deleted = []
    while batch := await open_history().forget("team", "news", limit=25):  # a batch at a time
        deleted.append(batch)
    assert max(deleted) <= 25
    # RUN# and JOB# items, and the one hour's sums (of runs alone: one item, one row)
    assert sum(deleted) == 30 * (2 if isinstance(history, DynamoRunHistory) else 1) + 1
    assert await open_history().forget("team", "news", limit=25) == 0  # safe to repeat

    history = open_history()
    assert await history.query("team", "news", T0 - timedelta(days=1), T0 + timedelta(days=1)) == []
    assert await history.get("team", "news", "news-3") is None
    assert await history.hourly("team", "news", T0 - timedelta(days=1), T0 + timedelta(days=1)) == []
    assert [r.job for r in await history.query("team", "art", T0, T0 + timedelta(hours=1))] == ["art-1"]
    assert (await history.get("other", "news", "news-x")) is not None
    assert await history.hourly("team", "art", T0, T0 + timedelta(hours=1)) == [(T0, {"runs": 1})]
