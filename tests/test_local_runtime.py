"""`skybots dev`, the local runtime, as a process against Bluesky's reference network: a bot made
at start-up reposts real posts, its runs show in the API, a restart keeps everything and reposts
nothing twice, and stopping it leaves no process and no port behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from skybots.local.cronjobs import CronJobSchedule
from skybots.local.runtime import build, running
from skybots.operator.rendering import render_job_from
from skybots.settings import LocalSettings
from skybots.stores.kubernetes import BOT, CRON_JOB, JOB, SECRET
from tests.support.atproto import AtprotoNetwork
from tests.support.local_dev import live_hashtag_bot, posts, skybots_dev
from tests.support.mailjet import MailjetRecorder
from tests.support.manifests import ROOT
from tests.support.operator import eventually
from tests.support.processes import free_port, port_is_free
from tests.support.reposter import reposted_by
from tests.support.services import readable_tokens
from tests.support.xrpc_proxy import xrpc_proxy


async def test_a_local_bot_reposts_survives_a_restart_and_reposts_nothing_twice(
    atproto_network: AtprotoNetwork, tmp_path: Path
) -> None:
    network = atproto_network
    tag = "demo" + uuid.uuid4().hex[:8]
    author = network.create_account("poster")
    bot = network.create_account("localbot")
    password = network.create_app_password(bot)
    uris = posts(network, author, tag, 3)
    args = live_hashtag_bot(network, bot, tag)

    async with skybots_dev(tmp_path / "state", *args, password=password) as dev:
        view = (await dev.client.get("/api/bots/my-bot")).json()
        assert view["spec"]["dryRun"] is False
        last = await dev.finished("my-bot", await dev.run_now("my-bot"))
        assert (last["outcome"], last["reposted"]) == ("succeeded", 3)
        assert all(reposted_by(network, bot, uris).values()), "the reposts are on the AppView"
        stats = (await dev.client.get("/api/bots/my-bot/stats", params={"range": "24h"})).json()
        assert sum(bucket["reposted"] for bucket in stats["buckets"]) == 3

    # Restarted on the same folder: the bot, its history; new posts only are reposted.
    newer = posts(network, author, tag, 1)
    async with skybots_dev(tmp_path / "state", *args, password=password) as dev:
        runs = (await dev.client.get("/api/bots/my-bot/runs")).json()
        assert len(runs) == 1
        last = await dev.finished("my-bot", await dev.run_now("my-bot"))
        assert (last["outcome"], last["reposted"], last["duplicates"]) == ("succeeded", 1, 3)
        assert reposted_by(network, bot, newer)[newer[0]]
        stats = (await dev.client.get("/api/bots/my-bot/stats", params={"range": "24h"})).json()
        assert sum(bucket["reposted"] for bucket in stats["buckets"]) == 4


async def test_on_redis_the_local_runtime_keeps_its_session_keys_and_redis_no_readable_token(
    atproto_network: AtprotoNetwork, redis_url: str, tmp_path: Path
) -> None:
    """`make demo` sets no key: the runtime makes its own, keeps them in its folder, and uses them."""
    network = atproto_network
    bot = network.create_account("localbot")
    args = ("--bot-handle", bot.handle, "--bot-service", network.pds_url)
    password = network.create_app_password(bot)
    for logins in (1, 0):  # restarted on the same folder: the same keys open the stored session
        async with skybots_dev(tmp_path / "state", *args, password=password, redis_url=redis_url) as dev:
            job = await dev.run_now("my-bot")
            assert (await dev.finished("my-bot", job))["outcome"] == "succeeded"
            run = (await dev.client.get(f"/api/bots/my-bot/runs/{job}")).json()
            assert run["logins"] == logins
    assert readable_tokens(redis_url) == []
    for kept in ("credential-key", "session-keys"):
        assert (tmp_path / "state" / kept).stat().st_mode & 0o777 == 0o600


async def test_a_bot_is_a_dry_run_unless_told_and_runs_on_its_schedule(
    atproto_network: AtprotoNetwork, tmp_path: Path
) -> None:
    network = atproto_network
    bot = network.create_account("drybot")
    args = ("--bot-handle", bot.handle, "--bot-service", network.pds_url, "--bot-schedule", "* * * * *")
    async with skybots_dev(tmp_path / "state", *args, password=network.create_app_password(bot)) as dev:
        view = (await dev.client.get("/api/bots/my-bot")).json()
        assert (view["spec"]["dryRun"], view["spec"]["schedule"]) == (True, "* * * * *")

        # Its schedule fires as a CronJob's would: a run within the minute, nobody asking.
        async def scheduled_run() -> dict[str, Any] | None:
            last = (await dev.client.get("/api/bots/my-bot")).json()["status"].get("lastRun")
            return last if last and last.get("dryRun") else None

        last = await eventually(scheduled_run, seconds=75, what="a scheduled run")
        assert last["outcome"] == "succeeded"


async def test_a_catastrophic_pattern_neither_gets_in_nor_stalls_the_runtime(
    atproto_network: AtprotoNetwork, tmp_path: Path
) -> None:
    """The run happens in the API's own event loop: a pattern that backtracks would freeze them both."""
    network = atproto_network
    tag = "demo" + uuid.uuid4().hex[:8]  # hex: no x
    author, bot = network.create_account("poster"), network.create_account("regexbot")
    xs = "x" * 280
    kept = network.post(author, f"#{tag} {xs}", tags=[tag], langs=["en"]).uri
    missed = network.post(author, f"#{tag} {xs}!", tags=[tag], langs=["en"]).uri
    network.process_all()
    args = live_hashtag_bot(network, bot, tag)

    async with skybots_dev(tmp_path / "state", *args, password=network.create_app_password(bot)) as dev:

        async def patch(filters: dict[str, Any]) -> httpx.Response:
            version = (await dev.client.get("/api/bots/my-bot")).json()["resourceVersion"]
            body = {"resourceVersion": version, "spec": {"filters": filters}}
            return await dev.client.patch("/api/bots/my-bot", json=body)

        refused = await patch({"includePatterns": [r"(x+)\1"]})
        assert refused.status_code == 422
        [error] = refused.json()["detail"]
        assert error["field"] == "spec.filters.includePatterns[0]"
        assert "backreferences are not supported" in error["message"]

        assert (await patch({"includePatterns": [r"(x+)+$"], "excludePatterns": [r"(x|xx)+y"]})).is_success
        # The API answers throughout the run (`finished` asks it until the run is collected); on a
        # backtracking engine the loop would be stuck in the first post for good.
        job = await dev.run_now("my-bot")
        last = await dev.finished("my-bot", job)
        assert (last["outcome"], last["reposted"]) == ("succeeded", 1)
        run = (await dev.client.get(f"/api/bots/my-bot/runs/{job}")).json()
        assert run["rejected"] == {"missing_pattern": 1}
        seen = reposted_by(network, bot, [kept, missed])
        assert seen[kept]
        assert not seen[missed]


