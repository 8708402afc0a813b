"""The run history the operator appends to and the API charts, on DynamoDB (moto server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from skybots.stores.runs import DynamoRunHistory, RunRecord
from tests.support.aws import REGION

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


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


async def test_a_job_is_recorded_once_and_read_back_in_time_order(aws: str) -> None:
    history = DynamoRunHistory("runs", region=REGION, endpoint_url=aws)
    history.ensure_table()
    history.ensure_table()  # idempotent
    later = record("news-2", T0 + timedelta(minutes=15), reposted=2, rejected={"language": 3})
    assert await history.append(later) is True
    assert await history.append(record("news-1", T0, reposted=1)) is True
    assert await history.append(later) is False  # the same Job again: refused, not doubled

    runs = await history.query("team", "news", T0, T0 + timedelta(hours=1))
    assert [r.job for r in runs] == ["news-1", "news-2"]
    assert runs[1].rejected == {"language": 3}
    assert runs[1].duration_seconds == 3


async def test_query_is_bounded_by_time_and_bot(aws: str) -> None:
    history = DynamoRunHistory("runs", region=REGION, endpoint_url=aws)
    history.ensure_table()
    for minute in range(0, 60, 10):
        await history.append(record(f"news-{minute}", T0 + timedelta(minutes=minute)))
    await history.append(record("other-0", T0).model_copy(update={"bot": "other"}))

    runs = await history.query("team", "news", T0 + timedelta(minutes=10), T0 + timedelta(minutes=30))
    assert [r.job for r in runs] == ["news-10", "news-20"]  # [since, until)
    assert [r.job for r in await history.query("team", "other", T0, T0 + timedelta(hours=1))] == ["other-0"]
