"""The run history the operator appends to and the API charts, held by both implementations:
DynamoDB (moto server) and the SQLite file the embedded runtime uses. Each test runs against each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from skybots.stores.runs import DynamoRunHistory, RunHistory, RunRecord, SqliteRunHistory
from tests.support.aws import CLOUD_OR_EMBEDDED, REGION, reopener

# Within the retention: the SQLite history drops expired records, as DynamoDB's TTL does.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)


def record(job: str, started: datetime, **fields: object) -> RunRecord:
    return RunRecord.model_validate(
        {
            "namespace": "team",
            "bot": "news",
            "job": job,
            "outcome": "succeeded",
            "startedAt": started,
            "finishedAt": started + timedelta(seconds=3),
            **fields,
        }
    )


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
