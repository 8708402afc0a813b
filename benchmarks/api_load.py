"""The API's read path under load: a user with 100 bots, GET /api/bots and a bot's stats.

`skybots api` runs as its own process with one worker, against the project's Kubernetes
emulator and DynamoDB on moto (both served from this process). A second process sends a
steady RATE requests a second for SECONDS, alternating the two reads, and reports latencies.
Prints p50/p99 and the requests per second achieved, per endpoint.

    .venv/bin/python benchmarks/api_load.py [rate] [seconds]      # default: 200 20

Target: p99 <= 50 ms at 200 requests per second, one worker.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOTS = 100


async def bench(rate: float, seconds: float) -> None:
    from benchmarks.load import api, cloud, offer, signed_in
    from skybots.api.bots import resource_name
    from skybots.stores.runs import DynamoRunHistory, RunRecord
    from tests.support.api import SESSION_SECRET
    from tests.support.aws import REGION

    async with cloud() as (aws, kubernetes), api(kubernetes, aws, SKYBOTS_BOTS_PER_USER=str(BOTS)) as url:
        user, cookies, headers = await signed_in(aws, SESSION_SECRET, "sub-bench")
        await _bots(url, cookies, headers)
        history = DynamoRunHistory("skybots-runs", region=REGION, endpoint_url=aws)
        resource = resource_name(user, "bot7")  # the Bot behind the user's bot7
        now = datetime.now(UTC)
        for n in range(96):  # a run every 15 minutes for a day
            started = now - timedelta(minutes=15 * n)
            record = {
                "namespace": "skybots",
                "bot": resource,
                "job": f"bot-{resource}-{n}",
                "outcome": "succeeded",
                "startedAt": started,
                "finishedAt": started + timedelta(seconds=3),
                "candidates": 20,
                "reposted": n % 4,
                "rejected": {"language": n % 5, "reply": 2},
            }
            await history.append(RunRecord.model_validate(record))
        paths = [(path, path) for path in ("/api/bots", "/api/bots/bot7/stats?range=24h")]
        # Warm up: the first stats read fills its cache.
        outcome = await offer(url, cookies, paths, rate=rate, seconds=seconds, warm_up=2)
    report(outcome, rate, seconds)


async def _bots(url: str, cookies: dict[str, str], headers: dict[str, str]) -> None:
    """BOTS bots, made through the API."""
    import httpx

    async with httpx.AsyncClient(base_url=url, cookies=cookies, headers=headers, timeout=30) as client:
        for n in range(BOTS):
            body = {
                "name": f"bot{n}",
                "appPassword": "bench-pass",
                "spec": {
                    "account": {"handle": f"bot{n}.bsky.social"},
                    "sources": [{"type": "hashtag", "tag": f"t{n}"}],
                },
            }
            response = await client.post("/api/bots", json=body)
            response.raise_for_status()


def report(outcome: dict[str, Any], rate: float, seconds: float) -> None:
    from benchmarks.load import percentiles

    print(f"one API worker, {rate:.0f} requests/s offered for {seconds:.0f} s (a user with {BOTS} bots):\n")
    print(f"{'endpoint':36} {'requests':>9} {'p50 (ms)':>9} {'p99 (ms)':>9} {'max (ms)':>9}")
    total = 0
    for path, latencies in outcome["results"].items():
        total += len(latencies)
        p50, p99, most = percentiles(latencies)
        print(f"{path:36} {len(latencies):>9} {p50:>9.1f} {p99:>9.1f} {most:>9.1f}")
    errors = sum(outcome["errors"].values())
    print(
        f"\nachieved: {total / outcome['elapsed']:.0f} requests/s, {errors} errors (target p99 <= 50 ms at 200/s)"
    )


if __name__ == "__main__":
    numbers = [float(a) for a in sys.argv[1:3]]
    asyncio.run(bench(*(numbers + [200.0, 20.0][len(numbers) :])))
