"""The local runtime's controllers over the embedded store, with the operator's own reconcile and
collect: Bots of the same name in two namespaces are two bots, each with its CronJob, its Jobs, its
run history and its status, each run on its own schedule."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from skybots.bluesky.egress import PRIVATE_ADDRESSES_ALLOWED
from skybots.local.controller import LocalController
from skybots.operator.rendering import RUN_LABEL, owner_reference, render_job_from
from skybots.settings import OperatorSettings
from skybots.stores.kubernetes import BOT, CRON_JOB, JOB, SECRET, KubernetesApi
from skybots.stores.local_kubernetes import LocalKubernetes
from skybots.stores.memory import MemoryCache
from skybots.stores.objects import FolderObjects
from skybots.stores.runs import SqliteRunHistory
from tests.support.atproto import AtprotoNetwork
from tests.support.local_dev import posts
from tests.support.operator import eventually
from tests.support.xrpc_proxy import xrpc_proxy

NAMESPACES = ("alpha", "beta")


CREDENTIAL_KEY, SESSION_KEYS = secrets.token_hex(32), Fernet.generate_key().decode()


@asynccontextmanager
async def local_controller(state: Path) -> AsyncIterator[LocalController]:
    """The local runtime's controller for two namespaces, on its embedded stores in `state`."""
    settings = OperatorSettings(
        namespaces=list(NAMESPACES), api_namespace="alpha", min_run_interval_minutes=1
    )
    kube = LocalKubernetes(state / "cluster.db")
    controller = LocalController(
        kube,
        SqliteRunHistory(state / "runs.db"),
        cache=MemoryCache(),
        objects=FolderObjects(state / "objects"),
        settings=settings,
        credential_key=CREDENTIAL_KEY,
        session_keys=SESSION_KEYS,
    )
    allowed = PRIVATE_ADDRESSES_ALLOWED.set(True)  # Bluesky's network is on loopback
    await controller.start()
    try:
        yield controller
    finally:
        await controller.stop()
        await kube.close()
        PRIVATE_ADDRESSES_ALLOWED.reset(allowed)


@pytest.fixture
async def controller(tmp_path: Path) -> AsyncIterator[LocalController]:
    async with local_controller(tmp_path) as controller:
        yield controller


async def bot_with_its_secret(
    kube: KubernetesApi, namespace: str, spec: dict[str, Any], password: str
) -> dict[str, Any]:
    """A Bot and the Secret it controls, as the API makes them."""
    ref = {"name": "news-credentials", "key": "app-password"}
    body = {
        "metadata": {"name": "news"},
        "spec": {**spec, "account": {**spec["account"], "credentialsSecretRef": ref}},
    }
    bot = await kube.create(BOT, namespace, body)
    secret = {
        "metadata": {"name": ref["name"], "ownerReferences": [owner_reference(bot)]},
        "stringData": {ref["key"]: password},
    }
    await kube.create(SECRET, namespace, secret)
    return bot


async def test_same_named_bots_in_two_namespaces_each_run_on_their_schedule(
    atproto_network: AtprotoNetwork, controller: LocalController
) -> None:
    network, kube = atproto_network, controller.kube
    author = network.create_account("poster")
    started = datetime.now(UTC) - timedelta(minutes=1)
    for count, namespace in enumerate(NAMESPACES, start=1):
        tag = f"{namespace}{uuid.uuid4().hex[:8]}"
        posts(network, author, tag, count)  # alpha's bot finds 1 post, beta's 2: each runs its own spec
        account = network.create_account(f"{namespace}bot")
        spec = {
            "account": {"handle": account.handle, "service": network.pds_url},
            "schedule": "* * * * *",
            "dryRun": True,
            "sources": [{"type": "hashtag", "tag": tag}],
        }
        await bot_with_its_secret(kube, namespace, spec, network.create_app_password(account))

    async def last_runs() -> dict[str, dict[str, Any]] | None:
        runs = {ns: (await kube.get(BOT, ns, "news")).get("status", {}).get("lastRun") for ns in NAMESPACES}
        assert all(runs.values()), f"the last runs so far: {runs}"
        return runs

    last = await eventually(last_runs, seconds=75, what="a scheduled run of both bots")
    for count, namespace in enumerate(NAMESPACES, start=1):
        assert (last[namespace]["outcome"], last[namespace]["reposted"]) == ("succeeded", count)
        [cron_job] = await kube.list(CRON_JOB, namespace)
        [job] = await kube.list(JOB, namespace)
        assert job["metadata"]["name"] == last[namespace]["job"]
        assert job["metadata"]["labels"][RUN_LABEL] == "scheduled"
        assert job["metadata"]["ownerReferences"][0]["uid"] == cron_job["metadata"]["uid"]
        records = await controller.history.query(namespace, "news", started, datetime.now(UTC))
        assert [(r.job, r.reposted) for r in records] == [(job["metadata"]["name"], count)]


