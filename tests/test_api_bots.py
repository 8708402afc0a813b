"""/api/bots against the Kubernetes emulator (and the real operator where runs are involved) and moto.

Every test runs twice: on the emulator, and on LocalKubernetes, the embedded store `make demo`
runs the same API on. The tests that need the real operator run on the emulator only.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from skybots.api.bot_cache import MANAGED_BY_API
from skybots.api.bots import resource_name
from skybots.api.views import SpecInput
from skybots.bots import API_VERSION, OWNER_LABEL, validate_bot
from skybots.operator import rendering
from skybots.settings import OperatorSettings
from skybots.stores.kubernetes import BOT, CRON_JOB, JOB, SECRET
from skybots.stores.runs import DynamoRunHistory, RunRecord
from skybots.stores.users import user_id
from tests.support.api import ISSUER, Api, UserClient, api_requests, replica
from tests.support.aws import REGION, store_edge
from tests.support.kubernetes import BOTS, JOBS, ClusterEmulator, Rendezvous, rbac_terms
from tests.support.operator import eventually, operator_running, settings_for_tests
from tests.support.processes import free_port
from tests.support.rbac import API, grants
from tests.support.runs import run_record

PASSWORD = "sekret-app-pass-0001"
NS = "skybots"

pytestmark = pytest.mark.parametrize("api_cluster", ["emulator", "local"], indirect=True)


def new_bot(name: str = "news", **spec: Any) -> dict[str, Any]:
    return {
        "name": name,
        "appPassword": PASSWORD,
        "spec": {
            "account": {"handle": "news.bsky.social"},
            "sources": [{"type": "hashtag", "tag": "python"}],
            **spec,
        },
    }


@pytest.fixture
async def alice(api: Api) -> UserClient:
    return await api.sign_in("alice")


@pytest.fixture
async def bob(api: Api) -> UserClient:
    return await api.sign_in("bob")


@pytest.fixture(autouse=True)
def _the_password_never_leaks(api: Api, caplog: pytest.LogCaptureFixture) -> Any:
    """Whatever a test does, no response and no log line carries an app password."""
    yield
    for client in api.clients:
        assert not any(PASSWORD in body or "second-pass-0002" in body for body in client.seen)
    assert not any(PASSWORD in record.getMessage() for record in caplog.records)


async def created(client: UserClient, **spec: Any) -> dict[str, Any]:
    response = await client.post("/api/bots", json=new_bot(**spec))
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- making bots ---------------------------------------------------------------------------------


async def test_a_bot_becomes_a_bot_resource_with_its_password_in_an_owned_secret(
    api: Api, alice: UserClient
) -> None:
    bot = await created(alice, schedule="*/30 * * * *")
    assert bot["name"] == "news"
    assert bot["spec"]["account"] == {"handle": "news.bsky.social", "service": "https://bsky.social"}
    assert bot["spec"]["schedule"] == "*/30 * * * *"

    kube = api.kube
    [resource] = await kube.list(BOT, NS, f"skybots.dev/owner={alice.user.id}")
    assert resource["metadata"]["name"] == f"news-{alice.user.id[:16]}"
    ref = resource["spec"]["account"]["credentialsSecretRef"]
    secret = await kube.get(SECRET, NS, ref["name"])
    assert stored(secret, ref["key"]) == PASSWORD
    assert secret["metadata"]["ownerReferences"][0]["uid"] == resource["metadata"]["uid"]

    assert [b["name"] for b in (await alice.get("/api/bots")).json()] == ["news"]
    assert (await alice.get("/api/bots/news")).json()["resourceVersion"] == resource["metadata"][
        "resourceVersion"
    ]


async def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(api: Api, alice: UserClient) -> None:
    cases = {
        "name": new_bot(name="Not A Name"),
        "spec.sources[0].tag": new_bot(sources=[{"type": "hashtag", "tag": "#python"}]),
        "spec.schedule": new_bot(schedule="61 * * * *"),
        "spec.limits.perRun": new_bot(limits={"perRun": 50, "perHour": 10}),
        "spec.filters.includePatterns[1]": new_bot(filters={"includePatterns": ["ok", r"(\w+) \1"]}),
        "appPassword": {k: v for k, v in new_bot().items() if k != "appPassword"},
    }
    for field, body in cases.items():
        response = await alice.post("/api/bots", json=body)
        assert response.status_code == 422, (field, response.text)
        assert field in [error["field"] for error in response.json()["detail"]], response.json()
        assert all(error["message"] for error in response.json()["detail"])
    assert await api.kube.list(BOT, NS) == []


async def test_a_body_over_64_kb_is_a_413_whether_it_says_its_length_or_not(
    api: Api, alice: UserClient
) -> None:
    """A valid bot padded to 1 MiB: with its Content-Length, and streamed in chunks without one."""
    padded = json.dumps(new_bot()).encode() + b" " * (1 << 20)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(padded), 16384):
            yield padded[start : start + 16384]

    for content in (padded, chunks()):
        refused = await alice.post("/api/bots", content=content, headers={"Content-Type": "application/json"})
        assert refused.status_code == 413, refused.text
        assert "64 KB" in refused.json()["detail"]
    assert await api.kube.list(BOT, NS) == []
    await created(alice)  # the same bot, unpadded


async def test_the_same_name_twice_is_a_conflict_and_the_quota_holds(api: Api, alice: UserClient) -> None:
    api.settings.bots_per_user = 2
    await created(alice)
    assert (await alice.post("/api/bots", json=new_bot())).status_code == 409
    await created(alice, name="second")
    refused = await alice.post("/api/bots", json=new_bot(name="third"))
    assert refused.status_code == 403
    assert "quota is 2 bots per user" in refused.json()["detail"]
    assert (await alice.delete("/api/bots/second")).status_code == 204
    await created(alice, name="third")  # a deleted bot gives its slot back


async def test_25_concurrent_creates_on_two_replicas_make_10_bots(
    api: Api, alice: UserClient, api_cluster: ClusterEmulator | None
) -> None:
    """Every create held at the API server until all 25 have passed the quota check (or been refused)."""
    assert api.settings.bots_per_user == 10
    async with replica(api) as second:
        clients = [alice, await second.sign_in("alice")]
        rendezvous = Rendezvous()
        if api_cluster is not None:
            api_cluster["post", BOTS] << rendezvous.hold
        responses = await rendezvous.gather(
            [clients[n % 2].post("/api/bots", json=new_bot(name=f"bot{n}")) for n in range(25)]
        )
    codes = [response.status_code for response in responses]
    assert (codes.count(201), codes.count(403)) == (10, 15), codes
    assert all("quota is 10 bots per user" in r.json()["detail"] for r in responses if r.status_code == 403)
    assert len(await api.kube.list(BOT, NS)) == 10
    assert len((await alice.get("/api/bots")).json()) == 10


@pytest.mark.parametrize(
    "schedule", ["* * * * *", "*/1 * * * *", "0,1 * * * *", "0,4 */2 * * *", "0,59 0,23 * * *"]
)
async def test_a_schedule_more_often_than_the_platform_allows_is_a_422_naming_it(
    api: Api, alice: UserClient, schedule: str
) -> None:
    refused = await alice.post("/api/bots", json=new_bot(schedule=schedule))
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["detail"]
    assert problem["field"] == "spec.schedule"
    assert "at least 5 minutes apart" in problem["message"]
    assert await api.kube.list(BOT, NS) == []

    bot = await created(alice, schedule="*/5 * * * *")
    patched = await alice.patch(
        "/api/bots/news", json={"resourceVersion": bot["resourceVersion"], "spec": {"schedule": schedule}}
    )
    assert patched.status_code == 422
    assert [p["field"] for p in patched.json()["detail"]] == ["spec.schedule"]
    assert (await alice.get("/api/bots/news")).json()["spec"]["schedule"] == "*/5 * * * *"


async def test_the_bounds_are_the_platforms_settings(api: Api, alice: UserClient) -> None:
    api.settings.min_run_interval_minutes = 60
    refused = await alice.post("/api/bots", json=new_bot(schedule="*/30 * * * *"))
    assert [p["field"] for p in refused.json()["detail"]] == ["spec.schedule"]
    assert "at least 60 minutes apart" in refused.json()["detail"][0]["message"]
    await created(alice, schedule="@hourly")


async def test_sources_reading_more_pages_a_run_than_the_platform_allows_are_a_422(
    api: Api, alice: UserClient
) -> None:
    greedy = [
        {"type": "hashtag", "tag": f"tag{n}", "maxPages": 10} for n in range(10)
    ]  # the abuse: 100 pages
    refused = await alice.post("/api/bots", json=new_bot(sources=greedy))
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["detail"]
    assert problem["field"] == "spec.sources"
    assert "up to 100 pages a run" in problem["message"]
    assert "this platform allows 30" in problem["message"]
    assert await api.kube.list(BOT, NS) == []
    await created(alice, sources=[{"type": "hashtag", "tag": f"tag{n}"} for n in range(10)])  # 10 x 3 pages


# --- changing bots ---------------------------------------------------------------------------------


async def test_an_update_needs_the_version_it_was_read_at(api: Api, alice: UserClient) -> None:
    bot = await created(alice)
    version = bot["resourceVersion"]
    changed = await alice.patch(
        "/api/bots/news",
        json={"resourceVersion": version, "spec": {"schedule": "@hourly", "filters": {"minLikes": 3}}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["spec"]["schedule"] == "@hourly"
    assert changed.json()["spec"]["filters"]["minLikes"] == 3
    assert changed.json()["spec"]["sources"] == bot["spec"]["sources"]  # untouched fields stay

    stale = await alice.patch(
        "/api/bots/news", json={"resourceVersion": version, "spec": {"schedule": "@daily"}}
    )
    assert stale.status_code == 409
    assert (await alice.get("/api/bots/news")).json()["spec"]["schedule"] == "@hourly"

    current = changed.json()["resourceVersion"]
    invalid = await alice.patch(
        "/api/bots/news", json={"resourceVersion": current, "spec": {"filters": {"maxAge": "1d"}}}
    )
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["field"] == "spec.filters.maxAge"
    hijack = await alice.patch(
        "/api/bots/news",
        json={
            "resourceVersion": current,
            "spec": {"account": {"credentialsSecretRef": {"name": "someone-elses"}}},
        },
    )
    assert hijack.status_code == 422
    assert (await alice.get("/api/bots/news")).json()["resourceVersion"] == current


def object_fields(schema: dict[str, Any], defs: dict[str, Any], path: str) -> Iterator[str]:
    """The path of every object in the spec's JSON schema (a list's objects as its first item)."""
    for name, field in schema.get("properties", {}).items():
        where = f"{path}.{name}"
        if "$ref" in field:
            yield where
            yield from object_fields(defs[field["$ref"].rpartition("/")[2]], defs, where)
        elif {"$ref", "oneOf"} & set(field.get("items", {})):
            yield f"{where}[0]"


SPEC_SCHEMA = SpecInput.model_json_schema()
OBJECT_FIELDS = ["spec", *object_fields(SPEC_SCHEMA, SPEC_SCHEMA["$defs"], "spec")]
NOT_OBJECTS = [[], ["x"], "x", 7, True]


def patch_at(path: str, value: Any) -> dict[str, Any]:
    """A PATCH body that puts `value` at `path` (spec.filters.authors, spec.sources[0])."""
    for part in reversed(path.split(".")):
        name, _, index = part.partition("[")
        value = {name: [value] if index else value}
    return dict(value)


async def test_a_patch_with_a_non_object_where_an_object_goes_is_a_422_naming_the_field(
    api: Api, alice: UserClient
) -> None:
    """Every object field of the spec (and the spec itself), sent as an array, a string, a number,
    a boolean; and the required account removed with null."""
    bot = await created(alice)
    version = bot["resourceVersion"]
    cases = [(path, value) for path in OBJECT_FIELDS for value in NOT_OBJECTS] + [("spec.account", None)]
    assert {"spec.account", "spec.filters", "spec.filters.authors", "spec.limits", "spec.sources[0]"} <= {
        path for path, _ in cases
    }
    for path, value in cases:
        response = await alice.patch(
            "/api/bots/news", json={"resourceVersion": version, **patch_at(path, value)}
        )
        assert response.status_code == 422, (path, value, response.text)
        fields = [error["field"] for error in response.json()["detail"]]
        assert any(field.startswith(path) for field in fields), (path, value, fields)
    assert (await alice.get("/api/bots/news")).json()["resourceVersion"] == version


async def test_new_run_results_since_the_read_are_no_conflict(api: Api, alice: UserClient) -> None:
    bot = await created(alice)
    name = f"news-{alice.user.id[:16]}"
    await api.kube.patch(BOT, NS, name, {"status": {"totals": {"runs": 1}}}, subresource="status")
    await eventually(
        lambda: _version_moved(alice, bot["resourceVersion"]), what="the API sees the new status"
    )
    changed = await alice.patch(
        "/api/bots/news", json={"resourceVersion": bot["resourceVersion"], "spec": {"schedule": "@hourly"}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["spec"]["schedule"] == "@hourly"
    assert changed.json()["status"]["totals"]["runs"] == 1


async def _version_moved(client: UserClient, read: str) -> bool:
    return bool((await client.get("/api/bots/news")).json()["resourceVersion"] != read)


async def test_a_new_app_password_replaces_the_old(api: Api, alice: UserClient) -> None:
    bot = await created(alice)
    response = await alice.patch(
        "/api/bots/news", json={"resourceVersion": bot["resourceVersion"], "appPassword": "second-pass-0002"}
    )
    assert response.status_code == 200
    resource = (await api.kube.list(BOT, NS))[0]
    secret = await api.kube.get(SECRET, NS, resource["spec"]["account"]["credentialsSecretRef"]["name"])
    assert stored(secret, "app-password") == "second-pass-0002"


def stored(secret: dict[str, Any], key: str) -> str:
    """A Secret's value: the emulator keeps `stringData` as sent; an API server folds it into `data`."""
    return str(secret.get("stringData", {}).get(key) or base64.b64decode(secret["data"][key]).decode())


