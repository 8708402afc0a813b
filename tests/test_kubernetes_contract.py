"""What both stand-ins for the API server answer alike, through the `KubernetesApi` the platform uses:
LocalKubernetes (what `make demo` runs on) and the emulator the tests run the operator on (over
HTTP, through the `Kubernetes` adapter). Each expectation is kube-apiserver's.

What only one of them does stays with it: tests/test_local_kubernetes.py (a restart keeps
everything, set-based selectors are refused) and tests/test_kubernetes_emulator.py (the HTTP
surface: patch types, PUT, finalizers, CRD schemas and defaults, faults, RBAC terms).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from skybots.stores.kubernetes import BOT, CONFIG_MAP, EVENT, Kubernetes, KubernetesApi
from skybots.stores.local_kubernetes import LocalKubernetes
from tests.support.kube_objects import a_bot, events, rv
from tests.support.kubernetes import ClusterEmulator

NS = "team-a"


@pytest.fixture(params=["local", "emulator"])
def emulator(request: pytest.FixtureRequest) -> ClusterEmulator | None:
    """The emulator, or None for LocalKubernetes (a sync fixture: it may ask for the async `cluster`)."""
    return None if request.param == "local" else request.getfixturevalue("cluster")


@pytest.fixture
async def kube(emulator: ClusterEmulator | None, tmp_path: Path) -> AsyncIterator[KubernetesApi]:
    """LocalKubernetes on a file, or the emulator through the adapter the operator and the API use."""
    store: KubernetesApi
    if emulator is None:
        store = LocalKubernetes(tmp_path / "cluster.db")
    else:
        store = await Kubernetes.connect(str(emulator.url), "tests")
    yield store
    await store.close()


def a_config_map(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}}}


# Server-owned metadata.


async def test_create_sets_the_server_owned_metadata(kube: KubernetesApi) -> None:
    sent = a_bot()
    chosen = {"uid": "chosen-by-client", "generation": 7, "resourceVersion": "99"}
    sent["metadata"].update(chosen, creationTimestamp="2000-01-01T00:00:00Z")
    sent["status"] = {"cronJobName": "made-up"}
    created = await kube.create(BOT, NS, sent)
    meta = created["metadata"]
    assert uuid.UUID(meta["uid"]).version == 4
    made = datetime.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - made).total_seconds()) < 5
    assert (meta["generation"], meta["namespace"]) == (1, NS)
    assert meta["resourceVersion"].isdigit()
    assert meta["resourceVersion"] != "99"
    assert (created["apiVersion"], created["kind"]) == ("skybots.dev/v1alpha1", "Bot")
    assert "status" not in created  # a subresource: a create cannot set it
    assert await kube.get(BOT, NS, "news") == created
    assert sent["metadata"]["uid"] == "chosen-by-client"  # the caller's body is left alone


async def test_resource_version_is_one_counter_bumped_by_every_write(kube: KubernetesApi) -> None:
    config = await kube.create(CONFIG_MAP, NS, {**a_config_map("one"), "data": {"k": "v"}})
    bot = await kube.create(BOT, NS, a_bot())
    patched = await kube.patch(CONFIG_MAP, NS, "one", {"data": {"k": "w"}})
    assert rv(config) < rv(bot) < rv(patched)
    items, version = await kube.snapshot(CONFIG_MAP, NS)
    assert version == patched["metadata"]["resourceVersion"]
    assert items == [patched]


async def test_generate_name_gets_a_unique_suffix(kube: KubernetesApi) -> None:
    body = {"metadata": {"generateName": "news-run-"}, "reason": "Test"}
    names = {(await kube.create(EVENT, NS, body))["metadata"]["name"] for _ in range(3)}
    assert len(names) == 3
    assert all(name.startswith("news-run-") and len(name) == len("news-run-") + 5 for name in names)


async def test_generation_counts_spec_changes_only(kube: KubernetesApi) -> None:
    created = await kube.create(BOT, NS, a_bot())
    labelled = await kube.patch(BOT, NS, "news", {"metadata": {"labels": {"team": "a"}}})
    reported = await kube.patch(BOT, NS, "news", {"status": {"observedGeneration": 1}}, subresource="status")
    rescheduled = await kube.patch(BOT, NS, "news", {"spec": {"schedule": "@hourly"}})
    generations = [obj["metadata"]["generation"] for obj in (created, labelled, reported, rescheduled)]
    assert generations == [1, 1, 1, 2]
    assert rv(created) < rv(labelled) < rv(reported) < rv(rescheduled)


async def test_a_write_that_changes_nothing_is_no_write(kube: KubernetesApi) -> None:
    created = await kube.create(BOT, NS, a_bot(schedule="*/5 * * * *"))
    same = await kube.patch(BOT, NS, "news", {"spec": {"schedule": "*/5 * * * *"}})
    assert same == created
    changed = await kube.patch(BOT, NS, "news", {"spec": {"schedule": "@daily"}})
    assert rv(changed) == rv(created) + 1
    assert await events(kube, BOT, NS, 1, since=str(rv(created))) == [("MODIFIED", "news")]


async def test_merge_patch_follows_rfc_7386(kube: KubernetesApi) -> None:
    data = {"kept": "1", "removed": "2", "replaced": "3"}
    await kube.create(CONFIG_MAP, NS, {**a_config_map("settings"), "data": data})
    patch = {"data": {"removed": None, "replaced": "three", "added": "4"}, "binaryData": {"b": "AA=="}}
    patched = await kube.patch(CONFIG_MAP, NS, "settings", patch)
    assert patched["data"] == {"kept": "1", "replaced": "three", "added": "4"}  # objects merge, null removes
    assert patched["binaryData"] == {"b": "AA=="}
    bot = await kube.create(BOT, NS, a_bot(sources=[{"type": "hashtag", "tag": "a"}, {"type": "mentions"}]))
    tags = [{"type": "hashtag", "tag": "b"}]
    patched = await kube.patch(BOT, NS, "news", {"spec": {"sources": tags}})
    assert [source.get("tag") for source in patched["spec"]["sources"]] == ["b"]  # lists are replaced whole
    assert patched["spec"]["account"] == bot["spec"]["account"]  # untouched keys stay


# Selectors.


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=bot", ["a", "b"]),
        ("app==bot,owner=alice", ["a"]),
        ("app=bot, owner!=alice", ["b"]),
        ("owner!=alice", ["b", "c", "d"]),  # includes objects without the label
        ("owner", ["a", "c"]),
        ("!owner", ["b", "d"]),
        ("", ["a", "b", "c", "d"]),
    ],
)
async def test_label_selectors(kube: KubernetesApi, selector: str, expected: list[str]) -> None:
    for name, labels in [
        ("a", {"app": "bot", "owner": "alice"}),
        ("b", {"app": "bot"}),
        ("c", {"owner": "bob"}),
        ("d", {}),
    ]:
        await kube.create(CONFIG_MAP, NS, a_config_map(name, labels))
    assert sorted(o["metadata"]["name"] for o in await kube.list(CONFIG_MAP, NS, selector)) == expected


# Watches.


async def test_a_watch_from_a_resource_version_streams_only_later_changes(kube: KubernetesApi) -> None:
    await kube.create(BOT, NS, a_bot("old"))
    _, version = await kube.snapshot(BOT, NS)
    await kube.create(CONFIG_MAP, NS, a_config_map("not-a-bot"))
    await kube.create(BOT, "elsewhere", a_bot("far"))
    await kube.create(BOT, NS, a_bot("new"))
    await kube.patch(BOT, NS, "old", {"spec": {"suspend": True}})
    await kube.delete(BOT, NS, "new")
    # Neither "old" replayed as ADDED (handlers would run twice) nor another kind or namespace.
    assert await events(kube, BOT, NS, 3, since=version) == [
        ("ADDED", "new"),
        ("MODIFIED", "old"),
        ("DELETED", "new"),
    ]


async def test_a_watch_without_a_resource_version_starts_with_the_current_objects(
    kube: KubernetesApi,
) -> None:
    """ "two" is made only once the watch told of "one": it can only come as a live event."""
    await kube.create(BOT, NS, a_bot("one"))
    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(2):
        async for event in kube.watch(BOT, NS, resource_version=""):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if len(seen) == 1:
                await kube.create(BOT, NS, a_bot("two"))
            if len(seen) == 2:
                break
    assert seen == [("ADDED", "one"), ("ADDED", "two")]


async def test_a_watch_ends_after_its_timeout(kube: KubernetesApi) -> None:
    _, version = await kube.snapshot(BOT, NS)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(3):
        assert [
            event async for event in kube.watch(BOT, NS, resource_version=version, timeout_seconds=1)
        ] == []
    assert loop.time() - started >= 1


async def test_a_watch_sees_objects_enter_and_leave_its_selector(kube: KubernetesApi) -> None:
    created = await kube.create(CONFIG_MAP, NS, a_config_map("moving", {"app": "other"}))
    for labels in ({"app": "bot"}, {"app": "bot", "touched": "yes"}, {"app": "other"}):
        await kube.patch(CONFIG_MAP, NS, "moving", {"metadata": {"labels": labels}})
    assert await events(kube, CONFIG_MAP, NS, 3, since=str(rv(created)), selector="app=bot") == [
        ("ADDED", "moving"),
        ("MODIFIED", "moving"),
        ("DELETED", "moving"),
    ]
