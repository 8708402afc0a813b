"""/api/account on the Kubernetes emulator, DynamoDB on moto and a real Redis: mail settings, the
export of a user's bots as manifests, and deleting an account so that nothing of the user is left
and nobody else loses anything."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import kmock
import pytest
import yaml

from skybots.api.bots import resource_name
from skybots.bots import validate_spec
from skybots.reposter import bot_keys
from skybots.stores.kubernetes import BOT, SECRET, NotFound
from skybots.stores.redis import RedisCache
from skybots.stores.users import SqliteUsers, Users
from tests.support.api import Api, UserClient, replica
from tests.support.atproto import AtprotoNetwork
from tests.support.aws import REGION, store_edge
from tests.support.kubernetes import BOTS, ClusterEmulator, upcoming
from tests.support.local_dev import live_hashtag_bot, posts, skybots_dev
from tests.support.operator import eventually
from tests.support.runs import run_record
from tests.support.services import redis_text

NS = "skybots"
PASSWORD = "sekret-app-pass-0001"


def new_bot(name: str, tag: str) -> dict[str, Any]:
    return {
        "name": name,
        "appPassword": PASSWORD,
        "spec": {
            "account": {"handle": f"{name}.bsky.social"},
            "description": f"reposts #{tag}",
            "sources": [{"type": "hashtag", "tag": tag}],
            "filters": {"excludeWords": ["spam"]},
        },
    }


async def with_bots(client: UserClient, *names: str) -> UserClient:
    for name in names:
        response = await client.post("/api/bots", json=new_bot(name, f"{name}tag"))
        assert response.status_code == 201, response.text
    return client


@pytest.fixture
async def redis_api(api: Api, redis_url: str) -> AsyncIterator[Api]:
    """The API with the reposter's Redis, where bots leave their state."""
    api.services.cache = cache = RedisCache(redis_url)
    yield api
    await cache.close()


# --- mail settings --------------------------------------------------------------------------------


async def test_mail_settings_are_on_until_turned_off_and_kept_for_every_replica(api: Api) -> None:
    alice = await api.sign_in("alice")
    assert (await alice.get("/api/account/mail")).json() == {"botFailing": True, "credentialsRejected": True}

    response = await alice.put("/api/account/mail", json={"botFailing": False, "credentialsRejected": True})
    assert response.status_code == 200, response.text
    assert response.json() == {"botFailing": False, "credentialsRejected": True}
    assert (await alice.get("/api/account/mail")).json() == {"botFailing": False, "credentialsRejected": True}
    async with replica(api) as other:  # read from the store, not from this replica's memory
        again = await other.sign_in("alice")  # a sign-in later keeps them
        assert (await again.get("/api/account/mail")).json() == {
            "botFailing": False,
            "credentialsRejected": True,
        }
    bob = await api.sign_in("bob")
    assert (await bob.get("/api/account/mail")).json() == {"botFailing": True, "credentialsRejected": True}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"botFailing": "no", "credentialsRejected": True}, "botFailing"),
        ({"botFailing": False, "credentialsRejected": 0}, "credentialsRejected"),
        ({"botFailing": False}, "credentialsRejected"),
        ({"botFailing": False, "credentialsRejected": True, "welcome": False}, "welcome"),
    ],
)
async def test_a_bad_mail_setting_is_a_422_naming_the_field_and_changes_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    alice = await api.sign_in("alice")
    response = await alice.put("/api/account/mail", json=body)
    assert response.status_code == 422
    assert [problem["field"] for problem in response.json()["detail"]] == [field]
    assert (await api.services.users.get(alice.user.id)).mail_off == frozenset()  # type: ignore[union-attr]


async def test_the_accounts_writes_need_the_csrf_token(api: Api) -> None:
    alice = await with_bots(await api.sign_in("alice"), "alpha-news")
    csrf = alice.http.headers.pop("X-CSRF-Token")
    response = await alice.put("/api/account/mail", json={"botFailing": False, "credentialsRejected": False})
    assert response.status_code == 403
    assert (await api.services.users.get(alice.user.id)).mail_off == frozenset()  # type: ignore[union-attr]
    for headers in ({}, {"X-CSRF-Token": csrf[::-1]}):
        response = await alice.request(
            "DELETE", "/api/account", json={"confirm": "alice@example.com"}, headers=headers
        )
        assert response.status_code == 403
    alice.http.headers["X-CSRF-Token"] = csrf
    assert [bot["name"] for bot in (await alice.get("/api/bots")).json()] == ["alpha-news"]
    response = await alice.request("DELETE", "/api/account", json={})
    assert (response.status_code, [p["field"] for p in response.json()["detail"]]) == (422, ["confirm"])