async def test_a_preview_is_not_there_while_it_runs_then_shows_cards_that_link_to_the_local_appview(
    atproto_network: AtprotoNetwork, tmp_path: Path
) -> None:
    """What the web app does: POST preview, GET /runs/{job} (404 while the run is held at its search),
    then the cards; GET /api/config says where a card links, and that link shows the post."""
    network = atproto_network
    tag = "preview" + uuid.uuid4().hex[:8]
    author, bot = network.create_account("poster"), network.create_account("previewbot")
    network.create_record(author, "app.bsky.actor.profile", {"displayName": "Pat Poster"}, rkey="self")
    kept = network.post(author, '<img src=x onerror="alert(1)"> bold', tags=[tag], langs=["en"])
    skipped = network.post(author, f"#{tag} only in the text", langs=["en"])  # no tag facet: not_tagged
    network.process_all()
    link = f"{network.appview_url}/xrpc/app.bsky.feed.getPostThread?uri={{uri}}"
    searched, release = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        searched.set()
        await release.wait()

    async with xrpc_proxy(network.pds_url) as proxy:
        args = live_hashtag_bot(network, bot, tag, service=proxy.url)
        password = network.create_app_password(bot)
        async with skybots_dev(
            tmp_path / "state", *args, password=password, settings={"SKYBOTS_POST_LINK": link}
        ) as dev:
            assert (await dev.client.get("/api/config")).json() == {"postLink": link}
            proxy.hold("app.bsky.feed.searchPosts", held)
            started = await dev.client.post("/api/bots/my-bot/preview")
            assert started.status_code == 202, started.text
            job = started.json()["job"]
            await asyncio.wait_for(searched.wait(), 60)
            assert (await dev.client.get(f"/api/bots/my-bot/runs/{job}")).status_code == 404  # not yet
            release.set()

            async def collected() -> dict[str, Any] | None:
                answer = await dev.client.get(f"/api/bots/my-bot/runs/{job}")
                return answer.json() if answer.status_code == 200 else None

            run = await eventually(collected, seconds=60, what="the preview collected")
            cards = {"authorHandle": author.handle, "authorName": "Pat Poster"}
            assert run["dryRun"] is True
            assert [{**c, "createdAt": None} for c in run["wouldRepost"]] == [
                {**cards, "uri": kept.uri, "excerpt": kept.value["text"], "createdAt": None}
            ]
            assert [(c["uri"], c["excerpt"], c["reason"]) for c in run["rejectedPosts"]] == [
                (skipped.uri, skipped.value["text"], "not_tagged")
            ]
    assert proxy.reposts == []
    filled = link.replace("{uri}", urllib.parse.quote(kept.uri, safe=""))  # as the web app fills it
    async with httpx.AsyncClient() as client:
        thread = (await client.get(filled)).json()["thread"]["post"]
    assert (thread["uri"], thread["record"]["text"]) == (kept.uri, kept.value["text"])


