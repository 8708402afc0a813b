"""What the API makes of the Kubernetes API server's answers: its refusals, the owner of a bot's
Secret, and what /readyz names. Against the emulator (with its CRD admission) and moto."""

from __future__ import annotations

import asyncio
import copy
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from skybots.api.app import create_app
from skybots.api.bots import resource_name
from skybots.api.deps import Services
from skybots.operator.rendering import owner_reference
from skybots.stores.kubernetes import BOT, SECRET
from skybots.stores.local_kubernetes import LocalKubernetes
from skybots.stores.runs import SqliteRunHistory
from skybots.stores.users import SqliteUsers
from tests.support.api import ISSUER, Api, UserClient, api_requests, api_settings
from tests.support.kubernetes import CRDS, ClusterEmulator, CustomResource
from tests.support.operator import eventually

NS = "skybots"
PASSWORD = "sekret-app-pass-0001"
REFUSED = "the cluster's newer CRD refuses this description"


def new_bot(description: str = "") -> dict[str, Any]:
    return {
        "name": "news",
        "appPassword": PASSWORD,
        "spec": {
            "account": {"handle": "news.bsky.social"},
            "sources": [{"type": "hashtag", "tag": "python"}],
            **({"description": description} if description else {}),
        },
    }


def serve_stricter_crd(cluster: ClusterEmulator) -> None:
    """The cluster runs a newer CRD than this API's model: one more CEL rule, on the description."""
    crd = copy.deepcopy(yaml.safe_load((CRDS / "bots.skybots.dev.yaml").read_text()))
    for version in crd["spec"]["versions"]:
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        spec.setdefault("x-kubernetes-validations", []).append(
            {
                "rule": "!has(self.description) || !self.description.contains('forbidden')",
                "fieldPath": ".description",
                "message": REFUSED,
            }
        )
    for custom in CustomResource.served_by(crd):
        cluster.declare(custom)


@pytest.fixture
async def alice(api: Api) -> UserClient:
    return await api.sign_in("alice")


def _refused_field(response: Any) -> None:
    assert response.status_code == 422, response.text
    assert response.json() == {"detail": [{"field": "spec.description", "message": REFUSED}]}


async def test_a_bot_the_clusters_crd_refuses_is_a_422_naming_the_field_and_changes_nothing(
    api: Api, alice: UserClient, cluster: ClusterEmulator
) -> None:
    serve_stricter_crd(cluster)
    _refused_field(await alice.post("/api/bots", json=new_bot("a forbidden word")))
    assert await api.kube.list(BOT, NS) == []
    assert await api.kube.list(SECRET, NS) == []

    made = await alice.post("/api/bots", json=new_bot("fine"))  # the quota's slot was given back
    assert made.status_code == 201, made.text
    version = made.json()["resourceVersion"]
    change = {"resourceVersion": version, "spec": {"description": "forbidden now"}}
    _refused_field(await alice.patch("/api/bots/news", json=change))
    assert (await alice.get("/api/bots/news")).json()["spec"]["description"] == "fine"


def _bot_patches(cluster: ClusterEmulator) -> list[dict[str, Any]]:
    """The bodies of the API's writes to a Bot's spec (not its status)."""
    return [
        r.data
        for r in api_requests(cluster)
        if r.method.value == "PATCH"
        and r.resource is not None
        and r.resource.plural == "bots"
        and not r.subresource
    ]


async def test_an_update_racing_a_status_write_waits_for_the_watch_to_bring_it(
    api: Api, alice: UserClient, cluster: ClusterEmulator
) -> None:
    """The worst moment: a run's status is written, and the API's watch has not brought it yet.
    The API's update is refused (409) for the version it knew; it retries once the watch brings the
    write, not after a guessed pause: held 1 s, it neither gives up nor retries blindly."""
    made = await alice.post("/api/bots", json=new_bot())
    assert made.status_code == 201, made.text
    resource = resource_name(alice.user, "news")
    release = cluster.hold_events(
        lambda event: (
            event["object"]["metadata"]["name"] == resource
            and (event["object"].get("status") or {}).get("totals", {}).get("runs") == 1
        )
    )
    written = await api.kube.patch(
        BOT, NS, resource, {"status": {"totals": {"runs": 1}}}, subresource="status"
    )
    change = {"resourceVersion": made.json()["resourceVersion"], "spec": {"schedule": "@hourly"}}
    update = asyncio.create_task(alice.patch("/api/bots/news", json=change))

    async def refused_once() -> bool:
        return len(_bot_patches(cluster)) == 1

    await eventually(refused_once, what="the API's first, refused, update")
    done, _ = await asyncio.wait([update], timeout=1)
    assert not done, f"gave up while the watch lagged: {update.result().text}"
    assert len(_bot_patches(cluster)) == 1, "retried before the watch brought the status write"
    release.set()
    response = await update
    assert response.status_code == 200, response.text
    assert response.json()["spec"]["schedule"] == "@hourly"
    first, second = _bot_patches(cluster)
    assert first["metadata"]["resourceVersion"] == made.json()["resourceVersion"]
    assert second["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]


async def test_the_bots_secret_is_controlled_by_the_bot_through_the_operators_helper(
    api: Api, alice: UserClient
) -> None:
    made = await alice.post("/api/bots", json=new_bot())
    assert made.status_code == 201, made.text
    [bot] = await api.kube.list(BOT, NS)
    secret = await api.kube.get(SECRET, NS, bot["spec"]["account"]["credentialsSecretRef"]["name"])
    assert secret["metadata"]["ownerReferences"] == [owner_reference(bot, block_owner_deletion=False)]
    assert secret["metadata"]["ownerReferences"][0]["controller"] is True


async def test_readyz_names_the_users_store_it_has(
    aws: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = api_settings(NS, aws)
    users = SqliteUsers(tmp_path / "users.db")
    await users.sign_in(ISSUER, "sub-alice", "alice@example.com", "Alice")
    kube = LocalKubernetes(tmp_path / "cluster.db")
    services = Services(kube=kube, users=users, history=SqliteRunHistory(tmp_path / "runs.db"))
    app = create_app(settings, services)
    async with app.router.lifespan_context(app):
        with sqlite3.connect(tmp_path / "users.db") as db:
            db.execute("DROP TABLE users")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/readyz")
    await kube.close()
    assert response.status_code == 503
    assert "SqliteUsers: OperationalError" in caplog.text
    assert "dynamodb" not in caplog.text.lower()