# --- export ----------------------------------------------------------------------------------------


async def test_the_export_is_the_users_bots_as_manifests_that_apply_again(api: Api) -> None:
    alice = await with_bots(await api.sign_in("alice"), "alpha-news", "alpha-art")
    await with_bots(await api.sign_in("bob"), "bravo-news")
    before = {bot["metadata"]["name"]: bot for bot in await api.kube.list(BOT, NS)}

    response = await alice.get("/api/account/bots.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert response.headers["content-disposition"] == 'attachment; filename="skybots-bots.yaml"'
    assert PASSWORD not in response.text
    documents = list(yaml.safe_load_all(response.text))
    assert [doc["metadata"]["name"] for doc in documents] == [
        resource_name(alice.user, "alpha-art"),
        resource_name(alice.user, "alpha-news"),
    ]
    for doc in documents:
        assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(doc["metadata"]) == {"name", "namespace", "labels"}
        assert doc["metadata"]["labels"] == before[doc["metadata"]["name"]]["metadata"]["labels"]
        assert doc["spec"]["account"]["credentialsSecretRef"] == {
            "name": f"{doc['metadata']['name']}-credentials",
            "key": "app-password",
        }
        validate_spec(doc["spec"])  # the model takes it

    # Applied to a cluster without them (restored from Git): the same bots, and the app shows them.
    for doc in documents:
        await api.kube.delete(BOT, NS, doc["metadata"]["name"])
    for doc in documents:
        applied = await api.kube.create(BOT, NS, doc)
        assert applied["spec"] == before[doc["metadata"]["name"]]["spec"]
    async with replica(api) as restored:
        again = await restored.sign_in("alice")
        listed = (await again.get("/api/bots")).json()
        assert sorted(bot["name"] for bot in listed) == ["alpha-art", "alpha-news"]


async def test_an_export_without_bots_is_empty_and_one_needs_signing_in(api: Api) -> None:
    alice = await api.sign_in("alice")
    response = await alice.get("/api/account/bots.yaml")
    assert (response.status_code, list(yaml.safe_load_all(response.text))) == (200, [])
    del alice.http.cookies["skybots_session"]
    assert (await alice.get("/api/account/bots.yaml")).status_code == 401


# --- deleting an account ---------------------------------------------------------------------------


async def have_run(api: Api, cache: RedisCache, client: UserClient, name: str) -> None:
    """What two runs of a bot leave: run history (as the operator appends it) and the bot's state in
    Redis (as the reposter keeps it)."""
    resource = resource_name(client.user, name)
    started = await have_run_history(api, resource)
    watermarks, reposts = bot_keys.of_bot(NS, resource)
    await cache.set_map(watermarks, {f"hashtag:{name}tag": started.isoformat()})
    await cache.add_scored(reposts, {f"at://did:plc:{name}/app.bsky.feed.post/1": started.timestamp()})
    assert (await client.get(f"/api/bots/{name}/stats")).status_code == 200  # charts were read
    assert (await client.post(f"/api/bots/{name}/run")).status_code in (202, 409)  # a run request counted


async def have_run_history(api: Api, resource: str) -> datetime:
    """Two runs of the Bot in the run history, as the operator appends them; when they started."""
    started = datetime.now(UTC) - timedelta(hours=1)
    for run in range(2):
        await api.services.history.append(
            run_record(
                f"bot-{resource}-{run}",
                started + timedelta(minutes=run),
                bot=resource,
                namespace=NS,
                candidates=2,
                reposted=1,
            )
        )
    return started


def everything(api: Api, cluster: ClusterEmulator, redis_url: str) -> str:
    """Every store as one text: the emulator's live objects, both tables, every Redis key and value."""
    objects = [obj.raw for obj in cluster.objects.values() if not obj.deleted]
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=api.settings.dynamodb_endpoint_url)
    items = [
        item
        for table in (api.settings.users_table, api.settings.runs_table)
        for item in dynamodb.scan(TableName=table)["Items"]
    ]
    return "\n".join([json.dumps(objects), json.dumps(items), redis_text(redis_url)])


