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
import json
import logging
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOTS = 100


async def drive(url: str, cookie: str, rate: float, seconds: float) -> None:
    """The load: RATE requests a second, on a fixed schedule (late answers do not slow the sending)."""
    import httpx

    paths = ["/api/bots", "/api/bots/bot7/stats?range=24h"]
    results: dict[str, list[float]] = {path: [] for path in paths}
    errors = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=url, cookies={"skybots_session": cookie}, limits=limits, timeout=10
    ) as client:

        async def one(path: str) -> None:
            nonlocal errors
            started = time.perf_counter()
            response = await client.get(path)
            if response.status_code != 200:
                errors += 1
            results[path].append(time.perf_counter() - started)

        for path in paths:  # warm up: the first stats read fills its cache
            await one(path)
        for latencies in results.values():
            latencies.clear()
        tasks, begin = [], time.perf_counter()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(paths[n % 2])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    print(json.dumps({"results": results, "errors": errors, "elapsed": elapsed}))


async def bench(rate: float, seconds: float) -> None:
    import kmock
    from moto.server import ThreadedMotoServer

    from skybots.api.bots import OWNER_CHARS
    from skybots.stores.runs import DynamoRunHistory, RunRecord
    from skybots.stores.users import user_id
    from tests.support.api import ISSUER, SESSION_SECRET
    from tests.support.aws import REGION
    from tests.support.kubernetes import ClusterEmulator
    from tests.support.processes import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_port, api_port = free_port(), free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    aws = f"http://127.0.0.1:{moto_port}"
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    try:
        async with ClusterEmulator() as cluster, kmock.Server(cluster):
            env = {
                **os.environ,
                "SKYBOTS_KUBERNETES_SERVER": str(cluster.url),
                "SKYBOTS_DYNAMODB_ENDPOINT_URL": aws,
                "SKYBOTS_AWS_REGION": REGION,
                "SKYBOTS_SESSION_SECRET": SESSION_SECRET,
                "SKYBOTS_BOTS_PER_USER": str(BOTS),
            }
            api = await asyncio.create_subprocess_exec(
                Path(sys.executable).parent / "skybots",
                *("api", "--port", str(api_port), "--host", "127.0.0.1", "--create-tables"),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                url = f"http://127.0.0.1:{api_port}"
                cookie = await _user_with_bots(url, aws, ISSUER, SESSION_SECRET)
                history = DynamoRunHistory("skybots-runs", region=REGION, endpoint_url=aws)
                resource = (
                    f"bot7-{user_id(ISSUER, 'sub-bench')[:OWNER_CHARS]}"  # the Bot behind the user's bot7
                )
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
                driver = await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    *("--drive", url, cookie, str(rate), str(seconds)),
                    stdout=asyncio.subprocess.PIPE,
                )
                out, _ = await driver.communicate()
                if driver.returncode:
                    raise RuntimeError(f"the load driver failed ({driver.returncode})")
            finally:
                api.terminate()
                await api.wait()
    finally:
        moto.stop()
    report(json.loads(out), rate, seconds)


async def _user_with_bots(url: str, aws: str, issuer: str, secret: str) -> str:
    """A signed-in user (a session cookie as the API signs them) who made BOTS bots through the API."""
    import base64
    import secrets

    import httpx
    import itsdangerous

    from skybots.stores.users import DynamoUsers
    from tests.support.aws import REGION

    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(200):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    users = DynamoUsers("skybots-users", region=REGION, endpoint_url=aws)
    user, _ = await users.sign_in(issuer, "sub-bench", "bench@example.com", "Bench")
    csrf = secrets.token_urlsafe(16)
    session = {"user": user.id, "csrf": csrf, "expires": int(time.time()) + 3600}
    cookie = (
        itsdangerous.TimestampSigner(secret).sign(base64.b64encode(json.dumps(session).encode())).decode()
    )
    headers = {"X-CSRF-Token": csrf}
    async with httpx.AsyncClient(
        base_url=url, cookies={"skybots_session": cookie}, headers=headers, timeout=30
    ) as client:
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
    return cookie


def report(outcome: dict[str, Any], rate: float, seconds: float) -> None:
    print(f"one API worker, {rate:.0f} requests/s offered for {seconds:.0f} s (a user with {BOTS} bots):\n")
    print(f"{'endpoint':36} {'requests':>9} {'p50 (ms)':>9} {'p99 (ms)':>9} {'max (ms)':>9}")
    total = 0
    for path, latencies in outcome["results"].items():
        ordered = sorted(latencies)
        total += len(ordered)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(
            f"{path:36} {len(ordered):>9} {statistics.median(ordered) * 1000:>9.1f} "
            f"{p99 * 1000:>9.1f} {ordered[-1] * 1000:>9.1f}"
        )
    print(
        f"\nachieved: {total / outcome['elapsed']:.0f} requests/s, {outcome['errors']} errors (target p99 <= 50 ms at 200/s)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--drive"]:
        url, cookie, rate, seconds = sys.argv[2:6]
        asyncio.run(drive(url, cookie, float(rate), float(seconds)))
    else:
        numbers = [float(a) for a in sys.argv[1:3]]
        asyncio.run(bench(*(numbers + [200.0, 20.0][len(numbers) :])))
