"""How the operator copes with many Bots: N Bots waiting, then a cold start of `skybots operator`.

The operator runs as its own process (`skybots operator`, as in a cluster) against the
project's Kubernetes emulator (tests/support/kubernetes.py) served from this process, with
DynamoDB on moto. Prints, for each N: seconds until every CronJob exists and every Bot is
Ready, the operator's peak RSS (VmHWM), and the requests it made per Bot.

    .venv/bin/python benchmarks/operator_scale.py [N ...]      # default: 100 1000

Targets (2 cores): 1,000 Bots in <= 60 s, <= 200 MB RSS, <= 6 requests per Bot.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import kmock
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.kubernetes import BOTS, CRONJOBS, SECRETS, ClusterEmulator, api_path  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

NAMESPACE = "bench"
OPERATOR_AGENT = re.compile(r"(kopf|skybots)/.*")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ready(bot: dict[str, Any]) -> bool:
    conditions = bot.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def measure(count: int, moto_url: str) -> dict[str, object]:
    async with ClusterEmulator() as cluster, kmock.Server(cluster):
        for i in range(count):
            secret = {
                "metadata": {"name": f"bot{i}"},
                "data": {"app-password": base64.b64encode(b"x").decode()},
            }
            await cluster.post(
                api_path(SECRETS, NAMESPACE), json={"apiVersion": "v1", "kind": "Secret", **secret}
            )
            bot = {
                "apiVersion": "skybots.dev/v1alpha1",
                "kind": "Bot",
                "metadata": {"name": f"bot{i}"},
                "spec": {
                    "account": {"handle": f"bot{i}.bsky.social", "credentialsSecretRef": {"name": f"bot{i}"}},
                    "sources": [{"type": "hashtag", "tag": f"tag{i}"}],
                },
            }
            await cluster.post(api_path(BOTS, NAMESPACE), json=bot)
        env = {
            **os.environ,
            "SKYBOTS_KUBERNETES_SERVER": str(cluster.url),
            "SKYBOTS_NAMESPACES": NAMESPACE,
            "SKYBOTS_METRICS_PORT": "0",
            "SKYBOTS_LIVENESS_ENDPOINT": "",
            "SKYBOTS_DYNAMODB_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
        }
        started = time.monotonic()
        operator = await asyncio.create_subprocess_exec(
            Path(sys.executable).parent / "skybots",
            *("operator", "--create-tables", "--log-format", "plain"),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        cron_jobs_at = ready_at = None
        try:
            while ready_at is None and time.monotonic() - started < 600:
                await asyncio.sleep(0.1)
                if operator.returncode is not None:
                    raise RuntimeError(f"the operator exited with {operator.returncode}")
                now = time.monotonic() - started
                if cron_jobs_at is None and sum(1 for key in cluster.objects if key[0] == CRONJOBS) >= count:
                    cron_jobs_at = now
                live = [cluster.objects[key].raw for key in cluster.objects if key[0] == BOTS]
                if cron_jobs_at is not None and sum(ready(bot) for bot in live) >= count:
                    ready_at = now
            await asyncio.sleep(1)  # what it does once converged counts too
            rss = peak_rss_mb(operator.pid)
        finally:
            operator.send_signal(signal.SIGTERM)
            await asyncio.wait_for(operator.wait(), 30)
        requests = list(cluster[kmock.headers({"User-Agent": OPERATOR_AGENT})])
        kinds = collections.Counter(
            f"{r.method.value} {r.resource.plural if r.resource else r.url.path}{'/' + r.subresource if r.subresource else ''}"
            for r in requests
            if r.action not in (kmock.action.WATCH, kmock.action.LIST)
        )
        return {
            "bots": count,
            "cronjobs_s": cron_jobs_at,
            "ready_s": ready_at,
            "rss_mb": rss,
            "requests_per_bot": len(requests) / count,
            "writes": dict(kinds.most_common()),
        }


async def main(counts: list[int]) -> None:
    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        rows = [await measure(n, f"http://127.0.0.1:{port}") for n in counts]
    finally:
        moto.stop()
    print(
        f"{'bots':>6} {'all CronJobs (s)':>17} {'all Ready (s)':>14} {'peak RSS (MB)':>14} {'requests/bot':>13}"
    )
    for row in rows:
        print(
            f"{row['bots']:>6} {row['cronjobs_s']:>17.1f} {row['ready_s']:>14.1f} "
            f"{row['rss_mb']:>14.1f} {row['requests_per_bot']:>13.2f}"
        )
    for row in rows:
        print(f"\nrequests by kind, {row['bots']} bots (watches and lists aside):")
        for kind, number in row["writes"].items():  # type: ignore[attr-defined]
            print(f"  {number:>6}  {kind}")


if __name__ == "__main__":
    asyncio.run(main([int(n) for n in sys.argv[1:]] or [100, 1000]))