async def test_the_local_sign_in_exists_only_in_the_local_runtime(tmp_path: Path) -> None:
    from skybots.api.app import create_app
    from skybots.settings import ApiSettings

    app = create_app(ApiSettings(session_secret="x", metrics_port=0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
        assert (await client.post("/auth/local")).status_code == 404
        assert "local developer" not in (await client.get("/sign-in")).text


async def test_a_local_bot_never_runs_on_a_secret_it_does_not_control(tmp_path: Path) -> None:
    """The operator's check of a Secret's controller holds locally, and a run reads no other Secret."""
    runtime = build(LocalSettings(data_dir=str(tmp_path)), "http://127.0.0.1")
    kube, namespace = runtime.kube, "skybots"
    # The attacker's "PDS": an HTTP server that keeps whatever it is sent (the Mailjet stand-in serves).
    with MailjetRecorder() as service:
        async with running(runtime):
            secret = {
                "metadata": {"name": "skybots-api"},
                "stringData": {"app-password": "the-client-secret"},
            }
            await kube.create(SECRET, namespace, secret)
            account = {
                "handle": "me.example.com",
                "service": service.url,
                "credentialsSecretRef": secret["metadata"],
            }
            await kube.create(
                BOT,
                namespace,
                {
                    "apiVersion": "skybots.dev/v1alpha1",
                    "kind": "Bot",
                    "metadata": {"name": "news"},
                    "spec": {"account": account, "sources": [{"type": "hashtag", "tag": "python"}]},
                },
            )

            async def condition() -> dict[str, Any] | None:
                conditions = (await kube.get(BOT, namespace, "news")).get("status", {}).get("conditions", [])
                return next((c for c in conditions if c["type"] == "Ready" and c["status"] == "False"), None)

            ready = await eventually(condition, what="Ready=False")
            assert ready["reason"] == "SecretNotOwned"
            cron_job = await kube.get(CRON_JOB, namespace, "bot-news")
            job = render_job_from(cron_job, "bot-news-1", dry_run=True, run="manual", instantiate="manual")
            await kube.create(JOB, namespace, job)  # run now, as the API's would

            async def last_run() -> dict[str, Any] | None:
                last: dict[str, Any] | None = (
                    (await kube.get(BOT, namespace, "news")).get("status", {}).get("lastRun")
                )
                return last

            last = await eventually(last_run, what="the run collected")
    # The held CronJob names no Secret, so its Job's pod gets no app password, as in a cluster.
    assert last["outcome"] == "invalidConfig"
    assert last["message"] == "environment: SKYBOTS_APP_PASSWORD: not set"
    assert service.calls == []


@pytest.mark.parametrize(
    ("schedule", "zone", "after", "expected"),
    [
        ("*/15 * * * *", None, "2026-11-22T10:07:00+00:00", "2026-11-22T10:15:00+00:00"),
        ("@hourly", None, "2026-11-22T10:07:00+00:00", "2026-11-22T11:00:00+00:00"),
        ("0 9 * * MON-FRI", "Europe/Berlin", "2026-11-21T12:00:00+00:00", "2026-11-23T08:00:00+00:00"),
        ("0 0 * * 0", None, "2026-11-22T10:00:00+00:00", "2026-11-29T00:00:00+00:00"),  # 0 is Sunday
        ("0 12 1 JAN,JUL ?", None, "2026-11-22T10:00:00+00:00", "2027-01-01T12:00:00+00:00"),
    ],
)
def test_schedules_fire_when_a_cronjob_would(
    schedule: str, zone: str | None, after: str, expected: str
) -> None:
    trigger = CronJobSchedule(schedule, zone)
    fired = trigger.get_next_fire_time(None, datetime.fromisoformat(after))
    assert fired.astimezone(UTC) == datetime.fromisoformat(expected)
    assert fired - datetime.fromisoformat(after) > timedelta(0)


def test_the_demo_runs_and_ctrl_c_leaves_no_process_behind(tmp_path: Path) -> None:
    """`make demo`'s script: the network, the posters, skybots dev; then Ctrl-C, and nothing is left."""
    port = free_port()
    env = {**os.environ, "SKYBOTS_DEMO_PORT": str(port), "SKYBOTS_DEMO_STATE": str(tmp_path / "state")}
    demo = subprocess.Popen(
        [sys.executable, ROOT / "tools" / "demo.py"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    assert demo.stdout is not None
    seen: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert demo.stdout is not None
        for line in iter(demo.stdout.readline, b""):
            seen.append(line.decode(errors="replace"))
            if "Press Ctrl-C to stop everything" in seen[-1]:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(180), "".join(seen[-20:])
        started = psutil.Process(demo.pid).children(recursive=True)
        assert any("network.mjs" in " ".join(p.cmdline()) for p in started)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        demo.wait(90)
    assert demo.returncode == 0, "".join(seen[-20:])
    assert not [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert port_is_free(port)
