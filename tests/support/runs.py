"""Run records as the operator collects them, for the tests and benchmarks that fill a run history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from skybots.stores.runs import RunRecord


def run_record(
    job: str, started: datetime, *, bot: str, namespace: str = "skybots", seconds: float = 3, **fields: Any
) -> RunRecord:
    """`bot`'s run `job`, started at `started` and `seconds` long; succeeded unless `fields` say otherwise."""
    return RunRecord.model_validate(
        {
            "namespace": namespace,
            "bot": bot,
            "job": job,
            "outcome": "succeeded",
            "startedAt": started,
            "finishedAt": started + timedelta(seconds=seconds),
            **fields,
        }
    )
