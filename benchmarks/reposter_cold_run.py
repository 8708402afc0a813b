"""What a reposter run costs when there is nothing to do: the common case, paid every few minutes by every bot.

Starts Bluesky's reference network (PDS + AppView), Redis and PostgreSQL on loopback, makes a
bot with a few posts already reposted and its session cached, then runs, side by side:
- `skybots reposter run` (a hashtag source, nothing new),
- benchmarks/sdk_cold_run.py, the same with the atproto SDK,
each as a process, RUNS times. Prints median wall time and peak RSS (the process's own, from
wait4), our import time of the run path (python -X importtime), requests and logins per run,
and the time to check 10,000 candidates against the dedup cache in Redis.

    make benchmark-reposter        # or: .venv/bin/python benchmarks/reposter_cold_run.py

Targets: <= 0.4x the SDK's wall time, <= 60 MB RSS, <= 150 ms import time, 0 logins with a
cached session, requests = pages read + reposts, dedup check of 10,000 candidates <= 50 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skybots.reposter.dedup import Dedup  # noqa: E402
from skybots.stores.redis import RedisCache  # noqa: E402
from tests.support.atproto import running_atproto_network  # noqa: E402
from tests.support.reposter import platform_keys  # noqa: E402
from tests.support.services import PostgresServer, RedisServer  # noqa: E402

RUNS = 10
BIN = Path(sys.executable).parent


# Runs argv[1:] as a child and prints its wall time and peak RSS. A launcher, because Linux keeps
# the peak RSS of a process across exec: a child spawned straight from this benchmark (hundreds
# of MB) would report this benchmark's peak, not its own.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), file=sys.stderr)
"""


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    """Wall seconds and peak RSS (MB) of one process, and its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command], env=env, capture_output=True, check=False
    )
    wall, rss, code = result.stderr.decode().split()[-3:]
    if int(code) != 0:
        raise RuntimeError(f"{command} failed: {result.stderr.decode()}")
    return float(wall), float(rss), result.stdout


def import_ms(command: list[str], env: dict[str, str]) -> float:
    """Sum of the top-level cumulative import times of one run (python -X importtime)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *command], env=env, capture_output=True, text=True
    )
    total = 0
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit() and not name.startswith(
                "  "
            ):  # top level: one space after the bar
                total += int(cumulative)
    return total / 1000


async def dedup_check_ms(redis_url: str) -> float:
    """Median time of asking the cache which of 10,000 candidates were reposted (half were)."""
    cache = RedisCache(redis_url)
    account = f"did:plc:bench{uuid.uuid4().hex[:8]}"
    dedup = Dedup(cache, None, account=account, retention_days=31, run_id="bench")
    uris = [f"at://did:plc:author{n % 97}/app.bsky.feed.post/{uuid.uuid4().hex[:13]}" for n in range(10_000)]
    await dedup.learn({uri: time.time() for uri in uris[::2]})
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        known = await dedup.known(uris)
        timings.append(time.perf_counter() - started)
        assert len(known) == 5_000
    await cache.close()
    return statistics.median(timings) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "redis").mkdir()
        redis_server, postgres = RedisServer(work / "redis"), PostgresServer()
        try:
            with running_atproto_network(
                work / "net", postgres_url=postgres.url, redis_host=redis_server.host
            ) as net:
                rows = bench(net, redis_server.url, work)
        finally:
            redis_server.stop()
            postgres.stop()
    print_table(rows)


