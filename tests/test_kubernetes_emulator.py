"""The emulator answers as a real API server does, checked through plain HTTP (and once through Kopf).

Each expectation here is what kube-apiserver does; kmock's own emulator fails most of them,
which is why ours exists.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import kmock
import kopf
import pytest

from tests.support.kopf_runner import quick_settings, running_operator
from tests.support.kube_objects import a_bot, rv
from tests.support.kubernetes import (
    BOTS,
    CONFIGMAPS,
    CRONJOBS,
    JOBS,
    JSON_PATCH,
    MERGE_PATCH,
    PODS,
    STRATEGIC_MERGE_PATCH,
    ClusterEmulator,
    CustomResource,
    RbacTerm,
    api_path,
    conflict,
    internal_error,
    rbac_terms,
    upcoming,
)

NS = "team-a"


def a_configmap(
    name: str, labels: dict[str, str] | None = None, owner: dict[str, Any] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if owner is not None:
        meta["ownerReferences"] = [owned_by(owner)]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def owned_by(owner: dict[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
    }


async def call(
    cluster: ClusterEmulator,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = MERGE_PATCH,
    **params: str,
) -> tuple[int, dict[str, Any]]:
    """One request; the status code and the decoded JSON body (an object, or a Status)."""
    headers = {"Content-Type": content_type if method == "PATCH" else "application/json"}
    data = None if body is None else json.dumps(body)
    async with cluster.request(method, path, data=data, headers=headers, params=params) as response:
        return response.status, await response.json()


async def create(cluster: ClusterEmulator, resource: kmock.resource, body: dict[str, Any]) -> dict[str, Any]:
    status, created = await call(cluster, "POST", api_path(resource, NS), body)
    assert status == 200, created
    return created


async def exists(cluster: ClusterEmulator, resource: kmock.resource, name: str) -> bool:
    status, _ = await call(cluster, "GET", api_path(resource, NS, name))
    return status == 200


async def watch(cluster: ClusterEmulator, path: str, count: int, **params: str) -> list[tuple[str, str]]:
    """The first `count` events of a watch as (type, name); fails if they do not come within 2 s."""
    events: list[tuple[str, str]] = []
    async with cluster.get(path, params={"watch": "true", **params}) as response:
        assert response.status == 200
        while len(events) < count:
            line = await asyncio.wait_for(response.content.readline(), timeout=2)
            event = json.loads(line)
            events.append((event["type"], event["object"]["metadata"]["name"]))
    return events


# Server-owned metadata.


async def test_a_list_is_a_kind_list_at_the_latest_resource_version(cluster):
    await create(cluster, CONFIGMAPS, a_configmap("one"))
    _, patched = await call(cluster, "PATCH", api_path(CONFIGMAPS, NS, "one"), {"data": {"k": "w"}})
    _, listed = await call(cluster, "GET", api_path(CONFIGMAPS))
    assert (listed["kind"], listed["apiVersion"]) == ("ConfigMapList", "v1")
    assert listed["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]


async def test_create_without_a_name_is_invalid(cluster):
    status, body = await call(cluster, "POST", api_path(CONFIGMAPS, NS), {"metadata": {}})
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"


async def test_create_of_an_existing_name_says_already_exists(cluster):
    await create(cluster, BOTS, a_bot())
    status, body = await call(cluster, "POST", api_path(BOTS, NS), a_bot())
    assert (status, body) == (
        409,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": 'bots.skybots.dev "news" already exists',
            "reason": "AlreadyExists",
            "details": {"name": "news", "group": "skybots.dev", "kind": "bots"},
            "code": 409,
        },
    )


# The status subresource.


async def test_status_in_a_create_body_is_dropped(cluster):
    bot = a_bot()
    bot["status"] = {"cronJobName": "made-up"}
    job = {"metadata": {"name": "run-1"}, "spec": {"template": {}}, "status": {"succeeded": 1}}
    assert "status" not in await create(cluster, BOTS, bot)
    assert "status" not in await create(cluster, JOBS, job)


async def test_a_main_resource_write_ignores_status(cluster):
    await create(cluster, BOTS, a_bot())
    status, patched = await call(
        cluster,
        "PATCH",
        api_path(BOTS, NS, "news"),
        {"spec": {"suspend": True}, "status": {"cronJobName": "x"}},
    )
    assert status == 200
    assert patched["spec"]["suspend"] is True
    assert "status" not in patched


async def test_a_status_write_changes_only_status(cluster):
    created = await create(cluster, BOTS, a_bot())
    change = {
        "metadata": {"labels": {"x": "y"}},
        "spec": {"suspend": True},
        "status": {"cronJobName": "bot-news"},
    }
    status, patched = await call(cluster, "PATCH", api_path(BOTS, NS, "news", "status"), change)
    assert status == 200
    assert patched["status"] == {"cronJobName": "bot-news"}
    assert patched["spec"] == created["spec"]
    assert patched["metadata"].get("labels") is None


async def test_kinds_without_a_status_subresource_have_no_status_path(cluster):
    await create(cluster, CONFIGMAPS, a_configmap("plain"))
    status, body = await call(cluster, "PATCH", api_path(CONFIGMAPS, NS, "plain", "status"), {"status": {}})
    assert (status, body["reason"]) == (404, "NotFound")


async def test_without_a_status_subresource_status_is_ordinary_data(cluster):
    crd = {
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        }
    }
    [widgets] = CustomResource.served_by(crd)
    cluster.declare(widgets)
    created = await create(cluster, widgets.resource, {"metadata": {"name": "w"}, "status": {"phase": "new"}})
    _, patched = await call(
        cluster, "PATCH", api_path(widgets.resource, NS, "w"), {"status": {"phase": "old"}}
    )
    status, _ = await call(cluster, "PATCH", api_path(widgets.resource, NS, "w", "status"), {"status": {}})
    assert (created["status"], patched["status"], status) == ({"phase": "new"}, {"phase": "old"}, 404)
    assert patched["metadata"]["generation"] == 2  # status is part of what generation counts here


# Patches and replacement.


async def test_a_merge_patched_bot_is_defaulted_by_the_crd_again(cluster):
    await create(cluster, BOTS, a_bot(description="to be removed"))
    change = {"spec": {"description": None, "sources": [{"type": "mentions"}], "limits": {"perRun": 5}}}
    _, patched = await call(cluster, "PATCH", api_path(BOTS, NS, "news"), change)
    spec = patched["spec"]
    assert spec["description"] == ""  # null deleted it; the CRD's default came back
    assert spec["sources"] == [{"type": "mentions", "maxPages": 3}]  # the new list is defaulted
    assert spec["limits"] == {"perRun": 5, "perHour": 30, "perDay": 200}


async def test_strategic_merge_patch_merges_built_ins_and_is_refused_for_custom_resources(cluster):
    await create(cluster, CONFIGMAPS, a_configmap("plain"))
    await create(cluster, BOTS, a_bot())
    status, patched = await call(
        cluster, "PATCH", api_path(CONFIGMAPS, NS, "plain"), {"data": {"k2": "v2"}}, STRATEGIC_MERGE_PATCH
    )
    assert (status, patched["data"]) == (200, {"k": "v", "k2": "v2"})
    status, body = await call(
        cluster, "PATCH", api_path(BOTS, NS, "news"), {"spec": {}}, STRATEGIC_MERGE_PATCH
    )
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")


async def test_json_patch_applies_rfc_6902_operations_and_tests(cluster):
    created = await create(cluster, BOTS, a_bot())
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": created["metadata"]["resourceVersion"]},
        {"op": "add", "path": "/metadata/finalizers", "value": ["skybots.dev/finalizer"]},
        {"op": "replace", "path": "/spec/schedule", "value": "@daily"},
    ]
    status, patched = await call(cluster, "PATCH", api_path(BOTS, NS, "news"), ops, JSON_PATCH)
    assert status == 200
    assert patched["metadata"]["finalizers"] == ["skybots.dev/finalizer"]
    assert patched["spec"]["schedule"] == "@daily"


async def test_a_failed_json_patch_test_is_422_as_kopf_expects(cluster):
    created = await create(cluster, BOTS, a_bot())
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
        {"op": "replace", "path": "/spec/schedule", "value": "@daily"},
    ]
    status, body = await call(cluster, "PATCH", api_path(BOTS, NS, "news"), ops, JSON_PATCH)
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["message"] == "the server rejected our request due to an error in our request"
    _, current = await call(cluster, "GET", api_path(BOTS, NS, "news"))
    assert current == created


async def test_a_malformed_json_patch_is_a_bad_request(cluster):
    await create(cluster, BOTS, a_bot())
    status, body = await call(
        cluster, "PATCH", api_path(BOTS, NS, "news"), [{"op": "frobnicate"}], JSON_PATCH
    )
    assert (status, body["reason"]) == (400, "BadRequest")


async def test_an_unknown_patch_type_is_unsupported(cluster):
    await create(cluster, CONFIGMAPS, a_configmap("plain"))
    status, body = await call(cluster, "PATCH", api_path(CONFIGMAPS, NS, "plain"), {}, "application/json")
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")


async def test_a_stale_resource_version_in_a_merge_patch_conflicts(cluster):
    created = await create(cluster, BOTS, a_bot())
    path = api_path(BOTS, NS, "news")
    _, updated = await call(cluster, "PATCH", path, {"metadata": {"labels": {"a": "1"}}})
    stale = {
        "metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
        "spec": {"suspend": True},
    }
    status, body = await call(cluster, "PATCH", path, stale)
    assert (status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on bots.skybots.dev "news": the object has been modified;'
        " please apply your changes to the latest version and try again"
    )
    fresh = {
        "metadata": {"resourceVersion": updated["metadata"]["resourceVersion"]},
        "spec": {"suspend": True},
    }
    status, _ = await call(cluster, "PATCH", path, fresh)
    assert status == 200


async def test_put_replaces_with_the_same_preconditions(cluster):
    created = await create(cluster, BOTS, a_bot())
    path = api_path(BOTS, NS, "news")
    replacement = a_bot(schedule="@daily")
    status, body = await call(cluster, "PUT", path, replacement)
    assert (status, body["details"]["causes"][0]["field"]) == (422, "metadata.resourceVersion")
    replacement["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    status, replaced = await call(cluster, "PUT", path, replacement)
    assert (status, replaced["spec"]["schedule"], replaced["metadata"]["generation"]) == (200, "@daily", 2)
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    status, body = await call(cluster, "PUT", path, replacement)  # the same version again: now stale
    assert (status, body["reason"]) == (409, "Conflict")
    status, _ = await call(cluster, "PUT", api_path(BOTS, NS, "other"), a_bot("other"))
    assert status == 404


async def test_put_of_built_in_kinds_may_be_unconditional(cluster):
    await create(cluster, CONFIGMAPS, a_configmap("plain"))
    status, replaced = await call(
        cluster, "PUT", api_path(CONFIGMAPS, NS, "plain"), a_configmap("plain") | {"data": {}}
    )
    assert (status, replaced["data"]) == (200, {})


async def test_put_to_status_replaces_only_status(cluster):
    created = await create(cluster, BOTS, a_bot())
    body = a_bot(suspend=True) | {"status": {"cronJobName": "bot-news"}}
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    status, replaced = await call(cluster, "PUT", api_path(BOTS, NS, "news", "status"), body)
    assert (status, replaced["status"], replaced["spec"]) == (
        200,
        {"cronJobName": "bot-news"},
        created["spec"],
    )


# Selectors.


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier in (web, worker)", {"web", "worker"}),
        ("tier notin (web)", {"worker", "db", "bare"}),
        ("app=bot,tier in (web,db)", {"web"}),
    ],
)
async def test_set_based_label_selectors(cluster, selector, expected):
    """Beyond the equality terms both stand-ins serve (tests/test_kubernetes_contract.py)."""
    await create(cluster, CONFIGMAPS, a_configmap("web", {"app": "bot", "tier": "web"}))
    await create(cluster, CONFIGMAPS, a_configmap("worker", {"app": "bot", "tier": "worker"}))
    await create(cluster, CONFIGMAPS, a_configmap("db", {"app": "store", "tier": "db"}))
    await create(cluster, CONFIGMAPS, a_configmap("bare"))
    _, listed = await call(cluster, "GET", api_path(CONFIGMAPS), labelSelector=selector)
    assert {item["metadata"]["name"] for item in listed["items"]} == expected


async def test_field_selectors_and_namespaces(cluster):
    await create(cluster, CONFIGMAPS, a_configmap("one"))
    await create(cluster, CONFIGMAPS, a_configmap("two"))
    await call(cluster, "POST", api_path(CONFIGMAPS, "team-b"), a_configmap("one"))
    await call(cluster, "POST", api_path(CONFIGMAPS, "team-b"), a_configmap("three"))

    async def names(path: str, selector: str) -> list[tuple[str, str]]:
        _, listed = await call(cluster, "GET", path, fieldSelector=selector)
        return [(item["metadata"]["namespace"], item["metadata"]["name"]) for item in listed["items"]]

    assert await names(api_path(CONFIGMAPS), "metadata.name=one") == [(NS, "one"), ("team-b", "one")]
    assert await names(api_path(CONFIGMAPS), "metadata.namespace==team-b") == [
        ("team-b", "one"),
        ("team-b", "three"),
    ]
    assert await names(api_path(CONFIGMAPS, NS), "metadata.name!=one") == [(NS, "two")]


@pytest.mark.parametrize(
    ("param", "selector"), [("labelSelector", "app in (a"), ("fieldSelector", "spec.schedule=@daily")]
)
async def test_selectors_the_server_cannot_serve_are_bad_requests(cluster, param, selector):
    status, body = await call(cluster, "GET", api_path(BOTS), **{param: selector})
    assert (status, body["reason"]) == (400, "BadRequest")


# Watching.


async def test_a_watch_of_one_object(cluster):
    other = await create(cluster, CONFIGMAPS, a_configmap("other"))
    await create(cluster, CONFIGMAPS, a_configmap("mine"))
    await call(cluster, "PATCH", api_path(CONFIGMAPS, NS, "other"), {"data": {"k": "w"}})
    await call(cluster, "PATCH", api_path(CONFIGMAPS, NS, "mine"), {"data": {"k": "w"}})
    since = str(rv(other))
    events = await watch(cluster, api_path(CONFIGMAPS, NS, "mine"), 2, resourceVersion=since)
    assert events == [("ADDED", "mine"), ("MODIFIED", "mine")]


# Deletion, finalizers, garbage collection.


async def test_delete_removes_an_object_without_finalizers(cluster):
    created = await create(cluster, CONFIGMAPS, a_configmap("doomed"))
    status, _ = await call(cluster, "DELETE", api_path(CONFIGMAPS, NS, "doomed"))
    assert status == 200
    assert not await exists(cluster, CONFIGMAPS, "doomed")
    assert await watch(cluster, api_path(CONFIGMAPS), 1, resourceVersion=str(rv(created))) == [
        ("DELETED", "doomed")
    ]


async def test_finalizers_hold_a_deleted_object_until_removed(cluster):
    bot = a_bot()
    bot["metadata"]["finalizers"] = ["skybots.dev/finalizer"]
    await create(cluster, BOTS, bot)
    path = api_path(BOTS, NS, "news")
    _, deleting = await call(cluster, "DELETE", path)
    assert "deletionTimestamp" in deleting["metadata"]
    assert deleting["metadata"]["generation"] == 2  # as the API server does when it marks an object
    status, body = await call(
        cluster, "PATCH", path, {"metadata": {"finalizers": ["skybots.dev/finalizer", "more"]}}
    )
    assert (status, body["details"]["causes"][0]["field"]) == (422, "metadata.finalizers")
    assert await exists(cluster, BOTS, "news")
    status, _ = await call(cluster, "PATCH", path, {"metadata": {"finalizers": []}})
    assert status == 200
    assert not await exists(cluster, BOTS, "news")


async def test_dependents_are_collected_with_their_owner(cluster):
    bot = await create(cluster, BOTS, a_bot())
    await create(cluster, CONFIGMAPS, a_configmap("bot-news", owner=bot))
    cronjob = await create(
        cluster, CRONJOBS, {"metadata": {"name": "bot-news", "ownerReferences": [owned_by(bot)]}}
    )
    job = await create(
        cluster, JOBS, {"metadata": {"name": "bot-news-1", "ownerReferences": [owned_by(cronjob)]}}
    )
    pod = {"metadata": {"name": "bot-news-1-x", "ownerReferences": [owned_by(job)], "finalizers": ["keep"]}}
    await create(cluster, PODS, pod)
    await create(cluster, CONFIGMAPS, a_configmap("unrelated"))
    await call(cluster, "DELETE", api_path(BOTS, NS, "news"))
    assert not await exists(cluster, CONFIGMAPS, "bot-news")
    assert not await exists(cluster, CRONJOBS, "bot-news")
    assert not await exists(cluster, JOBS, "bot-news-1")
    _, held = await call(cluster, "GET", api_path(PODS, NS, "bot-news-1-x"))
    assert "deletionTimestamp" in held["metadata"]  # a dependent with finalizers waits for them
    assert await exists(cluster, CONFIGMAPS, "unrelated")
    assert await watch(cluster, api_path(JOBS), 1, resourceVersion=str(rv(job))) == [
        ("DELETED", "bot-news-1")
    ]


async def test_dependents_wait_until_their_owner_is_finally_removed(cluster):
    bot = a_bot()
    bot["metadata"]["finalizers"] = ["skybots.dev/finalizer"]
    bot = await create(cluster, BOTS, bot)
    await create(cluster, CONFIGMAPS, a_configmap("bot-news", owner=bot))
    await call(cluster, "DELETE", api_path(BOTS, NS, "news"))
    assert await exists(cluster, CONFIGMAPS, "bot-news")
    await call(cluster, "PATCH", api_path(BOTS, NS, "news"), {"metadata": {"finalizers": None}})
    assert not await exists(cluster, CONFIGMAPS, "bot-news")


async def test_orphan_propagation_keeps_dependents_and_drops_their_owner_references(cluster):
    bot = await create(cluster, BOTS, a_bot())
    await create(cluster, CONFIGMAPS, a_configmap("bot-news", owner=bot))
    await call(
        cluster,
        "DELETE",
        api_path(BOTS, NS, "news"),
        {"kind": "DeleteOptions", "propagationPolicy": "Orphan"},
    )
    status, orphan = await call(cluster, "GET", api_path(CONFIGMAPS, NS, "bot-news"))
    assert status == 200
    assert "ownerReferences" not in orphan["metadata"]
    assert not await exists(cluster, BOTS, "news")


# Admission of Bots against the CRD.


async def test_a_created_bot_gets_the_crd_defaults(cluster):
    created = await create(cluster, BOTS, a_bot())
    assert created["spec"]["schedule"] == "*/15 * * * *"
    assert created["spec"]["account"]["credentialsSecretRef"]["key"] == "app-password"


async def test_an_invalid_bot_is_refused_and_not_stored(cluster):
    bot = a_bot(schedule="every now and then")
    del bot["spec"]["account"]["handle"]
    status, body = await call(cluster, "POST", api_path(BOTS, NS), bot)
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["message"].startswith(
        'Bot.skybots.dev "news" is invalid: [spec.account.handle: Required value, '
    )
    assert body["details"]["kind"] == "Bot"
    causes = {cause["field"]: cause["reason"] for cause in body["details"]["causes"]}
    assert causes == {"spec.account.handle": "FieldValueRequired", "spec.schedule": "FieldValueInvalid"}
    assert not await exists(cluster, BOTS, "news")


@pytest.mark.parametrize(
    ("subresource", "change", "field"),
    [
        (None, {"spec": {"limits": {"perRun": 50}}}, "spec.limits.perRun"),  # a CEL rule: perRun <= perHour
        ("status", {"status": {"lastRun": {"job": "j", "outcome": "meh"}}}, "status.lastRun.outcome"),
    ],
)
async def test_an_invalid_bot_patch_is_refused_and_changes_nothing(cluster, subresource, change, field):
    created = await create(cluster, BOTS, a_bot())
    status, body = await call(cluster, "PATCH", api_path(BOTS, NS, "news", subresource), change)
    assert status == 422
    assert body["message"].startswith(f'Bot.skybots.dev "news" is invalid: {field}: ')
    _, current = await call(cluster, "GET", api_path(BOTS, NS, "news"))
    assert current == created


async def test_an_invalid_bot_replacement_is_refused(cluster):
    created = await create(cluster, BOTS, a_bot())
    replacement = a_bot(sources=[])
    replacement["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    status, body = await call(cluster, "PUT", api_path(BOTS, NS, "news"), replacement)
    assert (status, body["details"]["causes"][0]["field"]) == (422, "spec.sources")


# Faults, with kmock's reactions.


async def test_upcoming_faults_hit_the_next_matching_requests_and_store_nothing(cluster):
    await create(cluster, CRONJOBS, {"metadata": {"name": "before"}})  # kmock would count this one
    upcoming(cluster["post", CRONJOBS]) << internal_error("etcdserver: request timed out")
    status, body = await call(cluster, "POST", api_path(CRONJOBS, NS), {"metadata": {"name": "bot-news"}})
    assert (status, body["reason"]) == (500, "InternalError")
    assert not await exists(cluster, CRONJOBS, "bot-news")
    status, _ = await call(cluster, "POST", api_path(CRONJOBS, NS), {"metadata": {"name": "bot-news"}})
    assert status == 200


async def test_faults_can_target_one_object_and_subresource(cluster):
    await create(cluster, BOTS, a_bot())
    await create(cluster, BOTS, a_bot("other"))
    faulty = cluster["patch", BOTS, kmock.name("news"), kmock.subresource("status")]
    upcoming(faulty, 2) << conflict(BOTS, "news")
    status_path = api_path(BOTS, NS, "news", "status")
    change = {"status": {"cronJobName": "bot-news"}}
    codes = [(await call(cluster, "PATCH", status_path, change))[0] for _ in range(3)]
    assert codes == [409, 409, 200]
    other_status = await call(cluster, "PATCH", api_path(BOTS, NS, "other", "status"), change)
    main = await call(cluster, "PATCH", api_path(BOTS, NS, "news"), {"spec": {"suspend": True}})
    assert (other_status[0], main[0]) == (200, 200)


# RBAC.


async def test_requests_translate_to_rbac_terms(cluster):
    await create(cluster, BOTS, a_bot())
    await call(cluster, "GET", "/apis/skybots.dev/v1alpha1")  # discovery: no RBAC needed
    await call(cluster, "GET", api_path(BOTS))
    await watch(cluster, api_path(BOTS), 1, resourceVersion="0")
    await call(cluster, "GET", api_path(BOTS, NS, "news"))
    _, current = await call(cluster, "PATCH", api_path(BOTS, NS, "news", "status"), {"status": {}})
    await call(cluster, "PUT", api_path(BOTS, NS, "news"), current)
    await call(cluster, "DELETE", api_path(CONFIGMAPS, NS))
    await call(cluster, "DELETE", api_path(BOTS, NS, "news"))
    assert rbac_terms(cluster) == {
        RbacTerm("create", "skybots.dev", "bots", NS),
        RbacTerm("list", "skybots.dev", "bots", None),
        RbacTerm("watch", "skybots.dev", "bots", None),
        RbacTerm("get", "skybots.dev", "bots", NS),
        RbacTerm("patch", "skybots.dev", "bots/status", NS),
        RbacTerm("update", "skybots.dev", "bots", NS),
        RbacTerm("deletecollection", "", "configmaps", NS),
        RbacTerm("delete", "skybots.dev", "bots", NS),
    }


# Kopf, in-process, against the emulator.


async def test_kopf_handles_bots_through_the_emulator(cluster):
    registry = kopf.OperatorRegistry()
    created: list[str] = []
    deleted: list[str] = []

    @kopf.on.create("skybots.dev", "v1alpha1", "bots", registry=registry)
    def on_create(name: str, patch: kopf.Patch, **_: Any) -> None:
        created.append(name)
        patch.status["cronJobName"] = f"bot-{name}"

    @kopf.on.delete("skybots.dev", "v1alpha1", "bots", registry=registry)
    def on_delete(name: str, **_: Any) -> None:
        deleted.append(name)

    async def bots() -> dict[str, dict[str, Any]]:
        _, listed = await call(cluster, "GET", api_path(BOTS))
        return {item["metadata"]["name"]: item for item in listed["items"]}

    async def eventually(predicate: Any) -> dict[str, dict[str, Any]]:
        for _ in range(100):
            if predicate(found := await bots()):
                return found
            await asyncio.sleep(0.05)
        pytest.fail(f"not within 5 s: {await bots()}")

    await create(cluster, BOTS, a_bot("early"))  # found by Kopf's initial list
    async with running_operator(registry, quick_settings(), str(cluster.url)):
        await create(cluster, BOTS, a_bot("late"))  # seen by Kopf's watch
        found = await eventually(lambda found: all(bot.get("status") for bot in found.values()))
        for name, bot in found.items():
            assert bot["status"] == {"cronJobName": f"bot-{name}"}
            assert bot["metadata"]["finalizers"] == ["skybots.dev/finalizer"]
            assert "skybots.dev/last-handled-configuration" in bot["metadata"]["annotations"]
        assert sorted(created) == ["early", "late"]
        await call(cluster, "DELETE", api_path(BOTS, NS, "late"))
        await eventually(lambda found: list(found) == ["early"])
        assert deleted == ["late"]

    kopf_requests = cluster[kmock.headers({"User-Agent": re.compile(r"kopf/.*")})]
    assert rbac_terms(kopf_requests) == {
        RbacTerm("list", "skybots.dev", "bots", None),
        RbacTerm("watch", "skybots.dev", "bots", None),
        RbacTerm("patch", "skybots.dev", "bots", NS),
        RbacTerm("patch", "skybots.dev", "bots/status", NS),
    }