async def erased(users: Users, seconds: float = 30) -> None:
    """Wait until no erasure is pending, as an operator sees it in the users store."""

    async def none_pending() -> bool:
        return await users.pending_erasures() == []

    await eventually(none_pending, seconds, "every pending erasure finished")


def traces(client: UserClient, *bots: str) -> list[str]:
    """What would say that the user was here: their id, email, and their bots' names."""
    return [client.user.id, client.user.id[:16], client.user.email, *bots]


async def test_deleting_an_account_leaves_nothing_of_the_user_and_nobody_else_loses_anything(
    redis_api: Api, cluster: ClusterEmulator, redis_url: str
) -> None:
    api = redis_api
    cache = api.services.cache
    assert isinstance(cache, RedisCache)
    alice = await with_bots(await api.sign_in("alice"), "alpha-news", "alpha-art", "alpha-gone")
    bob = await with_bots(await api.sign_in("bob"), "bravo-news")
    for client, name in [
        (alice, "alpha-news"),
        (alice, "alpha-art"),
        (alice, "alpha-gone"),
        (bob, "bravo-news"),
    ]:
        await have_run(api, cache, client, name)
    assert (await alice.delete("/api/bots/alpha-gone")).status_code == 204  # deleted before: its runs stay
    await alice.put("/api/account/mail", json={"botFailing": False, "credentialsRejected": True})
    elsewhere = await api.sign_in("alice")  # another browser of hers
    text = everything(api, cluster, redis_url)
    assert all(trace in text for trace in traces(alice, "alpha-news", "alpha-art", "alpha-gone"))
    bob_bot = (await bob.get("/api/bots/bravo-news")).json()
    bob_runs = (await bob.get("/api/bots/bravo-news/runs")).json()

    # A confirmation that is not her address deletes nothing.
    for wrong in ("", "ALICE@example.com", "bob@example.com", " alice@example.com"):
        response = await alice.request("DELETE", "/api/account", json={"confirm": wrong})
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {"field": "confirm", "message": "is not the email address of the signed-in account"}
        ]
    assert everything(api, cluster, redis_url) == text

    response = await alice.request("DELETE", "/api/account", json={"confirm": "alice@example.com"})
    assert (response.status_code, response.content) == (202, b""), response.text
    await erased(api.services.users)

    left = everything(api, cluster, redis_url)
    assert [trace for trace in traces(alice, "alpha-news", "alpha-art", "alpha-gone") if trace in left] == []
    # Signed out everywhere, this browser and the other.
    for client in (alice, elsewhere):
        assert (await client.get("/api/me")).status_code == 401
    # Bob keeps everything.
    assert (await bob.get("/api/bots/bravo-news")).json() == bob_bot
    assert (await bob.get("/api/bots/bravo-news/runs")).json() == bob_runs
    assert all(trace in left for trace in traces(bob, "bravo-news"))
    assert (await bob.get("/api/me")).status_code == 200


async def test_an_old_cookie_opens_nothing_after_the_user_signs_up_again(api: Api) -> None:
    alice = await api.sign_in("alice")
    assert (
        await alice.request("DELETE", "/api/account", json={"confirm": "alice@example.com"})
    ).status_code == 202
    await api.services.users.sign_in("http://127.0.0.1:1/issuer", "sub-alice", "alice@example.com", "Alice")
    async with replica(api) as fresh:  # no memory of the deletion: only the store answers
        cookie = alice.http.cookies
        again = await fresh.sign_in("carol")
        again.http.cookies = cookie
        assert (await again.get("/api/me")).status_code == 401


