"""A bot's run history with 50,000 records: GET /api/bots/{name}/runs?limit=20 and /runs/{job}.

The same API code on each of its two stores, each in a process of its own with one worker:

- sqlite: `skybots dev`, the local runtime, on its SQLite run history, under load: a second
  process offers RATE requests a second for SECONDS, cycling through a page of 20 runs, one run
  by its Job (Jobs spread over the whole history) and a Job that does not exist (404), and
  reports p50, p99 and errors;
- dynamodb: `skybots api` on the Kubernetes emulator and DynamoDB on moto (both served from this
  process), through a recording proxy before moto (tests/support/aws.py's StoreEdge) that counts
  the items and bytes each request read from the store and times the store's answers. moto's
  Query walks and sorts every item of its table in Python (seconds with 100,000 items; a load of
  2 requests a second already times out): the stand-in's cost, not DynamoDB's, whose Query reads
  only the items it returns. So here each request goes alone, and the table shows the API's own
  time, its latency less the store's.

Every fourth run is a preview whose report is as large as a run's report may be (its dry-run
cards filling the 4096 bytes of a termination message); the others are ordinary runs.

    .venv/bin/python benchmarks/run_history.py [rate] [seconds] [records]   # default: 100 20 50000

Target: p99 <= 20 ms at 100 requests/s, and under 100 KB read from the store per request.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from skybots.stores.runs import RunRecord
    from tests.support.aws import StoreEdge

NAMESPACE = "skybots"
PAGE = 20
ALONE = 60  # requests sent one by one to the API on moto
BOT: dict[str, Any] = {
    "name": "bench",
    "appPassword": "bench-pass",
    "spec": {
        "account": {"handle": "bench.bsky.social"},
        "sources": [{"type": "hashtag", "tag": "python"}],
        "suspend": True,  # no scheduled runs in the local runtime
    },
}


def records(resource: str, count: int) -> list[RunRecord]:
    """`count` runs of the Bot, a minute apart, newest first; every fourth a preview of the largest size."""
    from skybots.runs import TERMINATION_MESSAGE_LIMIT, PostCard
    from skybots.stores.runs import RunRecord

    now = datetime.now(UTC)
    made = []
    for n in range(count):
        started = now - timedelta(minutes=n)
        record = RunRecord.model_validate(
            {
                "namespace": NAMESPACE,
                "bot": resource,
                "job": f"bot-{resource}-{n}",
                "outcome": "succeeded",
                "dryRun": n % 4 == 0,
                "startedAt": started,
                "finishedAt": started + timedelta(seconds=4),
                "candidates": 40,
                "reposted": 3,
                "duplicates": 5,
                "rejected": {"language": 12, "reply": 9, "minLikes": 11},
                "apiCalls": 6,
            }
        )
        if record.dry_run:  # the largest report: its cards of what it would repost fill the message
            card = PostCard.of(
                f"at://did:plc:{'x' * 24}/app.bsky.feed.post/{'y' * 13}",
                handle="someone.bsky.social",
                name="Some One",
                text="z" * 300,
                created_at=started,
            )
            size = len(record.model_dump_json(by_alias=True))
            fill = [card] * (
                (TERMINATION_MESSAGE_LIMIT - size) // (len(card.model_dump_json(by_alias=True)) + 1)
            )
            record = record.model_copy(update={"would_repost": fill})
        made.append(record)
    return made


def sample(runs: list[RunRecord], count: int) -> list[RunRecord]:
    """`count` runs spread evenly over the history."""
    return [runs[n * len(runs) // count] for n in range(count)]


def load_paths(runs: list[RunRecord]) -> list[tuple[str, str]]:
    """A page, one run by its Job, a page, a missing Job, ...: the requests the load cycles through."""
    paths: list[tuple[str, str]] = []
    for n, run in enumerate(sample(runs, 200)):
        paths.append(("page", f"/api/bots/bench/runs?limit={PAGE}"))
        paths.append(
            ("job", f"/api/bots/bench/runs/{run.job}") if n % 2 else ("missing", "/api/bots/bench/runs/nope")
        )
    return paths


EXPECTED = {"page": 200, "job": 200, "missing": 404}


# --- DynamoDB on moto, through the edge -----------------------------------------------------------


async def on_dynamodb(count: int) -> dict[str, list[tuple[float, float, int, int]]]:
    from benchmarks.load import api, cloud, signed_in
    from skybots.api.bots import resource_name
    from skybots.stores import dynamo
    from skybots.stores.runs import DynamoRunHistory
    from tests.support.api import SESSION_SECRET
    from tests.support.aws import REGION, store_edge

    async with cloud() as (aws, kubernetes), store_edge(aws) as edge, api(kubernetes, edge.url) as url:
        user, cookies, headers = await signed_in(aws, SESSION_SECRET, "sub-bench")
        await make_bot(url, cookies, headers)
        runs = records(resource_name(user, "bench"), count)
        history = DynamoRunHistory("skybots-runs", region=REGION, endpoint_url=aws)
        client = dynamo.client(REGION, aws)
        items = [item for run in runs for item in history.items(run)]
        for start in range(0, len(items), 25):  # BatchWriteItem: 25 items a call
            batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            await asyncio.to_thread(client.batch_write_item, RequestItems={"skybots-runs": batch})
        return await one_by_one(url, cookies, load_paths(runs)[:ALONE], edge)


async def one_by_one(
    url: str, cookies: dict[str, str], paths: list[tuple[str, str]], edge: StoreEdge
) -> dict[str, list[tuple[float, float, int, int]]]:
    """Each request alone: per label, (its seconds, the store's seconds, items read, bytes read)."""
    import httpx

    reads: dict[str, list[tuple[float, float, int, int]]] = {}
    async with httpx.AsyncClient(base_url=url, cookies=cookies, timeout=60) as client:
        for label, path in paths:
            edge.calls.clear()
            started = time.perf_counter()
            response = await client.get(path)
            elapsed = time.perf_counter() - started
            assert response.status_code == EXPECTED[label], (path, response.status_code)
            store = edge.reads()
            reads.setdefault(label, []).append(
                (
                    elapsed,
                    sum(call.seconds for call in store),
                    sum(call.items for call in store),
                    sum(call.size for call in store),
                )
            )
    return reads


# --- the local runtime on SQLite --------------------------------------------------------------------


async def on_sqlite(count: int, rate: float, seconds: float) -> dict[str, Any]:
    import httpx

    from benchmarks.load import answering, offer, running
    from skybots.api.bots import resource_name
    from skybots.api.local_sign_in import ISSUER, SUBJECT
    from skybots.stores.runs import SqliteRunHistory
    from skybots.stores.users import SqliteUsers, user_id
    from tests.support.processes import free_port

    with tempfile.TemporaryDirectory(dir=scratch()) as data:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        async with running(
            ["dev", "--port", str(port), "--host", "127.0.0.1"], {"SKYBOTS_DATA_DIR": data}
        ) as pid:
            await answering(url)
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                await client.post("/auth/local")
                headers = {"X-CSRF-Token": (await client.get("/api/me")).json()["csrfToken"]}
                cookies = dict(client.cookies)
            await make_bot(url, cookies, headers)
            user = await SqliteUsers(Path(data) / "users.db").get(user_id(ISSUER, SUBJECT))
            assert user is not None
            runs = records(resource_name(user, "bench"), count)
            history = SqliteRunHistory(Path(data) / "runs.db")
            for start in range(0, len(runs), 100):
                await asyncio.gather(*(history.append(run) for run in runs[start : start + 100]))
            load_average = os.getloadavg()
            outcome = await offer(
                url, cookies, load_paths(runs), rate=rate, seconds=seconds, warm_up=3, expect=EXPECTED
            )
            outcome["peak_mb"], outcome["load_average"] = peak_mb(pid), load_average
    return outcome


# --- plumbing ---------------------------------------------------------------------------------------


def scratch() -> str | None:
    """tmpfs when there is one: the appends commit one by one, and on a disk each waits for fsync."""
    return "/dev/shm" if Path("/dev/shm").is_dir() else None


async def make_bot(
    url: str, cookies: dict[str, str], headers: dict[str, str], bot: dict[str, Any] = BOT
) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, cookies=cookies, headers=headers, timeout=30) as client:
        (await client.post("/api/bots", json=bot)).raise_for_status()


