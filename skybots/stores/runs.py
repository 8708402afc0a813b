"""Run history: one record per finished Job, appended once by the operator, read by the API.

DynamoDB layout (one table): partition key `pk` = "BOT#<namespace>/<name>", sort key
`sk` = "RUN#<startedAt>#<job>", so one Query reads a bot's runs in a time range, oldest
first. `expiresAt` (epoch seconds) is the table's TTL attribute.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from skybots.runs import RunReport
from skybots.stores import dynamo


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


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DynamoRunHistory:
    """Run history in a DynamoDB table (moto in tests, AWS in production)."""

    def __init__(
        self,
        table: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        retention: timedelta = timedelta(days=90),
    ) -> None:
        self._client = dynamo.client(region, endpoint_url)
        self._table = table
        self._retention = retention

    def ensure_table(self) -> None:
        dynamo.ensure_table(self._client, self._table, ttl_attribute="expiresAt")

    async def append(self, record: RunRecord) -> bool:
        return await asyncio.to_thread(self._append, record)

    def _append(self, record: RunRecord) -> bool:
        item: dict[str, Any] = {
            "pk": {"S": f"BOT#{record.namespace}/{record.bot}"},
            "sk": {"S": f"RUN#{_timestamp(record.started_at)}#{record.job}"},
            "expiresAt": {"N": str(int((record.finished_at + self._retention).timestamp()))},
            "record": {"S": record.model_dump_json(by_alias=True)},
            "outcome": {"S": record.outcome},
            "reposted": {"N": str(record.reposted)},
            "durationSeconds": {"N": str(Decimal(str(round(record.duration_seconds, 3))))},
        }
        return dynamo.put_new(self._client, self._table, item)

    async def query(self, namespace: str, bot: str, since: datetime, until: datetime) -> list[RunRecord]:
        return await asyncio.to_thread(self._query, namespace, bot, since, until)

    def _query(self, namespace: str, bot: str, since: datetime, until: datetime) -> list[RunRecord]:
        records: list[RunRecord] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"BOT#{namespace}/{bot}"},
                ":low": {"S": f"RUN#{_timestamp(since)}"},
                ":high": {"S": f"RUN#{_timestamp(until)}"},
            },
            "ProjectionExpression": "#r",
            "ExpressionAttributeNames": {"#r": "record"},
        }
        while True:
            page = self._client.query(**request)
            records += [RunRecord.model_validate(json.loads(item["record"]["S"])) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return records
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