async def test_a_deletion_stopped_halfway_is_finished_by_the_next(
    redis_api: Api, cluster: ClusterEmulator, redis_url: str
) -> None:
    api = redis_api
    cache = api.services.cache
    assert isinstance(cache, RedisCache)
    alice = await with_bots(await api.sign_in("alice"), "alpha-art", "alpha-news")
    for name in ("alpha-art", "alpha-news"):
        await have_run(api, cache, alice, name)
    # The API server fails the second Bot's delete: the first bot is gone, the rest is not.
    upcoming(cluster["delete", BOTS, kmock.name(resource_name(alice.user, "alpha-news"))]) << 500
    with pytest.raises(Exception, match="500"):
        await alice.request("DELETE", "/api/account", json={"confirm": "alice@example.com"})
    assert (await alice.get("/api/me")).status_code == 200  # still signed in: she can finish it
    assert [bot["name"] for bot in (await alice.get("/api/bots")).json()] == ["alpha-news"]

    response = await alice.request("DELETE", "/api/account", json={"confirm": "alice@example.com"})
    assert response.status_code == 202, response.text
    await erased(api.services.users)
    left = everything(api, cluster, redis_url)
    assert [trace for trace in traces(alice, "alpha-news", "alpha-art") if trace in left] == []


# --- the erasure in the background -----------------------------------------------------------------


async def delete_account(client: UserClient) -> None:
    """Alice deletes her account: answered at once, whatever the erasure does meanwhile."""
    confirmed = client.request("DELETE", "/api/account", json={"confirm": "alice@example.com"})
    response = await asyncio.wait_for(confirmed, 10)
    assert (response.status_code, response.content) == (202, b""), response.text


async def test_the_deletion_answers_before_a_held_erasure_and_has_protected_the_user_already(
    redis_api: Api, cluster: ClusterEmulator, redis_url: str, aws: str
) -> None:
    api = redis_api
    cache = api.services.cache
    assert isinstance(cache, RedisCache)
    alice = await with_bots(await api.sign_in("alice"), "alpha-news")
    await have_run(api, cache, alice, "alpha-news")
    resource = resource_name(alice.user, "alpha-news")
    users, history = api.services.users, api.services.history
    async with store_edge(aws) as edge, replica(api, dynamodb_endpoint_url=edge.url) as behind_edge:
        held = edge.hold("BatchWriteItem", api.settings.runs_table)  # every delete of run history waits
        try:
            await delete_account(await behind_edge.sign_in("alice"))
            await asyncio.wait_for(held.arrived.wait(), 10)  # the erasure is under way, held at the store

            # What protects her is done: no Bot runs, no app password, no profile, no session.
            assert await api.kube.list(BOT, NS) == []
            with pytest.raises(NotFound):
                await api.kube.get(SECRET, NS, f"{resource}-credentials")
            assert (await users.get(alice.user.id), await users.mirrored_bots(alice.user.id)) == (None, {})
            async with replica(api) as fresh:  # a replica with no memory of her
                stale = await fresh.sign_in("bob")
                stale.http.cookies = alice.http.cookies
                assert (await stale.get("/api/me")).status_code == 401
            # What is left is pending, named by her opaque id and her bots' names only.
            assert [(e.id, e.bots) for e in await users.pending_erasures()] == [
                (alice.user.id, frozenset({resource}))
            ]
            assert await history.get(NS, resource, f"bot-{resource}-0") is not None
        finally:
            held.released.set()
        await erased(users)

    left = everything(api, cluster, redis_url)
    assert [trace for trace in traces(alice, "alpha-news") if trace in left] == []


async def test_of_two_replicas_one_erases_and_the_other_is_refused_the_lease_meanwhile(
    api: Api, aws: str
) -> None:
    alice = await with_bots(await api.sign_in("alice"), "alpha-news")
    resource = resource_name(alice.user, "alpha-news")
    await have_run_history(api, resource)
    async with (
        store_edge(aws) as first_edge,
        store_edge(aws) as second_edge,
        replica(api, dynamodb_endpoint_url=first_edge.url) as first,
    ):
        held = first_edge.hold("BatchWriteItem", api.settings.runs_table)
        try:
            await delete_account(await first.sign_in("alice"))
            await asyncio.wait_for(held.arrived.wait(), 10)  # the first replica erases, held mid-batch
            async with replica(api, dynamodb_endpoint_url=second_edge.url, erasure_interval_seconds=0.05):

                async def refused_thrice() -> bool:  # a failed condition on the lease: a 400
                    refusals = [
                        c for c in second_edge.calls if (c.operation, c.status) == ("UpdateItem", 400)
                    ]
                    return len(refusals) >= 3

                await eventually(refused_thrice, 10, "the second replica asked for the lease three times")
            assert [
                c for c in second_edge.calls if c.operation == "BatchWriteItem"
            ] == []  # it deleted nothing
            assert await api.services.history.get(NS, resource, f"bot-{resource}-1") is not None
        finally:
            held.released.set()
        await erased(api.services.users)
    assert await api.services.history.get(NS, resource, f"bot-{resource}-1") is None