def bench(net: Any, redis_url: str, work: Path) -> dict[str, Any]:
    bot, author, tag = net.create_account("bot"), net.create_account("author"), "bench" + uuid.uuid4().hex[:6]
    for n in range(5):
        net.post(author, f"already reposted {n}", tags=[tag])
    net.process_all()
    config = work / "bot.json"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "skybots.dev/v1alpha1",
                "kind": "BotConfig",
                "namespace": "bench",
                "name": "bench",
                "spec": {
                    "account": {
                        "handle": bot.handle,
                        "service": net.pds_url,
                        "credentialsSecretRef": {"name": "b"},
                    },
                    "sources": [{"type": "hashtag", "tag": tag}],
                },
            }
        )
    )
    env = {
        **os.environ,
        "SKYBOTS_ALLOW_PRIVATE_ADDRESSES": "true",  # the network is on loopback
        "SKYBOTS_APP_PASSWORD": net.create_app_password(bot),
        **platform_keys(),
        "SKYBOTS_REDIS_URL": redis_url,
        "SKYBOTS_TERMINATION_LOG": str(work / "termination-log"),
    }
    ours = [str(BIN / "skybots"), "reposter", "run", "--config", str(config)]
    for _ in range(2):  # log in, repost the five; then a run with nothing new
        measured(ours, env)
    net.process_all()

    session = work / "sdk-session"
    from atproto import Client  # type: ignore[import-not-found, unused-ignore]

    client = Client(base_url=f"{net.pds_url}/xrpc")
    client.login(bot.handle, bot.password)
    session.write_text(client.export_session_string())
    sdk = [sys.executable, str(ROOT / "benchmarks" / "sdk_cold_run.py"), net.pds_url, str(session), tag]

    our_runs, sdk_runs, reports = [], [], []
    for _ in range(RUNS):
        wall, rss, stdout = measured(ours, env)
        our_runs.append((wall, rss))
        reports.append(json.loads(stdout))
        sdk_runs.append(measured(sdk, env)[:2])
    return {
        "ours": our_runs,
        "sdk": sdk_runs,
        "import_ms": statistics.median(import_ms([str(BIN / "skybots"), *ours[1:]], env) for _ in range(3)),
        "sdk_import_ms": statistics.median(
            import_ms(["-c", "from atproto import Client"], env) for _ in range(3)
        ),
        "requests": statistics.median(r["apiCalls"] for r in reports),
        "pages": 1,
        "reposts": sum(r["reposted"] for r in reports),
        "logins": sum(r["logins"] for r in reports),
        "dedup_ms": asyncio.run(dedup_check_ms(redis_url)),
    }


def print_table(rows: dict[str, Any]) -> None:
    ours_wall = statistics.median(w for w, _ in rows["ours"])
    sdk_wall = statistics.median(w for w, _ in rows["sdk"])
    ours_rss = max(r for _, r in rows["ours"])
    sdk_rss = max(r for _, r in rows["sdk"])
    print(f"cold run with a cached session and nothing new, median of {RUNS} (2 cores):\n")
    print(f"{'':34} {'skybots':>10} {'atproto SDK':>12} {'ratio':>7} {'target':>10}")
    print(
        f"{'wall time (ms)':34} {ours_wall * 1000:>10.0f} {sdk_wall * 1000:>12.0f} {ours_wall / sdk_wall:>7.2f} {'<= 0.40':>10}"
    )
    print(
        f"{'peak RSS (MB)':34} {ours_rss:>10.1f} {sdk_rss:>12.1f} {ours_rss / sdk_rss:>7.2f} {'<= 60 MB':>10}"
    )
    print(
        f"{'import time, -X importtime (ms)':34} {rows['import_ms']:>10.0f} {rows['sdk_import_ms']:>12.0f} {'':>7} {'<= 150':>10}"
    )
    print(f"{'requests per run':34} {rows['requests']:>10.0f} {'':>12} {'':>7} {'= pages + reposts':>10}")
    print(f"{'  pages read + reposts':34} {rows['pages'] + rows['reposts']:>10}")
    print(f"{'logins in all runs':34} {rows['logins']:>10} {'':>12} {'':>7} {'0':>10}")
    print(
        f"{'dedup check, 10,000 candidates (ms)':34} {rows['dedup_ms']:>10.1f} {'':>12} {'':>7} {'<= 50':>10}"
    )


if __name__ == "__main__":
    main()