def peak_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def report(
    sqlite: dict[str, Any], alone: dict[str, list[tuple[float, float, int, int]]], rate: float, count: int
) -> None:
    from benchmarks.load import percentiles

    load = ", ".join(f"{figure:.1f}" for figure in sqlite["load_average"])
    print(f"{count} runs of one bot; one API worker; this machine's load average {load} (before)\n")
    print(f"sqlite (skybots dev), {rate:.0f} requests/s offered for {sqlite['elapsed']:.0f} s:\n")
    print(f"{'request':8} {'requests':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6}")
    for label, latencies in sqlite["results"].items():
        p50, p99, most = percentiles(latencies)
        print(
            f"{label:8} {len(latencies):>9} {p50:>7.1f} {p99:>7.1f} {most:>7.1f} {sqlite['errors'][label]:>6}"
        )
    print(f"peak memory of the API process: {sqlite['peak_mb']:.0f} MB\n")
    print(
        "dynamodb (skybots api on moto), each request alone; what it read, counted at the edge before moto:\n"
    )
    print(
        f"{'request':8} {'requests':>9} {'items/req':>9} {'KB/req':>7} {'max KB':>7} {'store p50':>9}"
        f" {'API own p50':>11} {'API own p99':>11}"
    )
    for label, reads in alone.items():
        elapsed, store, items, sizes = (list(column) for column in zip(*reads, strict=True))
        own_p50, own_p99, _ = percentiles(
            [total - waited for total, waited in zip(elapsed, store, strict=True)]
        )
        print(
            f"{label:8} {len(reads):>9} {statistics.fmean(items):>9.1f} {statistics.fmean(sizes) / 1024:>7.1f}"
            f" {max(sizes) / 1024:>7.1f} {statistics.median(store) * 1000:>9.1f} {own_p50:>11.1f} {own_p99:>11.1f}"
        )
    print(
        "\n(ms unless said; target: p99 <= 20 ms at 100 requests/s, < 100 KB read from the store per request)"
    )


async def bench(rate: float, seconds: float, count: int) -> None:
    sqlite = await on_sqlite(count, rate, seconds)
    alone = await on_dynamodb(count)
    report(sqlite, alone, rate, count)


if __name__ == "__main__":
    given = [float(a) for a in sys.argv[1:4]]
    rate, seconds, count = given + [100.0, 20.0, 50000.0][len(given) :]
    asyncio.run(bench(rate, seconds, int(count)))