async def test_an_erasure_whose_replica_died_midway_is_finished_once_the_api_starts_again(
    api: Api, aws: str
) -> None:
    alice = await with_bots(await api.sign_in("alice"), "alpha-news", "alpha-art")
    resources = [resource_name(alice.user, name) for name in ("alpha-news", "alpha-art")]
    for resource in resources:
        await have_run_history(api, resource)
    async with store_edge(aws) as edge:
        held = edge.hold("BatchWriteItem", api.settings.runs_table)
        try:
            async with replica(api, dynamodb_endpoint_url=edge.url, erasure_lease_seconds=1) as dying:
                await delete_account(await dying.sign_in("alice"))
                await asyncio.wait_for(held.arrived.wait(), 10)
            # The replica is gone in the middle of a batch: its lease is left to run out.
            assert [e.id for e in await api.services.users.pending_erasures()] == [alice.user.id]
            assert await api.services.history.get(NS, resources[0], f"bot-{resources[0]}-0") is not None

            async with replica(api, erasure_interval_seconds=0.1):  # the API started again
                await erased(api.services.users)
        finally:
            held.released.set()  # the dead replica's last call, late: it deletes nothing more
    for resource in resources:
        assert await api.services.history.get(NS, resource, f"bot-{resource}-0") is None
        assert await api.services.history.get(NS, resource, f"bot-{resource}-1") is None


async def test_signed_up_again_she_cannot_remake_a_bot_whose_erasure_is_pending(api: Api, aws: str) -> None:
    alice = await with_bots(await api.sign_in("alice"), "alpha-news")
    await have_run_history(api, resource_name(alice.user, "alpha-news"))
    async with store_edge(aws) as edge, replica(api, dynamodb_endpoint_url=edge.url) as behind_edge:
        held = edge.hold("BatchWriteItem", api.settings.runs_table)
        try:
            await delete_account(await behind_edge.sign_in("alice"))
            await asyncio.wait_for(held.arrived.wait(), 10)
            again = await api.sign_in("alice")  # the same Google account: the same id, the same names
            response = await again.post("/api/bots", json=new_bot("alpha-news", "newtag"))
            assert response.status_code == 409, response.text
            assert response.json()["detail"] == (
                "Your deleted account's bot 'alpha-news' is still being erased: try again in a few minutes."
            )
            assert (await again.post("/api/bots", json=new_bot("alpha-art", "arttag"))).status_code == 201
        finally:
            held.released.set()
        await erased(api.services.users)
    assert (await again.post("/api/bots", json=new_bot("alpha-news", "newtag"))).status_code == 201


# --- the same, where bots really ran: `skybots dev` on Bluesky's reference network -------------------


