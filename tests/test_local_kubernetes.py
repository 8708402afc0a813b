"""LocalKubernetes answers as a real API server does for what the platform asks of it.

What it shares with the emulator is checked on both by tests/test_kubernetes_contract.py; here is
what only it does (its refusals, its watch log) and the one thing a file adds: everything survives
a restart.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from skybots.api.app import create_app
from skybots.stores.kubernetes import (
    BOT,
    CONFIG_MAP,
    CRON_JOB,
    JOB,
    SECRET,
    Conflict,
    KubernetesApi,
    KubernetesError,
    NotFound,
    follow,
)
from skybots.stores.local_kubernetes import LocalKubernetes
from tests.support.api import Api, api_settings, services_for
from tests.support.kube_objects import events, rv
from tests.support.operator import eventually

NS = "skybots"


@pytest.fixture
async def kube(tmp_path: Path) -> AsyncIterator[LocalKubernetes]:
    store = LocalKubernetes(tmp_path / "cluster.db")
    yield store
    await store.close()


def a_bot(name: str = "news", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "skybots-api"}},
        "spec": {"account": {"handle": "news.bsky.social"}, "schedule": "*/5 * * * *", **spec},
    }


def owned_by(owner: dict[str, Any], name: str, **body: Any) -> dict[str, Any]:
    meta = owner["metadata"]
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"]}
    return {"metadata": {"name": name, "ownerReferences": [ref]}, **body}


def test_it_is_what_the_api_asks_of_an_api_server(tmp_path: Path) -> None:
    kube: KubernetesApi = LocalKubernetes(tmp_path / "cluster.db")  # mypy checks the Protocol
    assert kube is not None


# Server-owned metadata.


@pytest.mark.parametrize("name", ["", "Not-A-Name", "x" * 254])
async def test_a_missing_or_bad_name_is_invalid(kube: LocalKubernetes, name: str) -> None:
    with pytest.raises(KubernetesError) as refused:
        await kube.create(CONFIG_MAP, NS, {"metadata": {"name": name}})
    assert (refused.value.status, refused.value.reason) == (422, "Invalid")
    assert await kube.list(CONFIG_MAP, NS) == []


async def test_create_of_an_existing_name_is_a_conflict(kube: LocalKubernetes) -> None:
    await kube.create(BOT, NS, a_bot())
    with pytest.raises(Conflict) as taken:
        await kube.create(BOT, NS, a_bot(schedule="@daily"))
    assert (taken.value.status, taken.value.reason) == (409, "AlreadyExists")
    assert taken.value.message == 'bots.skybots.dev "news" already exists'
    assert (await kube.get(BOT, NS, "news"))["spec"]["schedule"] == "*/5 * * * *"


async def test_a_missing_object_is_not_found(kube: LocalKubernetes) -> None:
    for call in (
        kube.get(BOT, NS, "nope"),
        kube.patch(BOT, NS, "nope", {"spec": {}}),
        kube.delete(BOT, NS, "nope"),
    ):
        with pytest.raises(NotFound) as missing:
            await call
        assert missing.value.status == 404
    await kube.create(BOT, "elsewhere", a_bot())
    with pytest.raises(NotFound):  # namespaces keep apart
        await kube.get(BOT, NS, "news")


# Writes.


async def test_the_status_subresource(kube: LocalKubernetes) -> None:
    await kube.create(BOT, NS, a_bot())
    status = {"status": {"totals": {"runs": 1}}}
    reported = await kube.patch(BOT, NS, "news", {**status, "spec": {"schedule": "@daily"}}, "status")
    assert reported["status"] == {"totals": {"runs": 1}}
    assert reported["spec"]["schedule"] == "*/5 * * * *"  # a status write changes only status
    main = await kube.patch(BOT, NS, "news", {"status": {"totals": {"runs": 9}}, "spec": {"suspend": True}})
    assert main["status"] == {"totals": {"runs": 1}}  # a main-resource write cannot change status
    assert main["spec"]["suspend"] is True
    with pytest.raises(NotFound):  # a ConfigMap has no status subresource
        await kube.patch(CONFIG_MAP, NS, "news", status, "status")


async def test_a_stale_resource_version_in_a_patch_conflicts(kube: LocalKubernetes) -> None:
    created = await kube.create(BOT, NS, a_bot())
    read = created["metadata"]["resourceVersion"]
    current = await kube.patch(
        BOT, NS, "news", {"metadata": {"resourceVersion": read}, "spec": {"suspend": True}}
    )
    with pytest.raises(Conflict) as stale:
        await kube.patch(BOT, NS, "news", {"metadata": {"resourceVersion": read}, "spec": {"suspend": False}})
    assert (stale.value.status, stale.value.reason) == (409, "Conflict")
    assert await kube.get(BOT, NS, "news") == current


async def test_server_metadata_cannot_be_patched(kube: LocalKubernetes) -> None:
    created = await kube.create(BOT, NS, a_bot())
    meta = {"uid": "mine", "generation": 9, "creationTimestamp": "2000-01-01T00:00:00Z", "name": "other"}
    patched = await kube.patch(BOT, NS, "news", {"metadata": meta})
    assert patched == created


async def test_a_secrets_string_data_is_stored_as_data(kube: LocalKubernetes) -> None:
    body = {"metadata": {"name": "news-credentials"}, "type": "Opaque", "stringData": {"app-password": "one"}}
    created = await kube.create(SECRET, NS, body)
    assert "stringData" not in created
    assert base64.b64decode(created["data"]["app-password"]) == b"one"
    changed = await kube.patch(SECRET, NS, "news-credentials", {"stringData": {"app-password": "two"}})
    assert changed["data"] == {"app-password": base64.b64encode(b"two").decode()}


async def test_finalizers_are_refused_not_half_done(kube: LocalKubernetes) -> None:
    with pytest.raises(KubernetesError) as refused:
        await kube.create(BOT, NS, {**a_bot(), "metadata": {"name": "news", "finalizers": ["x"]}})
    assert refused.value.status == 422


# Selectors.


async def test_a_selector_it_cannot_serve_is_a_bad_request(kube: LocalKubernetes) -> None:
    with pytest.raises(KubernetesError) as refused:
        await kube.list(CONFIG_MAP, NS, "env in (a,b)")
    assert refused.value.status == 400


# Watches.


async def test_closing_ends_the_watches(tmp_path: Path) -> None:
    kube = LocalKubernetes(tmp_path / "cluster.db")
    watch = asyncio.create_task(events(kube, BOT, NS, 1, since="0"))
    await asyncio.sleep(0.05)
    await kube.close()
    assert await watch == []


async def test_a_version_older_than_the_kept_history_is_410_expired(tmp_path: Path) -> None:
    kube = LocalKubernetes(tmp_path / "cluster.db", history=2)
    first = await kube.create(BOT, NS, a_bot())
    for schedule in ("@daily", "@hourly", "@weekly"):
        await kube.patch(BOT, NS, "news", {"spec": {"schedule": schedule}})
    with pytest.raises(KubernetesError) as expired:
        await events(kube, BOT, NS, 1, since=str(rv(first)))
    assert (expired.value.status, expired.value.reason) == (410, "Expired")
    _, version = await kube.snapshot(BOT, NS)  # what a client does then: list, and watch from there
    await kube.patch(BOT, NS, "news", {"spec": {"schedule": "@monthly"}})
    assert await events(kube, BOT, NS, 1, since=version) == [("MODIFIED", "news")]
    await kube.close()


# Deletion.


async def test_deleting_an_owner_deletes_its_dependents_and_theirs(kube: LocalKubernetes) -> None:
    bot = await kube.create(BOT, NS, a_bot())
    secret = await kube.create(SECRET, NS, owned_by(bot, "news-credentials", stringData={"k": "v"}))
    cron = await kube.create(CRON_JOB, NS, owned_by(bot, "bot-news", spec={"schedule": "@daily"}))
    await kube.create(CONFIG_MAP, NS, owned_by(bot, "bot-news", data={"bot.json": "{}"}))
    await kube.create(JOB, NS, owned_by(cron, "bot-news-manual", spec={}))
    await kube.create(CONFIG_MAP, NS, {"metadata": {"name": "bystander"}})
    await kube.delete(BOT, NS, "news")
    for kind in (BOT, SECRET, CRON_JOB, JOB):
        assert await kube.list(kind, NS) == []
    assert [c["metadata"]["name"] for c in await kube.list(CONFIG_MAP, NS)] == ["bystander"]
    gone = await events(kube, SECRET, NS, 1, since=str(rv(secret)))
    assert gone == [("DELETED", "news-credentials")]


async def test_a_dependent_stays_while_another_owner_lives(kube: LocalKubernetes) -> None:
    first = await kube.create(CONFIG_MAP, NS, {"metadata": {"name": "first"}})
    second = await kube.create(CONFIG_MAP, NS, {"metadata": {"name": "second"}})
    shared = owned_by(first, "shared")
    shared["metadata"]["ownerReferences"] += owned_by(second, "shared")["metadata"]["ownerReferences"]
    await kube.create(SECRET, NS, shared)
    await kube.delete(CONFIG_MAP, NS, "first")
    assert [s["metadata"]["name"] for s in await kube.list(SECRET, NS)] == ["shared"]
    await kube.delete(CONFIG_MAP, NS, "second")
    assert await kube.list(SECRET, NS) == []


# A restart.


async def test_everything_survives_a_restart_and_watches_resume(tmp_path: Path) -> None:
    path = tmp_path / "cluster.db"
    before = LocalKubernetes(path)
    bot = await before.create(BOT, NS, a_bot())
    await before.patch(BOT, NS, "news", {"status": {"totals": {"runs": 3}}}, subresource="status")
    _, version = await before.snapshot(BOT, NS)
    await before.create(BOT, NS, a_bot("second"))
    await before.delete(BOT, NS, "second")
    await before.close()

    after = LocalKubernetes(path)
    [kept] = await after.list(BOT, NS)
    assert kept["metadata"]["uid"] == bot["metadata"]["uid"]
    assert kept["status"] == {"totals": {"runs": 3}}
    # The changes made before the restart are there to resume from.
    assert await events(after, BOT, NS, 2, since=version) == [("ADDED", "second"), ("DELETED", "second")]
    # The counter goes on from where it was, even past objects deleted since.
    again = await after.create(BOT, NS, a_bot("second"))
    assert rv(again) == int(version) + 3
    await after.close()


async def test_the_api_on_it_keeps_its_bots_across_a_restart(aws: str, tmp_path: Path) -> None:
    """What `make demo` relies on: the API, started again on the same file, serves the bots made before."""
    settings = api_settings(NS, aws)
    seen = []
    for attempt in range(2):
        kube = LocalKubernetes(tmp_path / "cluster.db")
        services = await services_for(settings, kube)
        app = create_app(settings, services)
        async with app.router.lifespan_context(app):
            alice = await Api(app, settings, services, kube).sign_in("alice")
            if attempt == 0:
                body = {
                    "name": "news",
                    "appPassword": "app-pass-0001",
                    "spec": a_bot(sources=[{"type": "mentions"}])["spec"],
                }
                assert (await alice.post("/api/bots", json=body)).status_code == 201
                assert (await alice.post("/api/bots/news/pause")).status_code == 200
            seen.append((await alice.get("/api/bots")).json())
            await alice.http.aclose()
        await kube.close()
    assert seen[1] == seen[0]
    assert [(bot["name"], bot["spec"]["suspend"]) for bot in seen[1]] == [("news", True)]


async def test_follow_keeps_up_past_the_watch_timeout_and_an_expired_version(tmp_path: Path) -> None:
    """An informer outlives every watch: one that times out resumes, one refused as too old lists again."""
    kube = LocalKubernetes(tmp_path / "cluster.db", history=2)
    await kube.create(BOT, NS, a_bot("first"))
    listings: list[list[str]] = []
    seen: list[tuple[str, str]] = []

    async def listed(objects: list[dict[str, Any]]) -> None:
        listings.append(sorted(o["metadata"]["name"] for o in objects))

    async def changed(event: str, obj: dict[str, Any]) -> None:
        seen.append((event, obj["metadata"]["name"]))

    task = asyncio.create_task(follow(kube, BOT, NS, listed=listed, changed=changed, timeout_seconds=1))
    try:
        await asyncio.sleep(1.5)  # the first watch has timed out by now
        await kube.create(BOT, NS, a_bot("second"))
        await eventually(lambda: _holds(("ADDED", "second") in seen), seconds=3, what="the new Bot seen")
        assert listings == [["first"]]  # resumed, not listed again

        # Changes the watcher misses pile up past the kept log: its version expires (410), it lists again.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        version = (await kube.snapshot(BOT, NS))[1]
        for name in ("third", "fourth", "fifth"):
            await kube.create(BOT, NS, a_bot(name))
        task = asyncio.create_task(
            follow(kube, BOT, NS, listed=listed, changed=changed, resource_version=version, timeout_seconds=1)
        )
        await eventually(lambda: _holds(len(listings) == 2), seconds=3, what="a second listing")
        assert listings[-1] == ["fifth", "first", "fourth", "second", "third"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await kube.close()


async def _holds(condition: bool) -> bool:
    return condition