async def test_pause_resume_and_delete(api: Api, alice: UserClient) -> None:
    await created(alice)
    assert (await alice.post("/api/bots/news/pause")).json()["spec"]["suspend"] is True
    assert (await alice.post("/api/bots/news/resume")).json()["spec"]["suspend"] is False
    assert (await alice.delete("/api/bots/news")).status_code == 204
    assert (await alice.get("/api/bots/news")).status_code == 404
    assert (await alice.get("/api/bots")).json() == []
    await eventually(lambda: _gone(api), what="the Bot and its Secret deleted")


async def _gone(api: Api) -> bool:
    return not await api.kube.list(BOT, NS) and not await api.kube.list(SECRET, NS)


async def test_changes_are_mirrored_to_dynamodb_after_the_response(api: Api, alice: UserClient) -> None:
    await created(alice, description="Python news")
    mirrored = await eventually(lambda: api.services.users.mirrored_bots(alice.user.id), what="mirrored")
    assert mirrored["news"]["summary"]["description"] == "Python news"
    assert mirrored["news"]["summary"]["sources"] == ["hashtag"]
    await alice.delete("/api/bots/news")

    async def deleted() -> bool:
        return "deletedAt" in (await api.services.users.mirrored_bots(alice.user.id))["news"]

    await eventually(deleted, what="deletion mirrored")