def local_stores(data: Path, redis_url: str) -> str:
    """Every store of `skybots dev` as one text: its SQLite files (the live objects of its cluster;
    its watch log is etcd's history, kept by count), its object folder, and every Redis key and value."""
    texts = [redis_text(redis_url)]
    for database in sorted(data.glob("*.db")):
        connection = sqlite3.connect(database)
        try:
            tables = [
                name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            for table in tables:
                if (database.name, table) != ("cluster.db", "changes"):
                    texts.append(json.dumps(connection.execute(f"SELECT * FROM {table}").fetchall()))
        finally:
            connection.close()
    texts += [path.read_text() for path in (data / "objects").rglob("*") if path.is_file()]
    return "\n".join(texts)


async def test_deleting_the_account_of_bots_that_ran_leaves_nothing_in_the_local_runtime(
    atproto_network: AtprotoNetwork, redis_url: str, tmp_path: Path
) -> None:
    network = atproto_network
    tag = "gone" + uuid.uuid4().hex[:8]
    author = network.create_account("poster")
    first, second = network.create_account("firstbot"), network.create_account("secondbot")
    posts(network, author, tag, 2)
    data = tmp_path / "state"
    args = live_hashtag_bot(network, first, tag)
    async with skybots_dev(
        data, *args, password=network.create_app_password(first), redis_url=redis_url
    ) as dev:
        made = await dev.client.post(
            "/api/bots",
            json={
                "name": "second-bot",
                "appPassword": network.create_app_password(second),
                "spec": {
                    "account": {"handle": second.handle, "service": network.pds_url},
                    "sources": [{"type": "hashtag", "tag": tag}],
                    "schedule": "0 0 1 1 *",
                    "dryRun": False,
                },
            },
        )
        assert made.status_code == 201, made.text
        for bot in ("my-bot", "second-bot"):
            last = await dev.finished(bot, await dev.run_now(bot))
            assert (last["outcome"], last["reposted"]) == ("succeeded", 2)
        me = (await dev.client.get("/api/me")).json()
        traces = [me["id"], me["id"][:16], me["email"], "my-bot", "second-bot"]
        before = local_stores(data, redis_url)
        assert all(trace in before for trace in traces)

        response = await dev.client.request("DELETE", "/api/account", json={"confirm": me["email"]})
        assert response.status_code == 202, response.text
        assert (await dev.client.get("/api/me")).status_code == 401
        assert (await dev.client.get("/api/bots")).status_code == 401
        await erased(SqliteUsers(data / "users.db"))

    left = local_stores(data, redis_url)
    assert [trace for trace in traces if trace in left] == []
    # Not in the files' free pages either: what SQLite deleted it overwrote.
    for database in ("users.db", "runs.db"):
        raw = b"".join(path.read_bytes() for path in data.glob(f"{database}*"))
        assert [trace for trace in traces if trace.encode() in raw] == [], database
    # What stays is per Bluesky account, none of it the user's: the accounts' dedup records (public
    # repost URIs), their encrypted sessions and login counters (keyed by a keyed hash).
    assert (data / "objects" / "dedup" / f"{first.did}.json").exists()


async def test_a_deletion_never_touches_another_users_bot_under_a_name_of_before_64_bit_owners(
    api: Api,
) -> None:
    """Bob's bot from when names took 8 characters of the owner's id may bear the name Alice's
    deleted bot would have had then: its Secret and runs are Bob's, whatever the name says."""
    alice = await with_bots(await api.sign_in("alice"), "alpha-news")
    assert (await alice.delete("/api/bots/alpha-news")).status_code == 204  # in her mirror only now
    bob = await api.sign_in("bob")
    legacy = f"alpha-news-{alice.user.id[:8]}"
    manifest = {
        "apiVersion": "skybots.dev/v1alpha1",
        "kind": "Bot",
        "metadata": {
            "name": legacy,
            "namespace": NS,
            "labels": {
                "app.kubernetes.io/name": "skybots",
                "app.kubernetes.io/instance": "alpha-news",
                "app.kubernetes.io/managed-by": "skybots-api",
                "skybots.dev/owner": bob.user.id,
            },
        },
        "spec": validate_spec(
            {
                "account": {
                    "handle": "bob.bsky.social",
                    "credentialsSecretRef": {"name": f"{legacy}-credentials", "key": "app-password"},
                },
                "sources": [{"type": "mentions"}],
            }
        ).model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    await api.kube.create(BOT, NS, manifest)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{legacy}-credentials", "namespace": NS},
    }
    await api.kube.create(SECRET, NS, {**secret, "stringData": {"app-password": PASSWORD}})
    await have_run_history(api, legacy)

    response = await alice.request("DELETE", "/api/account", json={"confirm": "alice@example.com"})
    assert response.status_code == 202, response.text
    await erased(api.services.users)

    assert (await api.kube.get(SECRET, NS, f"{legacy}-credentials"))["metadata"]["name"]
    assert (await api.kube.get(BOT, NS, legacy))["metadata"]["labels"]["skybots.dev/owner"] == bob.user.id
    assert await api.services.history.get(NS, legacy, f"bot-{legacy}-0") is not None