async def test_an_invalid_spec_reads_as_the_operator_says_it_and_the_last_valid_one_keeps_running(
    controller: LocalController,
) -> None:
    """The local runtime's conditions are the operator's own, down to the words."""
    kube, namespace = controller.kube, NAMESPACES[1]
    spec = {
        "account": {"handle": "news.example.com", "service": "https://pds.example.com"},
        "schedule": "every minute",
        "sources": [{"type": "hashtag", "tag": "python"}],
    }
    bot = await bot_with_its_secret(kube, namespace, spec, "app-pass-0001")

    async def reconciled(generation: int) -> dict[str, Any] | None:
        status = (await kube.get(BOT, namespace, "news")).get("status", {})
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        done = status.get("observedGeneration") == generation and "Reconciled" in conditions
        return conditions["Reconciled"] if done else None

    held = await eventually(lambda: reconciled(1), what="the invalid spec reconciled")
    assert (held["status"], held["reason"]) == ("False", "InvalidSpec")
    assert held["message"].startswith(
        "The spec is invalid, and none is known to run instead: runs are held: spec.schedule: "
    )
    assert await kube.list(CRON_JOB, namespace) == []

    for generation, schedule in ((2, "*/5 * * * *"), (3, "every minute")):
        version = (await kube.get(BOT, namespace, "news"))["metadata"]["resourceVersion"]
        patch = {"metadata": {"resourceVersion": version}, "spec": {"schedule": schedule}}
        await kube.patch(BOT, namespace, bot["metadata"]["name"], patch)
        condition = await eventually(partial(reconciled, generation), what=f"generation {generation}")
    assert condition["message"].startswith("The spec is invalid, the last valid one keeps running: ")
    [cron_job] = await kube.list(CRON_JOB, namespace)
    assert (cron_job["spec"]["schedule"], cron_job["spec"]["suspend"]) == ("*/5 * * * *", False)


async def test_a_run_the_runtime_stopped_during_is_failed_when_it_starts_again_not_run_twice(
    atproto_network: AtprotoNetwork, tmp_path: Path
) -> None:
    """As after a lost node: the Job's pod ran, so the Job failed (backoffLimit 0); no second pod."""
    network = atproto_network
    account = network.create_account("heldbot")
    login, release = "com.atproto.server.createSession", asyncio.Event()
    async with xrpc_proxy(network.pds_url) as pds:
        pds.hold(login, release.wait)  # the run, parked at its login
        spec = {
            "account": {"handle": account.handle, "service": pds.url},
            "schedule": "0 0 1 1 *",
            "sources": [{"type": "hashtag", "tag": "held" + uuid.uuid4().hex[:8]}],
        }
        async with local_controller(tmp_path) as controller:
            kube, namespace = controller.kube, NAMESPACES[0]
            await bot_with_its_secret(kube, namespace, spec, network.create_app_password(account))
            cron_jobs = await eventually(lambda: kube.list(CRON_JOB, namespace), what="the CronJob")
            cron_job = cron_jobs[0]
            job = render_job_from(cron_job, "bot-news-now", dry_run=True, run="manual", instantiate="manual")
            await kube.create(JOB, namespace, job)  # run now, as the API's would

            async def parked() -> bool:
                return pds.count(login) == 1

            await eventually(parked, seconds=30, what="the run at its login")
        release.set()

        async with local_controller(tmp_path) as controller:

            async def last_run() -> dict[str, Any] | None:
                status = (await controller.kube.get(BOT, namespace, "news")).get("status", {})
                last: dict[str, Any] | None = status.get("lastRun")
                return last

            last = await eventually(last_run, seconds=30, what="the run collected")
        assert (last["job"], last["outcome"]) == ("bot-news-now", "failed")
        assert (
            last["message"]
            == "the reposter did not run to the end: the local runtime stopped while its pod ran"
        )
        assert pds.count(login) == 1


async def test_finished_jobs_beyond_the_history_limit_go_once_collected_and_their_runs_stay(
    atproto_network: AtprotoNetwork, controller: LocalController
) -> None:
    network, kube, namespace = atproto_network, controller.kube, NAMESPACES[0]
    account = network.create_account("historybot")
    spec = {
        "account": {"handle": account.handle, "service": network.pds_url},
        "schedule": "0 0 1 1 *",
        "dryRun": True,
        "sources": [{"type": "hashtag", "tag": "history" + uuid.uuid4().hex[:8]}],
    }
    await bot_with_its_secret(kube, namespace, spec, network.create_app_password(account))
    [cron_job] = await eventually(lambda: kube.list(CRON_JOB, namespace), what="the CronJob")
    limit = cron_job["spec"]["successfulJobsHistoryLimit"]
    names = [f"bot-news-{n}" for n in range(limit + 2)]
    for name in names:  # run now, one after the other, as the API's would
        job = render_job_from(cron_job, name, dry_run=True, run="manual", instantiate="manual")
        await kube.create(JOB, namespace, job)

        async def collected(name: str = name) -> bool:
            last = (await kube.get(BOT, namespace, "news")).get("status", {}).get("lastRun") or {}
            return bool(last.get("job") == name)

        await eventually(collected, seconds=30, what=f"{name} collected")

    async def kept() -> list[str]:
        jobs = sorted(job["metadata"]["name"] for job in await kube.list(JOB, namespace))
        assert jobs == names[-limit:]
        return jobs

    await eventually(kept, what="the oldest Jobs pruned")
    records = await controller.history.query(
        namespace, "news", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
    )
    assert sorted(record.job for record in records) == names