async def test_state_changes_need_the_csrf_token(api: Api, alice: UserClient) -> None:
    alice.http.headers.pop("X-CSRF-Token")
    refused = await alice.post("/api/bots", json=new_bot())
    assert refused.status_code == 403
    assert await api.kube.list(BOT, NS) == []
    assert (await alice.get("/api/bots")).status_code == 200  # reads need none


async def test_without_a_session_everything_is_401(api: Api) -> None:
    client = await api.sign_in("carol")
    client.http.cookies.clear()
    for method, path in [
        ("GET", "/api/bots"),
        ("POST", "/api/bots"),
        ("GET", "/api/bots/news/stats"),
        ("GET", "/api/config"),
    ]:
        assert (await client.request(method, path, json={})).status_code == 401


# --- one user, another user's bot ----------------------------------------------------------------------


ENDPOINTS = [
    ("GET", "/api/bots/news", None),
    ("PATCH", "/api/bots/news", {"resourceVersion": "1", "spec": {"schedule": "@daily"}}),
    ("DELETE", "/api/bots/news", None),
    ("POST", "/api/bots/news/pause", None),
    ("POST", "/api/bots/news/resume", None),
    ("POST", "/api/bots/news/run", None),
    ("POST", "/api/bots/news/preview", None),
    ("GET", "/api/bots/news/runs", None),
    ("GET", "/api/bots/news/runs/bot-news-1", None),
    ("GET", "/api/bots/news/stats", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
async def test_another_users_bot_is_a_404_and_stays_as_it_was(
    api: Api, alice: UserClient, bob: UserClient, method: str, path: str, body: Any
) -> None:
    await created(alice)
    [before] = await api.kube.list(BOT, NS)
    response = await bob.request(method, path, json=body)
    assert response.status_code == 404, response.text
    assert "news" in response.json()["detail"]
    [after] = await api.kube.list(BOT, NS)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert await api.kube.list(JOB, NS) == []
    assert (await bob.get("/api/bots")).json() == []


def colliding_names() -> tuple[str, str]:
    """Two sign-ins (as Api.sign_in makes them) whose user ids share their first 32 bits: a
    birthday search, about 80,000 hashes."""
    seen: dict[str, str] = {}
    for number in itertools.count():
        name = f"user{number}"
        prefix = user_id(ISSUER, f"sub-{name}")[:8]
        if prefix in seen:
            return seen[prefix], name
        seen[prefix] = name
    raise AssertionError("unreachable")


async def test_owners_whose_ids_share_32_bits_neither_see_nor_touch_each_others_bots(api: Api) -> None:
    first, second = colliding_names()
    alice, mallory = await api.sign_in(first), await api.sign_in(second)
    assert alice.user.id[:8] == mallory.user.id[:8]
    await created(alice, description="alice's")
    mine = await created(mallory, description="mallory's")
    assert (await alice.get("/api/bots/news")).json()["spec"]["description"] == "alice's"
    assert [b["spec"]["description"] for b in (await mallory.get("/api/bots")).json()] == ["mallory's"]

    change = {"resourceVersion": mine["resourceVersion"], "spec": {"description": "changed"}}
    assert (await mallory.patch("/api/bots/news", json=change)).status_code == 200
    assert (await mallory.delete("/api/bots/news")).status_code == 204
    assert (await alice.get("/api/bots/news")).json()["spec"]["description"] == "alice's"
    assert [bot["metadata"]["labels"][OWNER_LABEL] for bot in await api.kube.list(BOT, NS)] == [alice.user.id]


async def test_the_longest_name_leaves_room_for_the_owner_and_the_cronjob(
    api: Api, alice: UserClient
) -> None:
    """31 characters, and "-<16 of the owner>": a Bot of 48, a CronJob bot-<Bot> of 52 (Kubernetes' most)."""
    too_long = await alice.post("/api/bots", json=new_bot(name="n" * 32))
    assert too_long.status_code == 422
    assert [error["field"] for error in too_long.json()["detail"]] == ["name"]
    await created(alice, name="n" * 31)
    [bot] = await api.kube.list(BOT, NS)
    assert len(f"bot-{bot['metadata']['name']}") == 52


async def stored_by_an_earlier_version(
    api: Api, owner: UserClient, resource: str, **spec: Any
) -> list[dict[str, Any]]:
    """A Bot `news` of `owner` as an earlier version of the API stored it; the owner's listing once
    the API sees it."""
    labels = {
        "app.kubernetes.io/name": "skybots",
        "app.kubernetes.io/instance": "news",
        "app.kubernetes.io/managed-by": MANAGED_BY_API,
        OWNER_LABEL: owner.user.id,
    }
    secret = {"name": f"{resource}-credentials"}
    account = {"handle": "news.bsky.social", "credentialsSecretRef": secret}
    spec = {**new_bot()["spec"], "account": account, **spec}
    manifest = {"apiVersion": API_VERSION, "kind": "Bot", "metadata": {"name": resource, "labels": labels}}
    await api.kube.create(BOT, NS, {**manifest, "spec": spec})

    async def listed() -> list[dict[str, Any]]:
        return list((await owner.get("/api/bots")).json())

    bots: list[dict[str, Any]] = await eventually(listed, what="the API sees the bot")
    return bots


async def test_a_bot_named_with_the_8_character_owner_of_before_keeps_working(
    api: Api, alice: UserClient, bob: UserClient
) -> None:
    """Bots made before owner hashes grew to 16 characters keep their names, and their owners."""
    legacy = f"news-{alice.user.id[:8]}"
    [bot] = await stored_by_an_earlier_version(api, alice, legacy)
    assert (await bob.get("/api/bots/news")).status_code == 404
    assert (await alice.post("/api/bots", json=new_bot())).status_code == 409
    change = {"resourceVersion": bot["resourceVersion"], "spec": {"schedule": "@hourly"}}
    assert (await alice.patch("/api/bots/news", json=change)).json()["spec"]["schedule"] == "@hourly"
    assert (await api.kube.get(BOT, NS, legacy))["spec"]["schedule"] == "@hourly"
    assert (await alice.delete("/api/bots/news")).status_code == 204
    await eventually(lambda: _gone(api), what="the Bot deleted")


async def test_a_spec_an_earlier_version_accepted_is_shown_as_stored_and_can_be_fixed(
    api: Api, alice: UserClient
) -> None:
    """Rules that tightened (patterns RE2 runs, where Python's re took backreferences) do not make
    the owner's listing a 500: the bot is shown as it is stored, a change that keeps the refused
    value is a 422 naming it, and one that fixes it is saved."""
    stored = {"includePatterns": [r"(py)\1"]}
    resource = resource_name(alice.user, "news")
    [bot] = await stored_by_an_earlier_version(api, alice, resource, filters=stored)
    assert bot["spec"]["filters"]["includePatterns"] == stored["includePatterns"]
    assert (await alice.get("/api/bots/news")).json()["spec"]["filters"] == bot["spec"]["filters"]

    keeping = {"resourceVersion": bot["resourceVersion"], "spec": {"schedule": "@hourly"}}
    refused = await alice.patch("/api/bots/news", json=keeping)
    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["detail"]] == ["spec.filters.includePatterns[0]"]
    assert (await api.kube.get(BOT, NS, resource))["spec"].get("schedule") != "@hourly"

    fixing = {"resourceVersion": bot["resourceVersion"], "spec": {"filters": {"includePatterns": ["(py)+"]}}}
    fixed = await alice.patch("/api/bots/news", json=fixing)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["spec"]["filters"]["includePatterns"] == ["(py)+"]


# --- runs ------------------------------------------------------------------------------------------------


@pytest.fixture
async def operator(api: Api, aws: str) -> AsyncIterator[None]:
    """The real operator beside the API, so that Bots get their CronJobs."""
    if api.local:
        pytest.skip("the real operator (Kopf) needs an API server over HTTP; LocalKubernetes is in-process")
    settings = settings_for_tests(
        NS, aws, kubernetes_server=api.settings.kubernetes_server, runs_table="runs"
    )
    async with operator_running(settings):
        yield


@pytest.mark.usefixtures("operator")
async def test_run_now_and_preview_start_jobs_from_the_bots_cronjob(api: Api, alice: UserClient) -> None:
    await created(alice)
    cron_name = f"bot-news-{alice.user.id[:16]}"
    # The operator takes the Secret the API made for the Bot as the Bot's own, and runs it.
    await eventually(lambda: _runs(api, cron_name), what="the operator made the CronJob, running")

    started = await alice.post("/api/bots/news/run")
    assert started.status_code == 202
    assert (await alice.post("/api/bots/news/preview")).status_code == 409  # while the run goes on
    await _finish(api, started.json()["job"])
    preview = await alice.post("/api/bots/news/preview")
    assert preview.status_code == 202
    run = await api.kube.get(JOB, NS, started.json()["job"])
    dry = await api.kube.get(JOB, NS, preview.json()["job"])
    assert run["metadata"]["ownerReferences"][0]["name"] == cron_name
    assert run["metadata"]["labels"]["skybots.dev/bot"] == cron_name.removeprefix("bot-")
    container = run["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][-1] != "--dry-run"
    password = {
        "secretKeyRef": {"name": f"{cron_name.removeprefix('bot-')}-credentials", "key": "app-password"}
    }
    assert {"name": "SKYBOTS_APP_PASSWORD", "valueFrom": password} in container["env"]
    assert dry["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "--dry-run"


@pytest.mark.usefixtures("operator")
async def test_every_rule_of_the_apis_rbac_is_needed(api: Api, alice: UserClient, cluster: Any) -> None:
    """A life of a bot, and of its owner's account, that touches all the API may do; the api fixture
    checks it asks for no more."""
    await created(alice)
    await eventually(lambda: _exists(api, CRON_JOB, f"bot-news-{alice.user.id[:16]}"), what="the CronJob")
    version = (await alice.get("/api/bots/news")).json()["resourceVersion"]
    new_password = {"resourceVersion": version, "appPassword": "second-pass-0002"}
    assert (await alice.patch("/api/bots/news", json=new_password)).status_code == 200
    assert (await alice.post("/api/bots/news/run")).status_code == 202
    assert (await alice.delete("/api/bots/news")).status_code == 204
    deletion = {"confirm": alice.user.email}
    assert (await alice.request("DELETE", "/api/account", json=deletion)).status_code == 202
    assert rbac_terms(api_requests(cluster)) == grants(API, NS)


async def test_run_now_starts_a_job_and_the_bot_takes_everything_with_it(api: Api, alice: UserClient) -> None:
    """Run now and deletion without the operator (its part, the CronJob, made here): on both backends."""
    await created(alice)
    assert (await alice.post("/api/bots/news/run")).status_code == 409  # not set up yet
    await _set_up(api, alice)
    started = await alice.post("/api/bots/news/preview")
    assert started.status_code == 202
    job = await api.kube.get(JOB, NS, started.json()["job"])
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "--dry-run"
    assert (await alice.delete("/api/bots/news")).status_code == 204

    async def collected() -> bool:
        return all([await api.kube.list(kind, NS) == [] for kind in (BOT, SECRET, CRON_JOB, JOB)])

    await eventually(collected, what="the Bot's Secret, CronJob and Job collected with it")


async def _runs(api: Api, cron_name: str) -> bool:
    return any(
        c["metadata"]["name"] == cron_name and c["spec"]["suspend"] is False
        for c in await api.kube.list(CRON_JOB, NS)
    )


async def _set_up(api: Api, client: UserClient, name: str = "news") -> None:
    """The operator's part for a bot without the operator: its CronJob, rendered as the operator renders it."""
    bot = await api.kube.get(BOT, NS, resource_name(client.user, name))
    cron_job = rendering.render_cron_job(bot, validate_bot(bot), OperatorSettings(), credentials_found=True)
    await api.kube.create(CRON_JOB, NS, cron_job)


async def _finish(api: Api, job: str) -> None:
    """The Job's run ends, as the Job controller (or the local runtime) records it."""
    ended = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {"completionTime": ended, "conditions": [{"type": "Complete", "status": "True"}]}
    await api.kube.patch(JOB, NS, job, {"status": status}, subresource="status")


async def test_hammering_run_now_and_preview_starts_one_run_while_it_is_active(
    api: Api, alice: UserClient, api_cluster: ClusterEmulator | None
) -> None:
    """30 clicks at once, every one held at its listing of the bot's Jobs until all have listed them."""
    api.settings.run_requests_per_minute = 100
    await created(alice)
    await _set_up(api, alice)
    rendezvous = Rendezvous()
    if api_cluster is not None:
        api_cluster["list", JOBS] << rendezvous.hold
        api_cluster["post", JOBS] << rendezvous.hold
    responses = await rendezvous.gather(
        [alice.post(f"/api/bots/news/{'run' if n % 2 else 'preview'}") for n in range(30)]
    )
    codes = [response.status_code for response in responses]
    assert (codes.count(202), codes.count(409)) == (1, 29), codes
    [job] = await api.kube.list(JOB, NS)
    assert [r.json()["job"] for r in responses if r.status_code == 202] == [job["metadata"]["name"]]
    started = job["metadata"]["creationTimestamp"].replace("T", " ").removesuffix("Z")
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["detail"].startswith("A run of 'news' is in progress since "), refused.json()
    later = await alice.post("/api/bots/news/run")
    assert later.json()["detail"] == (
        f"A run of 'news' is in progress since {started} UTC: wait for it to finish, then try again."
    )

    await _finish(api, job["metadata"]["name"])
    assert (await alice.post("/api/bots/news/preview")).status_code == 202
    assert len(await api.kube.list(JOB, NS)) == 2


async def _early_in_a_minute() -> None:
    """The rate's window is the epoch minute: start where all of a test's requests fall in one."""
    left = 60 - time.time() % 60
    if left < 15:
        await asyncio.sleep(left)


async def test_run_now_and_preview_are_rate_limited_per_user(
    api: Api, alice: UserClient, bob: UserClient
) -> None:
    api.settings.run_requests_per_minute = 5
    await _early_in_a_minute()
    for client in (alice, bob):
        await created(client)
        await _set_up(api, client)
    await created(alice, name="art")
    await _set_up(api, alice, "art")
    responses = await asyncio.gather(*(alice.post("/api/bots/news/run") for _ in range(12)))
    codes = [response.status_code for response in responses]
    assert (codes.count(202), codes.count(409), codes.count(429)) == (1, 4, 7), codes
    for limited in (r for r in responses if r.status_code == 429):
        wait = int(limited.headers["Retry-After"])
        assert 1 <= wait <= 60
        assert limited.json()["detail"] == (
            f"You asked for 5 runs or previews this minute, the most one user may: try again in {wait} s."
        )
    assert (await alice.post("/api/bots/art/preview")).status_code == 429  # the budget is the user's
    assert len(await api.kube.list(JOB, NS)) == 1
    assert (await bob.post("/api/bots/news/preview")).status_code == 202  # another user's budget


async def _exists(api: Api, kind: Any, name: str) -> bool:
    return bool(await api.kube.list(kind, NS)) and any(
        o["metadata"]["name"] == name for o in await api.kube.list(kind, NS)
    )


async def test_runs_and_stats_come_from_the_run_history(api: Api, alice: UserClient) -> None:
    await created(alice)
    resource = f"news-{alice.user.id[:16]}"
    now = datetime.now(UTC)
    history = api.services.history
    for hours_ago, outcome, reposted, rejected in [
        (30, "succeeded", 9, {}),
        (5, "succeeded", 2, {"language": 3}),
        (1, "upstreamFailed", 0, {}),
    ]:
        started = now - timedelta(hours=hours_ago)
        await history.append(
            RunRecord.model_validate(
                {
                    "namespace": NS,
                    "bot": resource,
                    "job": f"bot-{resource}-{hours_ago}",
                    "outcome": outcome,
                    "startedAt": started,
                    "finishedAt": started + timedelta(seconds=4),
                    "candidates": 10,
                    "reposted": reposted,
                    "rejected": rejected,
                }
            )
        )
    runs = (await alice.get("/api/bots/news/runs")).json()
    assert [r["job"] for r in runs] == [f"bot-{resource}-1", f"bot-{resource}-5", f"bot-{resource}-30"]
    assert (await alice.get(f"/api/bots/news/runs/bot-{resource}-5")).json()["rejected"] == {"language": 3}
    assert (await alice.get("/api/bots/news/runs/nope")).status_code == 404

    day = (await alice.get("/api/bots/news/stats", params={"range": "24h"})).json()
    assert (day["range"], day["bucketSeconds"], len(day["buckets"])) == ("24h", 3600, 24)
    assert sum(b["reposted"] for b in day["buckets"]) == 2  # the run 30 hours ago is out of range
    assert sum(b["failedRuns"] for b in day["buckets"]) == 1
    assert {k: v for b in day["buckets"] for k, v in b["rejected"].items()} == {"language": 3}
    week = (await alice.get("/api/bots/news/stats", params={"range": "7d"})).json()
    assert (len(week["buckets"]), sum(b["reposted"] for b in week["buckets"])) == (28, 11)
    assert (await alice.get("/api/bots/news/stats", params={"range": "1y"})).status_code == 422


async def test_stats_mark_failed_and_rate_limited_runs_in_their_own_buckets(
    api: Api, alice: UserClient
) -> None:
    """What the bot page's chart marks on its time axis: per bucket, its failed and its rate-limited
    runs (a rate-limited run is not a failure), and its rejections by reason."""
    await created(alice)
    resource = resource_name(alice.user, "news")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    runs = [  # (hours before this hour, outcome, rejected)
        (2, "rateLimited", {"language": 1}),
        (2, "rateLimited", {"language": 2, "reply": 1}),
        (5, "authFailed", {}),
        (5, "rateLimited", {}),
        (9, "succeeded", {"too_old": 4}),
    ]
    for n, (hours, outcome, rejected) in enumerate(runs):
        started = hour - timedelta(hours=hours) + timedelta(minutes=n)
        await api.services.history.append(
            RunRecord.model_validate(
                {
                    "namespace": NS,
                    "bot": resource,
                    "job": f"bot-{resource}-{n}",
                    "outcome": outcome,
                    "startedAt": started,
                    "finishedAt": started + timedelta(seconds=4),
                    "rejected": rejected,
                }
            )
        )
    buckets = (await alice.get("/api/bots/news/stats", params={"range": "24h"})).json()["buckets"]
    marked = {
        23 - int((hour - datetime.fromisoformat(b["start"])) / timedelta(hours=1)): (
            b["failedRuns"],
            b["rateLimitedRuns"],
            b["rejected"],
        )
        for b in buckets
        if b["runs"]
    }
    assert marked == {
        21: (0, 2, {"language": 3, "reply": 1}),
        18: (1, 1, {}),
        14: (0, 0, {"too_old": 4}),
    }


async def test_reading_runs_reads_a_page_from_the_store_not_the_history(
    api: Api, alice: UserClient, aws: str
) -> None:
    """300 runs of about 1 KB; what the API reads is counted at DynamoDB's edge (a proxy before moto)."""
    await created(alice)
    resource = resource_name(alice.user, "news")
    now = datetime.now(UTC)
    writer = DynamoRunHistory(
        api.settings.runs_table, region=REGION, endpoint_url=api.settings.dynamodb_endpoint_url
    )
    runs = [
        run_record(
            f"bot-{resource}-{n}",
            now - timedelta(minutes=5 * n),
            bot=resource,
            namespace=NS,
            seconds=4,
            candidates=40,
            rejected={f"reason-{r}": r for r in range(30)},
            message="x" * 300,
        )
        for n in range(300)
    ]
    for start in range(0, len(runs), 20):
        await asyncio.gather(*(writer.append(run) for run in runs[start : start + 20]))
    size = len(runs[0].model_dump_json())
    async with store_edge(aws) as edge:
        api.services.history = DynamoRunHistory(api.settings.runs_table, region=REGION, endpoint_url=edge.url)

        first = await alice.get("/api/bots/news/runs", params={"limit": 1})
        assert [run["job"] for run in first.json()] == [runs[0].job]
        [query] = edge.reads()
        assert (query.operation, query.items) == ("Query", 1)
        assert query.size < 2 * size

        edge.calls.clear()
        next_page = first.headers["Link"].removeprefix("<").partition(">")[0]
        second = await alice.get(next_page)
        assert [run["job"] for run in second.json()] == [runs[1].job]
        assert [call.items for call in edge.reads()] == [1]

        edge.calls.clear()
        one = await alice.get(f"/api/bots/news/runs/{runs[150].job}")
        assert one.json()["job"] == runs[150].job
        missing = await alice.get("/api/bots/news/runs/bot-news-nope")
        assert missing.status_code == 404
        assert [(call.operation, call.items) for call in edge.reads()] == [("GetItem", 1), ("GetItem", 0)]

        edge.calls.clear()
        forged = await alice.get("/api/bots/news/runs", params={"before": "RUN#~"})
        assert forged.status_code == 422
        assert forged.json()["detail"][0]["field"] == "before"
        assert edge.reads() == []


# --- operations ------------------------------------------------------------------------------------------


async def test_ready_metrics_and_request_ids(api: Api, alice: UserClient) -> None:
    await created(alice)
    ready = await alice.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ok"}
    response = await alice.get("/api/bots", headers={"X-Request-ID": "trace-me"})
    assert response.headers["X-Request-ID"] == "trace-me"
    port = free_port()
    stop = api.app.state.metrics.serve(port)
    try:
        async with httpx.AsyncClient() as scraper:
            metrics = (await scraper.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        stop()
    assert 'skybots_api_requests_total{method="GET",route="/api/bots",status="200"}' in metrics
    assert 'skybots_api_requests_total{method="POST",route="/api/bots",status="201"}' in metrics
    assert 'skybots_api_users_by_bot_count{bots="1"} 1.0' in metrics


async def test_not_ready_when_dynamodb_is_unreachable(
    api: Api, alice: UserClient, caplog: pytest.LogCaptureFixture
) -> None:
    from skybots.stores.users import DynamoUsers

    api.services.users = DynamoUsers("users", region="eu-central-1", endpoint_url="http://127.0.0.1:9")
    response = await asyncio.wait_for(alice.get("/readyz"), 60)
    assert response.status_code == 503
    assert response.json() == {"status": "not ready"}, "no details for the public"
    assert "DynamoUsers: EndpointConnectionError" in caplog.text, "the details are in the log"


# --- conditional reads (the web app polls) ----------------------------------------------------------


async def _status_written(api: Api, client: UserClient, runs: int) -> None:
    """A run's result written into the Bot's status, as the operator does, and seen by the API."""
    resource = resource_name(client.user, "news")
    await api.kube.patch(BOT, NS, resource, {"status": {"totals": {"runs": runs}}}, subresource="status")

    async def seen() -> bool:
        return bool((await client.get("/api/bots/news")).json()["status"]["totals"]["runs"] == runs)

    await eventually(seen, what="the API sees the new status")


async def test_an_unchanged_list_and_bot_are_a_304_and_a_change_a_200_with_a_new_etag(
    api: Api, alice: UserClient
) -> None:
    await created(alice)
    tags = {}
    for path in ("/api/bots", "/api/bots/news"):
        first = await alice.get(path)
        tag = tags[path] = first.headers["ETag"]
        assert first.headers["Cache-Control"] == "private, no-cache"  # no shared cache keeps it
        # As sent, weakened by a compressing proxy, or among others: unchanged, so a 304 without a body.
        for sent in (tag, f"W/{tag}", f'"other", {tag}'):
            again = await alice.get(path, headers={"If-None-Match": sent})
            assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", tag), sent
        assert (await alice.get(path, headers={"If-None-Match": '"other"'})).status_code == 200

    await _status_written(api, alice, runs=7)  # a run ended
    for path in ("/api/bots", "/api/bots/news"):
        changed = await alice.get(path, headers={"If-None-Match": tags[path]})
        assert changed.status_code == 200
        assert changed.headers["ETag"] != tags[path]
        assert "7" in json.dumps(changed.json())
        tags[path] = changed.headers["ETag"]

    paused = await alice.post("/api/bots/news/pause")  # the API's own write: a new tag at once
    assert paused.status_code == 200
    for path in ("/api/bots", "/api/bots/news"):
        assert (await alice.get(path, headers={"If-None-Match": tags[path]})).status_code == 200
    bot_tag = (await alice.get("/api/bots/news")).headers["ETag"]
    assert (await alice.delete("/api/bots/news")).status_code == 204
    assert (await alice.get("/api/bots/news", headers={"If-None-Match": bot_tag})).status_code == 404
    assert (await alice.get("/api/bots", headers={"If-None-Match": "*"})).status_code == 304


async def test_other_users_changes_never_change_your_etag(
    api: Api, alice: UserClient, bob: UserClient
) -> None:
    await created(alice)
    mine = {path: (await alice.get(path)).headers["ETag"] for path in ("/api/bots", "/api/bots/news")}
    bobs = await created(bob)  # a bot of the same name
    assert (await bob.get("/api/bots/news")).headers["ETag"] != mine["/api/bots/news"]
    assert (
        await bob.get("/api/bots/news", headers={"If-None-Match": mine["/api/bots/news"]})
    ).status_code == 200
    await _status_written(api, bob, runs=3)
    change = {"resourceVersion": bobs["resourceVersion"], "spec": {"description": "bob's"}}
    assert (await bob.patch("/api/bots/news", json=change)).status_code == 200
    assert (await bob.delete("/api/bots/news")).status_code == 204
    for path, tag in mine.items():
        unchanged = await alice.get(path, headers={"If-None-Match": tag})
        assert (unchanged.status_code, unchanged.headers["ETag"]) == (304, tag), path


async def test_every_replica_answers_a_304_to_the_etag_of_another(api: Api, alice: UserClient) -> None:
    await created(alice)
    tags = {path: (await alice.get(path)).headers["ETag"] for path in ("/api/bots", "/api/bots/news")}
    async with replica(api) as second:
        elsewhere = await second.sign_in("alice")
        await eventually(lambda: _listed(elsewhere), what="the second replica lists the bot")
        for path, tag in tags.items():
            assert (await elsewhere.get(path, headers={"If-None-Match": tag})).status_code == 304, path


async def _listed(client: UserClient) -> bool:
    return bool((await client.get("/api/bots")).json())


async def test_the_stats_after_a_new_last_run_count_it(api: Api, alice: UserClient) -> None:
    """Stats are kept 30 s, but never past a run that ended since: the web app reads them when lastRun changes."""
    await created(alice)
    resource = resource_name(alice.user, "news")
    before = (await alice.get("/api/bots/news/stats")).json()
    assert sum(b["reposted"] for b in before["buckets"]) == 0
    now = datetime.now(UTC).isoformat()
    run = {"job": f"bot-{resource}-1", "outcome": "succeeded", "startedAt": now, "finishedAt": now}
    await api.services.history.append(
        RunRecord.model_validate({**run, "namespace": NS, "bot": resource, "reposted": 4})
    )
    await api.kube.patch(BOT, NS, resource, {"status": {"lastRun": run}}, subresource="status")

    async def seen() -> bool:
        return bool((await alice.get("/api/bots/news")).json()["status"].get("lastRun"))

    await eventually(seen, what="the API sees the new last run")
    after = (await alice.get("/api/bots/news/stats")).json()
    assert sum(b["reposted"] for b in after["buckets"]) == 4
