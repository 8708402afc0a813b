"""Run history: one record per finished Job, appended once by the operator, read by the API.

SQLite stands in for DynamoDB in the embedded runtime (`make demo`), with the same keys.

DynamoDB layout (one table): partition key `pk` = "BOT#<namespace>/<name>", sort key
`sk` = "RUN#<startedAt>#<job>", so one Query reads a bot's runs in a time range, oldest
first, or the newest few (backwards, with a Limit). Each record is also kept at
`sk` = "JOB#<job>", written right after, so one GetItem reads a run by its Job.
`expiresAt` (epoch seconds) is the table's TTL attribute.

Beside the runs, each hour a bot's runs started in has its sums (`tally`), at `sk` = "HOUR#<hour>",
added by the append after the run's RUN# item, with a hash of its Job in the item's `marks` so
that it is added once (a conditional update, repeated safely): the charts read one item an hour
instead of every run (30 days at a one-minute schedule: 720 items, not 43,200), and a run counts
once in them however late it is collected and however often it is appended.

A page of runs ends with a cursor, "<startedAt>#<job>" of its last run: the next page starts
after it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from skybots.bots import FAILED_OUTCOMES
from skybots.runs import RunReport
from skybots.stores import dynamo
from skybots.stores.sqlite import Database


class RunRecord(RunReport):
    """A collected run in the history the API charts; one per Job, keyed by it."""

    namespace: str
    """Namespace of the Bot."""
    bot: str
    """Name of the Bot."""
    job: str
    """Name of the Job that ran (the record's identity)."""


class RunHistory(Protocol):
    """Where collected runs go. `append` is idempotent: the same Job is stored once."""

    async def append(self, record: RunRecord) -> bool:
        """Store the record; False when that Job's record was already there."""
        ...

    async def query(self, namespace: str, bot: str, since: datetime, until: datetime) -> list[RunRecord]:
        """The bot's runs that started in [since, until), oldest first."""
        ...

    async def latest(
        self, namespace: str, bot: str, *, since: datetime, limit: int, before: str | None = None
    ) -> tuple[list[RunRecord], str | None]:
        """The bot's newest `limit` runs that started since `since` (and before the cursor `before`),
        newest first, reading no more than those; and the cursor of the next page (None: no more)."""
        ...

    async def hourly(
        self, namespace: str, bot: str, since: datetime, until: datetime
    ) -> list[tuple[datetime, Sums]]:
        """The sums of the bot's runs by the hour they started in, for the hours in [since, until) that had runs,
        oldest first (`since` and `until` on the hour)."""
        ...

    async def get(self, namespace: str, bot: str, job: str) -> RunRecord | None:
        """The bot's run of that Job, by its key."""
        ...

    async def forget(self, namespace: str, bot: str, *, limit: int) -> int:
        """Delete up to `limit` of the bot's stored items (its owner deleted their account); how many
        (0: none is left). A batch at a time, so that the caller can renew its lease in between."""
        ...


HOUR = timedelta(hours=1)
REJECTED = "rejected."
"""The prefix of a sum of rejections by one reason ("rejected.language")."""
Sums = dict[str, int]
"""Sums of runs by measure: runs, failedRuns, rateLimitedRuns, candidates, reposted, duplicates,
and rejected.<reason> (the stats' names)."""


def tally(record: RunRecord) -> Sums:
    """What the run adds to the sums of the hour it started in (zeros left out); dry runs repost nothing."""
    sums = {
        "runs": 1,
        "failedRuns": int(record.outcome in FAILED_OUTCOMES),
        "rateLimitedRuns": int(record.outcome == "rateLimited"),
        "candidates": record.candidates,
        "reposted": 0 if record.dry_run else record.reposted,
        "duplicates": record.duplicates,
        **{f"{REJECTED}{reason}": count for reason, count in record.rejected.items()},
    }
    return {name: count for name, count in sums.items() if count}


def hour_of(moment: datetime) -> datetime:
    return datetime.fromtimestamp(moment.timestamp() // 3600 * 3600, UTC)


CURSOR = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$"
"""What a page's cursor looks like (a run's "<startedAt>#<job>"); the API refuses any other."""


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cursor(record: RunRecord) -> str:
    return f"{_timestamp(record.started_at)}#{record.job}"


def _page(records: list[RunRecord], limit: int) -> tuple[list[RunRecord], str | None]:
    """A page and its cursor: a full page may have more after it (the next may be empty), a shorter one has not.

    Reading one record more to know would cost a record's worth of reading on every page.
    """
    return records, _cursor(records[-1]) if len(records) == limit else None


DELETE_WORKERS = 8
"""BatchWriteItem calls a forget makes at once (benchmarks/account_deletion.py measures them)."""

HOUR_KEYS = frozenset({"pk", "sk", "expiresAt", "marks"})
"""The attributes of an hour's item that are not its sums ("marks": a 64-bit hash of each Job counted)."""


class DynamoRunHistory:
    """Run history in a DynamoDB table (moto in tests, AWS in production)."""

    def __init__(
        self,
        table: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        retention: timedelta = timedelta(days=90),
        delete_workers: int = DELETE_WORKERS,
    ) -> None:
        self._client = dynamo.client(region, endpoint_url)
        self._table = table
        self._retention = retention
        self._delete_workers = delete_workers

    def ensure_table(self) -> None:
        dynamo.ensure_table(self._client, self._table, ttl_attribute="expiresAt")

    async def append(self, record: RunRecord) -> bool:
        return await asyncio.to_thread(self._append, record)

    def items(self, record: RunRecord) -> list[dict[str, Any]]:
        """The record's two items: in time order (RUN#) and by its Job (JOB#)."""
        run: dict[str, Any] = {
            "pk": {"S": f"BOT#{record.namespace}/{record.bot}"},
            "sk": {"S": f"RUN#{_cursor(record)}"},
            "expiresAt": {"N": str(int((record.finished_at + self._retention).timestamp()))},
            "record": {"S": record.model_dump_json(by_alias=True)},
            "outcome": {"S": record.outcome},
            "reposted": {"N": str(record.reposted)},
            "durationSeconds": {"N": str(Decimal(str(round(record.duration_seconds, 3))))},
        }
        return [run, {**run, "sk": {"S": f"JOB#{record.job}"}}]

    def _append(self, record: RunRecord) -> bool:
        """The first writer of a Job wins. Its hour's sums and the JOB# item are written also when the
        RUN# one was there already (the sums count a Job once): an append that stopped between them is
        completed by the next."""
        run, by_job = self.items(record)
        written = dynamo.put_new(self._client, self._table, run)
        hour = hour_of(record.started_at)
        dynamo.add_once(
            self._client,
            self._table,
            {"pk": run["pk"], "sk": {"S": f"HOUR#{_timestamp(hour)}"}},
            tally(record),
            hashlib.blake2b(record.job.encode(), digest_size=8).hexdigest(),
            int((hour + HOUR + self._retention).timestamp()),
        )
        dynamo.put_new(self._client, self._table, by_job)
        return written

    async def query(self, namespace: str, bot: str, since: datetime, until: datetime) -> list[RunRecord]:
        return await asyncio.to_thread(self._query, namespace, bot, since, until)

    def _query(self, namespace: str, bot: str, since: datetime, until: datetime) -> list[RunRecord]:
        items = self._between(
            namespace, bot, f"RUN#{_timestamp(since)}", f"RUN#{_timestamp(until)}", projection="record"
        )
        return [RunRecord.model_validate(json.loads(item["record"]["S"])) for item in items]

    def _between(
        self, namespace: str, bot: str, low: str, high: str, *, projection: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The bot's items whose sort keys lie between `low` and `high`, every page of them."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"BOT#{namespace}/{bot}"},
                ":low": {"S": low},
                ":high": {"S": high},
            },
        }
        if projection is not None:
            request |= {"ProjectionExpression": "#p", "ExpressionAttributeNames": {"#p": projection}}
        while True:
            page = self._client.query(**request)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def hourly(
        self, namespace: str, bot: str, since: datetime, until: datetime
    ) -> list[tuple[datetime, Sums]]:
        return await asyncio.to_thread(self._hourly, namespace, bot, since, until)

    def _hourly(
        self, namespace: str, bot: str, since: datetime, until: datetime
    ) -> list[tuple[datetime, Sums]]:
        items = self._between(namespace, bot, f"HOUR#{_timestamp(since)}", f"HOUR#{_timestamp(until - HOUR)}")
        return [
            (
                datetime.fromisoformat(item["sk"]["S"].removeprefix("HOUR#")),
                {name: int(value["N"]) for name, value in item.items() if name not in HOUR_KEYS},
            )
            for item in items
        ]

    async def latest(
        self, namespace: str, bot: str, *, since: datetime, limit: int, before: str | None = None
    ) -> tuple[list[RunRecord], str | None]:
        return await asyncio.to_thread(self._latest, namespace, bot, since, limit, before)

    def _latest(
        self, namespace: str, bot: str, since: datetime, limit: int, before: str | None
    ) -> tuple[list[RunRecord], str | None]:
        pk = {"S": f"BOT#{namespace}/{bot}"}
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": pk,
                ":low": {"S": f"RUN#{_timestamp(since)}"},
                ":high": {"S": "RUN#~"},  # after every timestamp
            },
            "ScanIndexForward": False,
            "Limit": limit,
            "ProjectionExpression": "#r",
            "ExpressionAttributeNames": {"#r": "record"},
        }
        if before is not None:
            request["ExclusiveStartKey"] = {"pk": pk, "sk": {"S": f"RUN#{before}"}}
        items = self._client.query(**request)["Items"]
        return _page([RunRecord.model_validate_json(item["record"]["S"]) for item in items], limit)

    async def get(self, namespace: str, bot: str, job: str) -> RunRecord | None:
        return await asyncio.to_thread(self._get, namespace, bot, job)

    def _get(self, namespace: str, bot: str, job: str) -> RunRecord | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"BOT#{namespace}/{bot}"}, "sk": {"S": f"JOB#{job}"}},
            ProjectionExpression="#r",
            ExpressionAttributeNames={"#r": "record"},
        )
        found = answer.get("Item")
        return None if found is None else RunRecord.model_validate_json(found["record"]["S"])

    async def forget(self, namespace: str, bot: str, *, limit: int) -> int:
        return await asyncio.to_thread(
            dynamo.delete_some,
            self._client,
            self._table,
            f"BOT#{namespace}/{bot}",
            limit=limit,
            workers=self._delete_workers,
        )


RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    namespace TEXT NOT NULL, bot TEXT NOT NULL, started_at TEXT NOT NULL, job TEXT NOT NULL,
    record TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (namespace, bot, started_at, job)
);
CREATE INDEX IF NOT EXISTS runs_expiry ON runs (expires_at);
CREATE UNIQUE INDEX IF NOT EXISTS runs_job ON runs (namespace, bot, job);
CREATE TABLE IF NOT EXISTS run_hours (
    namespace TEXT NOT NULL, bot TEXT NOT NULL, hour TEXT NOT NULL, measure TEXT NOT NULL,
    value INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (namespace, bot, hour, measure)
);
CREATE INDEX IF NOT EXISTS run_hours_expiry ON run_hours (expires_at);
"""


class SqliteRunHistory:
    """Run history in a SQLite file, for the embedded runtime: keyed, ordered and kept as DynamoRunHistory's.

    Records past their retention are deleted when new ones come, as DynamoDB's TTL deletes them.
    """

    def __init__(self, path: str | os.PathLike[str], *, retention: timedelta = timedelta(days=90)) -> None:
        self._db = Database(path, RUNS_SCHEMA)
        self._retention = retention

    async def append(self, record: RunRecord) -> bool:
        return await self._db.run(self._append, record, self._retention)

    @staticmethod
    def _append(db: sqlite3.Connection, record: RunRecord, retention: timedelta) -> bool:
        now = int(datetime.now(UTC).timestamp())
        db.execute("DELETE FROM runs WHERE expires_at < ?", (now,))
        db.execute("DELETE FROM run_hours WHERE expires_at < ?", (now,))
        inserted = db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                record.namespace,
                record.bot,
                _timestamp(record.started_at),
                record.job,
                record.model_dump_json(by_alias=True),
                int((record.finished_at + retention).timestamp()),
            ),
        )
        if inserted.rowcount != 1:
            return False
        hour = hour_of(record.started_at)
        db.executemany(
            "INSERT INTO run_hours VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET value = value + excluded.value, expires_at = excluded.expires_at",
            [
                (
                    record.namespace,
                    record.bot,
                    _timestamp(hour),
                    measure,
                    count,
                    int((hour + HOUR + retention).timestamp()),
                )
                for measure, count in tally(record).items()
            ],
        )
        return True

    async def query(self, namespace: str, bot: str, since: datetime, until: datetime) -> list[RunRecord]:
        rows = await self._db.run(
            lambda db: db.execute(
                "SELECT record FROM runs WHERE namespace = ? AND bot = ? AND started_at >= ? AND started_at < ?"
                " ORDER BY started_at, job",
                (namespace, bot, _timestamp(since), _timestamp(until)),
            ).fetchall()
        )
        return [RunRecord.model_validate_json(record) for (record,) in rows]

    async def hourly(
        self, namespace: str, bot: str, since: datetime, until: datetime
    ) -> list[tuple[datetime, Sums]]:
        rows = await self._db.run(
            lambda db: db.execute(
                "SELECT hour, measure, value FROM run_hours WHERE namespace = ? AND bot = ? AND hour >= ?"
                " AND hour < ? ORDER BY hour",
                (namespace, bot, _timestamp(since), _timestamp(until)),
            ).fetchall()
        )
        hours: dict[str, Sums] = {}
        for hour, measure, value in rows:
            hours.setdefault(hour, {})[measure] = value
        return [(datetime.fromisoformat(hour), sums) for hour, sums in hours.items()]

    async def latest(
        self, namespace: str, bot: str, *, since: datetime, limit: int, before: str | None = None
    ) -> tuple[list[RunRecord], str | None]:
        started, job = (before or "~#").split("#", 1)  # "~": after every timestamp
        rows = await self._db.run(
            lambda db: db.execute(
                "SELECT record FROM runs WHERE namespace = ? AND bot = ? AND started_at >= ?"
                " AND (started_at, job) < (?, ?) ORDER BY started_at DESC, job DESC LIMIT ?",
                (namespace, bot, _timestamp(since), started, job, limit),
            ).fetchall()
        )
        return _page([RunRecord.model_validate_json(record) for (record,) in rows], limit)

    async def get(self, namespace: str, bot: str, job: str) -> RunRecord | None:
        row = await self._db.run(
            lambda db: db.execute(
                "SELECT record FROM runs WHERE namespace = ? AND bot = ? AND job = ?", (namespace, bot, job)
            ).fetchone()
        )
        return None if row is None else RunRecord.model_validate_json(row[0])

    async def forget(self, namespace: str, bot: str, *, limit: int) -> int:
        deleted: int = await self._db.run(self._forget, namespace, bot, limit)
        return deleted

    @staticmethod
    def _forget(db: sqlite3.Connection, namespace: str, bot: str, limit: int) -> int:
        """Up to `limit` of the bot's runs, then of its hourly sums."""
        deleted = 0
        for table in ("runs", "run_hours"):
            deleted += db.execute(
                f"DELETE FROM {table} WHERE rowid IN"
                f" (SELECT rowid FROM {table} WHERE namespace = ? AND bot = ? LIMIT ?)",
                (namespace, bot, limit - deleted),
            ).rowcount
        return deleted
