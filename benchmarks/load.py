"""What the API benchmarks share: moto and the Kubernetes emulator, `skybots` processes, a steady
load offered from a process of its own, a signed-in user's cookie, and latency figures.

`offer()` starts `python benchmarks/load.py` with the plan on stdin; that process sends RATE
requests a second on a fixed schedule (late answers do not slow the sending), cycling through
the paths, and prints every latency and the errors.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybots.stores.users import User

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def _drive(plan: dict[str, Any]) -> dict[str, Any]:
    """The load itself (in the driver process): latencies by path label, and errors."""
    import httpx

    paths: list[tuple[str, str]] = [tuple(pair) for pair in plan["paths"]]  # (label, path)
    results: dict[str, list[float]] = {label: [] for label, _ in paths}
    errors: dict[str, int] = dict.fromkeys(results, 0)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=plan["url"], cookies=plan["cookies"], limits=limits, timeout=10
    ) as client:

        async def one(label: str, path: str) -> None:
            started = time.perf_counter()
            try:
                response = await client.get(path)
                failed = response.status_code != plan["expect"].get(label, 200)
            except httpx.HTTPError:
                failed = True
            errors[label] += failed
            results[label].append(time.perf_counter() - started)

        for label, path in paths[: plan["warm_up"]]:
            await one(label, path)
        for label in results:
            results[label].clear()
            errors[label] = 0
        tasks, begin = [], time.perf_counter()
        rate = plan["rate"]
        for n in range(int(rate * plan["seconds"])):
            await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(*paths[n % len(paths)])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    return {"results": results, "errors": errors, "elapsed": elapsed}


async def offer(
    url: str,
    cookies: dict[str, str],
    paths: list[tuple[str, str]],
    *,
    rate: float,
    seconds: float,
    warm_up: int = 0,
    expect: dict[str, int] | None = None,
) -> dict[str, Any]:
    """RATE requests a second for SECONDS from a driver process; `expect` is each label's status (200)."""
    plan = {
        "url": url,
        "cookies": cookies,
        "paths": paths,
        "rate": rate,
        "seconds": seconds,
        "warm_up": warm_up,
        "expect": expect or {},
    }
    driver = await asyncio.create_subprocess_exec(
        sys.executable, __file__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await driver.communicate(json.dumps(plan).encode())
    if driver.returncode:
        raise RuntimeError(f"the load driver failed ({driver.returncode})")
    outcome: dict[str, Any] = json.loads(out)
    return outcome


def percentiles(latencies: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max, in milliseconds."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000, ordered[-1] * 1000


async def signed_in(aws: str, secret: str, subject: str) -> tuple[User, dict[str, str], dict[str, str]]:
    """A user signed in as after Google (recorded in DynamoDB), their session cookie and CSRF header."""
    import itsdangerous

    from skybots.stores.users import DynamoUsers
    from tests.support.api import ISSUER
    from tests.support.aws import REGION

    users = DynamoUsers("skybots-users", region=REGION, endpoint_url=aws)
    user, _ = await users.sign_in(ISSUER, subject, f"{subject}@example.com", subject.title())
    csrf = secrets.token_urlsafe(16)
    session = {"user": user.id, "csrf": csrf, "issued": time.time(), "expires": int(time.time()) + 3600}
    signed = itsdangerous.TimestampSigner(secret).sign(base64.b64encode(json.dumps(session).encode()))
    return user, {"skybots_session": signed.decode()}, {"X-CSRF-Token": csrf}


@contextlib.asynccontextmanager
async def cloud() -> AsyncIterator[tuple[str, str]]:
    """DynamoDB on moto and the project's Kubernetes emulator, served from this process: their URLs."""
    import kmock
    from moto.server import ThreadedMotoServer

    from tests.support.kubernetes import ClusterEmulator
    from tests.support.processes import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    try:
        async with ClusterEmulator() as cluster, kmock.Server(cluster):
            yield f"http://127.0.0.1:{port}", str(cluster.url)
    finally:
        moto.stop()


@contextlib.asynccontextmanager
async def running(args: list[str], env: dict[str, str]) -> AsyncIterator[int]:
    """`skybots ARGS` as a process of its own, until the block ends; its pid."""
    process = await asyncio.create_subprocess_exec(
        Path(sys.executable).parent / "skybots",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield process.pid
    finally:
        process.terminate()
        await process.wait()


@contextlib.asynccontextmanager
async def api(kubernetes: str, dynamodb: str, **settings: str) -> AsyncIterator[str]:
    """`skybots api` (one worker) on that API server and DynamoDB, answering; its URL."""
    from tests.support.api import SESSION_SECRET
    from tests.support.aws import REGION
    from tests.support.processes import free_port

    port = free_port()
    env = {
        "SKYBOTS_KUBERNETES_SERVER": kubernetes,
        "SKYBOTS_DYNAMODB_ENDPOINT_URL": dynamodb,
        "SKYBOTS_AWS_REGION": REGION,
        "SKYBOTS_SESSION_SECRET": SESSION_SECRET,
        **settings,
    }
    args = ["api", "--port", str(port), "--host", "127.0.0.1", "--create-tables"]
    async with running(args, env):
        url = f"http://127.0.0.1:{port}"
        await answering(url)
        yield url


async def answering(url: str) -> None:
    """Until the server at `url` answers /healthz."""
    import httpx

    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(300):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_drive(json.loads(sys.stdin.read())))))
