"""Deleting an account whose bot has RUNS runs (2 DynamoDB items each) on moto.

Two tables:

- the erasure of one bot's run history (`DynamoRunHistory.forget`, a batch of 1000 keys at a
  time as the API's eraser goes) with 1, 4, 8 and 16 BatchWriteItem calls at once, on moto
  directly and through a proxy (tests/support/aws.py's StoreEdge) that adds a round trip of
  LATENCY seconds to every call, as a DynamoDB a network away has;
- `skybots api` (one worker, its own process) on the Kubernetes emulator and DynamoDB on moto,
  both served from this process: the time DELETE /api/account takes to answer, and the time
  until its erasure left the store's pending list (the whole run history gone).

    .venv/bin/python benchmarks/account_deletion.py [runs]   # default: 20000

moto serves every call in this process's Python (one core at a time), so on moto alone calls
at once gain nothing; what they gain is the round trips they overlap, the second column.
"""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMESPACE = "skybots"
RUNS_TABLE, USERS_TABLE = "skybots-runs", "skybots-users"
WORKERS = (1, 4, 8, 16)
LATENCY = 0.01
BOT = {
    "name": "bench",
    "appPassword": "bench-pass",
    "spec": {"account": {"handle": "bench.bsky.social"}, "sources": [{"type": "hashtag", "tag": "python"}]},
}


def seed(aws: str, resource: str, runs: int) -> None:
    """`runs` runs of the Bot in the run history, written as the operator writes them (both items)."""
    from datetime import UTC, datetime, timedelta

    from skybots.stores import dynamo
    from skybots.stores.runs import DynamoRunHistory
    from tests.support.aws import REGION
    from tests.support.runs import run_record

    history = DynamoRunHistory(RUNS_TABLE, region=REGION, endpoint_url=aws)
    history.ensure_table()
    client = dynamo.client(REGION, aws)
    now = datetime.now(UTC)
    items = [
        item
        for n in range(runs)
        for item in history.items(
            run_record(
                f"bot-{resource}-{n}",
                now - timedelta(minutes=5 * n),
                bot=resource,
                namespace=NAMESPACE,
                seconds=4,
                candidates=40,
                reposted=3,
            )
        )
    ]

    def put(start: int) -> None:
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + dynamo.BATCH_WRITE_LIMIT]]
        unprocessed: dict[str, Any] = {RUNS_TABLE: batch}
        while unprocessed:
            unprocessed = client.batch_write_item(RequestItems=unprocessed).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(0, len(items), dynamo.BATCH_WRITE_LIMIT)))


async def erase(aws: str, resource: str, workers: int) -> tuple[int, float]:
    """The bot's run history forgotten as the eraser does it: items deleted, seconds."""
    from skybots.api.erasure import BATCH
    from skybots.stores.runs import DynamoRunHistory
    from tests.support.aws import REGION

    history = DynamoRunHistory(RUNS_TABLE, region=REGION, endpoint_url=aws, delete_workers=workers)
    deleted, started = 0, time.perf_counter()
    while batch := await history.forget(NAMESPACE, resource, limit=BATCH):
        deleted += batch
    return deleted, time.perf_counter() - started


async def through_the_api(aws: str, kubernetes: str, runs: int) -> tuple[float, float]:
    """Seconds until DELETE /api/account answered, and until its erasure was done."""
    import httpx

    from benchmarks.load import api, signed_in
    from skybots.api.bots import resource_name
    from skybots.stores.users import DynamoUsers
    from tests.support.api import SESSION_SECRET
    from tests.support.aws import REGION
    from tests.support.operator import eventually

    async with api(kubernetes, aws, SKYBOTS_METRICS_PORT="0") as url:
        user, cookies, headers = await signed_in(aws, SESSION_SECRET, "sub-deleting")
        async with httpx.AsyncClient(base_url=url, cookies=cookies, headers=headers, timeout=600) as client:
            made = await client.post("/api/bots", json=BOT)
            assert made.status_code == 201, made.text
            await asyncio.to_thread(seed, aws, resource_name(user, "bench"), runs)
            users = DynamoUsers(USERS_TABLE, region=REGION, endpoint_url=aws)
            started = time.perf_counter()
            response = await client.request("DELETE", "/api/account", json={"confirm": user.email})
            answered = time.perf_counter() - started
            assert response.status_code == 202, response.text

            async def none_pending() -> bool:
                return await users.pending_erasures() == []

            await eventually(none_pending, 3600, "the erasure finished")
            return answered, time.perf_counter() - started


async def main(runs: int) -> None:
    from benchmarks.load import cloud
    from tests.support.aws import store_edge

    async with cloud() as (aws, kubernetes), store_edge(aws) as edge:
        edge.delay = LATENCY
        print(f"Erasing one bot's run history: {runs:,} runs, {2 * runs:,} items, on moto")
        print(
            f"{'calls at once':>13} | {'moto: s':>8} | {'items/s':>8} | {f'+{LATENCY * 1000:.0f} ms a call: s':>20} | {'items/s':>8}"
        )
        for workers in WORKERS:
            row = f"{workers:>13}"
            for endpoint, width in ((aws, 8), (edge.url, 20)):
                resource = f"bench-{workers}-{width}"
                await asyncio.to_thread(seed, aws, resource, runs)
                deleted, seconds = await erase(endpoint, resource, workers)
                assert deleted == 2 * runs, deleted
                row += f" | {seconds:>{width}.1f} | {deleted / seconds:>8,.0f}"
            print(row)
        answered, erased = await through_the_api(aws, kubernetes, runs)
        print()
        print(
            f"DELETE /api/account with {runs:,} runs: answered in {answered:.2f} s, all erased in {erased:.1f} s"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
