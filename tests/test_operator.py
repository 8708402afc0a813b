"""The operator against the Kubernetes emulator: what a platform operator sees with kubectl.

Each test runs the real `run_operator` in-process against `ClusterEmulator` (kmock extended
with uid/resourceVersion/generation, the status subresource, label selectors, ownerReference
garbage collection and CRD validation) and DynamoDB on moto, and asserts end states.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from skybots.operator.metrics import OUTCOMES
from skybots.settings import OperatorSettings
from skybots.stores.runs import DynamoRunHistory
from tests.support.aws import REGION
from tests.support.kubernetes import CRONJOBS, internal_error, rbac_terms, upcoming
from tests.support.operator import (
    Api,
    actions,
    controlled_by,
    eventually,
    operator_requests,
    operator_running,
    report,
    settings_for_tests,
    settled,
    writes,
)
from tests.support.processes import free_port
from tests.support.rbac import OPERATOR, grants

NS = "team"


@dataclass
class Harness:
    api: Api
    settings: OperatorSettings
    cluster: Any

    def running(self) -> Any:
        return operator_running(self.settings)

    async def metrics(self) -> str:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{self.settings.metrics_port}/metrics")
        return response.text

    def history(self) -> DynamoRunHistory:
        return DynamoRunHistory(
            self.settings.runs_table, region=REGION, endpoint_url=self.settings.dynamodb_endpoint_url
        )


@pytest.fixture
async def harness(cluster: Any, aws: str) -> AsyncIterator[Harness]:
    settings = settings_for_tests(
        NS,
        aws,
        kubernetes_server=str(cluster.url),
        reposter_image="registry.example/skybots-reposter:1.2.3",
        reposter_cpu_limit="750m",
    )
    api = Api(str(cluster.url), NS)
    yield Harness(api, settings, cluster)
    await api.aclose()
    # Whatever the test did, the operator asked for nothing its shipped RBAC does not grant.
    assert rbac_terms(operator_requests(cluster)) <= grants(OPERATOR, NS)


@pytest.fixture
async def running(harness: Harness) -> AsyncIterator[Harness]:
    async with harness.running():
        yield harness


async def a_ready_bot(api: Api, name: str) -> None:
    """A Bot with the Secret it controls, reconciled."""
    await api.create_secret(name, owners=[controlled_by(await api.create_bot(name))])
    await ready(api, name)


async def ready(api: Api, bot: str, status: str = "True", reason: str | None = None) -> dict[str, Any]:
    """The Bot's Ready condition once it has `status` (and `reason`, where one is given: a Bot can pass
    through other reasons on its way, such as SecretMissing before its Secret is made)."""

    async def check() -> dict[str, Any] | None:
        condition = await api.condition(bot, "Ready")
        reached = condition["status"] == status and reason in (None, condition["reason"])
        return condition if reached else None

    return await eventually(check, what=f"Bot {bot} Ready={status} ({reason or 'any reason'})")  # type: ignore[no-any-return]


# --- a bot's life ----------------------------------------------------------------------------


async def test_a_bot_becomes_a_configmap_and_a_cronjob_and_is_ready(running: Harness) -> None:
    api = running.api
    bot = await api.create_bot("news", schedule="*/5 * * * *", timeZone="Europe/Berlin")
    await api.create_secret("news", owners=[controlled_by(bot)])
    condition = await ready(api, "news")
    assert condition["reason"] == "Ready"

    cron_job = await api.get("CronJob", "bot-news")
    owner = cron_job["metadata"]["ownerReferences"]
    assert owner == [
        {
            "apiVersion": "skybots.dev/v1alpha1",
            "kind": "Bot",
            "name": "news",
            "uid": bot["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    spec = cron_job["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["suspend"]) == ("*/5 * * * *", "Europe/Berlin", False)
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/skybots-reposter:1.2.3"
    # A run's CPU is bounded: whatever a tenant's bot does, it cannot take a node's cores.
    assert container["resources"]["limits"] == {"cpu": "750m", "memory": "128Mi"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    password = next(e for e in container["env"] if e["name"] == "SKYBOTS_APP_PASSWORD")
    assert password["valueFrom"] == {"secretKeyRef": {"name": "news", "key": "app-password"}}

    config_map = await api.get("ConfigMap", "bot-news")
    assert config_map["metadata"]["ownerReferences"] == owner
    config = config_map["data"]["bot.json"]
    assert '"handle": "news.bsky.social"' in config
    assert "abcd-efgh" not in config  # the app password never leaves its Secret

    status = (await api.get("Bot", "news"))["status"]
    assert status["observedGeneration"] == 1
    assert status["cronJobName"] == "bot-news"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "Reconciled": "True",
        "CredentialsFound": "True",
    }
    await posted(api, lambda e: "CronJob bot-news" in e["message"] and e["involvedObject"]["name"] == "news")


async def test_spec_changes_update_the_children_and_status_changes_do_not(running: Harness) -> None:
    api = running.api
    await a_ready_bot(api, "news")

    await api.patch(
        "Bot", "news", {"spec": {"schedule": "@hourly", "sources": [{"type": "search", "query": "k8s"}]}}
    )

    async def updated() -> bool:
        cron_job, config_map = await api.get("CronJob", "bot-news"), await api.get("ConfigMap", "bot-news")
        return (
            cron_job["spec"]["schedule"] == "@hourly" and '"query": "k8s"' in config_map["data"]["bot.json"]
        )

    await eventually(updated, what="children updated")
    await eventually(lambda: _observed(api, "news", 2), what="observedGeneration 2")

    await settled(running.cluster)
    before = len(writes(operator_requests(running.cluster)))
    await api.patch("Bot", "news", {"status": {"totals": {"runs": 41}}}, subresource="status")
    await settled(running.cluster)
    assert writes(operator_requests(running.cluster))[before:] == []


async def test_suspend_and_resume(running: Harness) -> None:
    api = running.api
    await a_ready_bot(api, "news")

    await api.patch("Bot", "news", {"spec": {"suspend": True}})
    await eventually(lambda: _cron_job_suspended(api, True), what="suspended")
    await api.patch("Bot", "news", {"spec": {"suspend": False}})
    await eventually(lambda: _cron_job_suspended(api, False), what="resumed")


async def test_deleting_a_bot_leaves_nothing_behind(running: Harness) -> None:
    api = running.api
    await a_ready_bot(api, "news")
    await api.run_job("news", "bot-news-1", report(reposted=1))
    await eventually(lambda: _totals(api, "news", "runs", 1), what="the run collected")

    await api.delete("Bot", "news")

    async def gone() -> bool:
        kinds = ("Bot", "CronJob", "ConfigMap", "Job")
        names = ("news", "bot-news", "bot-news", "bot-news-1")
        return not any([await api.exists(k, n) for k, n in zip(kinds, names, strict=True)])

    await eventually(gone, what="everything deleted")
    bot = await api.create_bot("other")
    assert "finalizers" not in bot["metadata"]
    assert 'bot="news"' not in await eventually(running.metrics, what="metrics")


# --- drift and credentials ---------------------------------------------------------------------


async def test_a_deleted_cronjob_is_restored(running: Harness) -> None:
    api = running.api
    await a_ready_bot(api, "news")

    await api.delete("CronJob", "bot-news")
    restored = await eventually(lambda: api.get("CronJob", "bot-news"), what="CronJob restored")
    assert restored["spec"]["schedule"] == "*/15 * * * *"
    await posted(api, lambda e: e["reason"] == "Restored")


async def test_hand_edits_of_the_children_are_undone(running: Harness) -> None:
    api = running.api
    await a_ready_bot(api, "news")
    original = (await api.get("ConfigMap", "bot-news"))["data"]

    await api.patch("CronJob", "bot-news", {"spec": {"schedule": "* * * * *", "concurrencyPolicy": "Allow"}})
    await api.patch("ConfigMap", "bot-news", {"data": {"bot.json": "{}"}})

    async def restored() -> bool:
        cron_job = (await api.get("CronJob", "bot-news"))["spec"]
        config_map = await api.get("ConfigMap", "bot-news")
        return (cron_job["schedule"], cron_job["concurrencyPolicy"]) == ("*/15 * * * *", "Forbid") and (
            config_map["data"] == original
        )

    await eventually(restored, what="hand edits undone")


async def test_a_missing_secret_holds_the_bot_until_it_appears(running: Harness) -> None:
    api = running.api
    owner = controlled_by(await api.create_bot("news"))
    condition = await ready(api, "news", "False")
    assert condition["reason"] == "SecretMissing"
    assert "Secret 'news' not found" in condition["message"]
    assert (await api.condition("news", "CredentialsFound"))["status"] == "False"
    assert (await api.get("CronJob", "bot-news"))["spec"]["suspend"] is True  # no pods failing meanwhile
    await posted(api, lambda e: e["reason"] == "SecretMissing" and e["type"] == "Warning")

    await api.create_secret("news", {"password": "x"}, owners=[owner])  # the wrong key first
    await eventually(lambda: _reason(api, "news", "Ready", "KeyMissing"), what="KeyMissing")
    await api.delete("Secret", "news")
    await api.create_secret("news", owners=[owner])
    await ready(api, "news")
    assert (await api.get("CronJob", "bot-news"))["spec"]["suspend"] is False


async def _the_apis_own_secret(api: Api) -> dict[str, str]:
    """A Secret no Bot owns, here the API's: its OpenID client secret is what the attacker wants."""
    await api.create_secret("skybots-api", {"SKYBOTS_OIDC_CLIENT_SECRET": "the-client-secret"})
    return {"name": "skybots-api", "key": "SKYBOTS_OIDC_CLIENT_SECRET"}


async def _another_tenants_bots_secret(api: Api) -> dict[str, str]:
    """The victim's bot, as the API makes it: its Secret controlled by its Bot."""
    ref = {"name": "victim-credentials"}
    victim = await api.create_bot(
        "victim", account={"handle": "victim.bsky.social", "credentialsSecretRef": ref}
    )
    await api.create_secret("victim-credentials", owners=[controlled_by(victim)])
    return ref


async def _an_earlier_bots_secret(api: Api) -> dict[str, str]:
    """A Secret of an earlier Bot of the same name: deleted and recreated, the collector not there yet."""
    earlier = {"metadata": {"name": "news", "uid": str(uuid.uuid4())}}
    await api.create_secret("news-credentials", owners=[controlled_by(earlier)])
    return {"name": "news-credentials"}


async def _a_secret_the_bot_owns_but_does_not_control(api: Api) -> dict[str, str]:
    return {"name": "news-credentials"}  # its ownerReference is added once the attacker's Bot exists


FOREIGN_SECRETS = {
    "the API's own": _the_apis_own_secret,
    "another tenant's bot's": _another_tenants_bots_secret,
    "an earlier Bot's of the same name": _an_earlier_bots_secret,
    "a non-controller owner's": _a_secret_the_bot_owns_but_does_not_control,
}


@pytest.mark.parametrize("whose", FOREIGN_SECRETS)
async def test_a_bot_made_with_kubectl_cannot_name_a_secret_it_does_not_control(
    running: Harness, whose: str
) -> None:
    api = running.api
    ref = await FOREIGN_SECRETS[whose](api)
    secret = ref["name"]
    bot = await api.create_bot("news", account={"handle": "me.example.com", "credentialsSecretRef": ref})
    if whose == "a non-controller owner's":
        await api.create_secret(secret, owners=[controlled_by(bot, controller=False)])

    # The non-controller owner's Secret is made after the Bot: SecretMissing may come first.
    condition = await ready(api, "news", "False", reason="SecretNotOwned")
    assert f"Secret {secret!r} is not controlled by this Bot" in condition["message"]
    assert "ownerReference" in condition["message"]
    assert (await api.condition("news", "CredentialsFound"))["reason"] == "SecretNotOwned"
    await posted(api, lambda e: e["reason"] == "SecretNotOwned" and e["involvedObject"]["name"] == "news")
    cron_job = await api.get("CronJob", "bot-news")
    assert cron_job["spec"]["suspend"] is True
    # Not even a run started by hand (kubectl create job --from, the API's run now) gets the value.
    assert secret not in json.dumps(cron_job["spec"])
    if whose == "another tenant's bot's":
        await ready(api, "victim")  # the victim's bot runs on as before
        victim = await api.get("CronJob", "bot-victim")
        assert _password_ref(victim) == {
            "secretKeyRef": {"name": "victim-credentials", "key": "app-password"}
        }


async def test_a_secret_counts_from_when_the_bot_controls_it_until_it_no_longer_does(
    running: Harness,
) -> None:
    api = running.api
    bot = await api.create_bot("news")
    await api.create_secret("news")  # made by hand, not yet the Bot's
    assert (await ready(api, "news", "False"))["reason"] == "SecretNotOwned"

    await api.patch("Secret", "news", {"metadata": {"ownerReferences": [controlled_by(bot)]}})
    await ready(api, "news")
    cron_job = await api.get("CronJob", "bot-news")
    assert cron_job["spec"]["suspend"] is False
    assert _password_ref(cron_job) == {"secretKeyRef": {"name": "news", "key": "app-password"}}

    await api.patch("Secret", "news", {"metadata": {"ownerReferences": None}})
    assert (await ready(api, "news", "False"))["reason"] == "SecretNotOwned"
    cron_job = await api.get("CronJob", "bot-news")
    assert cron_job["spec"]["suspend"] is True
    assert _password_ref(cron_job) is None

    # A Bot that runs, pointed at someone else's Secret: its CronJob drops the reference too.
    await api.patch("Secret", "news", {"metadata": {"ownerReferences": [controlled_by(bot)]}})
    await ready(api, "news")
    ref = await _the_apis_own_secret(api)
    await api.patch("Bot", "news", {"spec": {"account": {"credentialsSecretRef": ref}}})
    assert (await ready(api, "news", "False"))["reason"] == "SecretNotOwned"
    assert "skybots-api" not in json.dumps((await api.get("CronJob", "bot-news"))["spec"])


async def test_children_present_before_the_bot_was_seen_are_adopted(harness: Harness) -> None:
    """A CronJob of this Bot's that lost its labels: the create gets 409, the operator patches it."""
    api = harness.api
    bot = await api.create_bot("news")
    await api.create_secret("news", owners=[controlled_by(bot)])
    await _unlabelled_children(api, bot, "CronJob")
    async with harness.running():
        await ready(api, "news")
        cron_job = await api.get("CronJob", "bot-news")
        assert cron_job["spec"]["schedule"] == "*/15 * * * *"
        assert cron_job["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "skybots-operator"
    refused = [
        r for r in operator_requests(harness.cluster) if r.method.value == "POST" and "cronjobs" in r.url.path
    ]
    assert len(refused) == 1  # the 409, then a patch


async def test_a_name_held_by_a_stranger_is_not_taken(running: Harness) -> None:
    api = running.api
    await api.create(
        "CronJob",
        {
            "apiVersion": "batch/v1",
            "metadata": {"name": "bot-news"},
            "spec": {
                "schedule": "0 0 * * *",
                "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}},
            },
        },
    )
    await api.create_secret("news", owners=[controlled_by(await api.create_bot("news"))])
    condition = await ready(api, "news", "False")
    assert condition["reason"] == "NameConflict"
    assert (await api.get("CronJob", "bot-news"))["spec"]["schedule"] == "0 0 * * *"

    await api.delete("CronJob", "bot-news")
    await ready(api, "news")


async def test_api_server_errors_are_retried_until_they_pass(running: Harness) -> None:
    api, cluster = running.api, running.cluster
    upcoming(cluster["post", CRONJOBS], 3) << internal_error("etcdserver: request timed out")
    await a_ready_bot(api, "news")
    assert await api.exists("CronJob", "bot-news")
    metrics = await running.metrics()
    assert 'skybots_operator_reconcile_errors_total{reason="InternalError"} 3.0' in metrics


async def test_an_invalid_spec_is_reported_and_the_last_valid_one_keeps_running(running: Harness) -> None:
    api, cluster = running.api, running.cluster
    await a_ready_bot(api, "news")

    # Valid for the CRD's pattern, not for cron: only the model can tell.
    await api.patch("Bot", "news", {"spec": {"schedule": "61 * * * *"}})
    condition = await ready(api, "news", "False")
    assert condition["reason"] == "InvalidSpec"
    assert "spec.schedule: bad minute" in condition["message"]
    assert condition["observedGeneration"] == 2
    assert (await api.get("CronJob", "bot-news"))["spec"]["schedule"] == "*/15 * * * *"
    await posted(api, lambda e: e["reason"] == "InvalidSpec" and e["type"] == "Warning")

    await settled(cluster)
    before = len(actions(cluster))
    await asyncio.sleep(1.5)
    assert actions(cluster)[before:] == []  # no retry storm: the spec must change first

    await api.patch("Bot", "news", {"spec": {"schedule": "1 * * * *"}})
    await ready(api, "news")
    assert (await api.get("CronJob", "bot-news"))["spec"]["schedule"] == "1 * * * *"


async def test_an_invalid_spec_gets_the_operators_new_image_on_its_last_valid_children(
    harness: Harness,
) -> None:
    api = harness.api
    async with harness.running():
        await a_ready_bot(api, "news")
        valid_config = (await api.get("ConfigMap", "bot-news"))["data"]
        await api.patch("Bot", "news", {"spec": {"schedule": "61 * * * *"}})  # only the model refuses it
        assert (await ready(api, "news", "False"))["reason"] == "InvalidSpec"
    harness.settings.reposter_image = "registry.example/skybots-reposter:1.3.0"

    async with harness.running():
        cron_job = await eventually(
            lambda: _with_image(api, "registry.example/skybots-reposter:1.3.0"), what="the new image"
        )
        assert cron_job["spec"]["schedule"] == "*/15 * * * *"  # still the last valid spec
        assert cron_job["spec"]["suspend"] is False
        assert (await api.get("ConfigMap", "bot-news"))["data"] == valid_config
        condition = await api.condition("news", "Ready")
        assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec")

        await api.delete("CronJob", "bot-news")  # and drift is undone, from the last valid spec too
        restored = await eventually(
            lambda: _with_image(api, "registry.example/skybots-reposter:1.3.0"), what="restored"
        )
        assert restored["spec"]["schedule"] == "*/15 * * * *"


async def test_a_spec_only_an_earlier_version_accepted_holds_the_bot_instead_of_running_the_old_image(
    harness: Harness,
) -> None:
    """The upgrade's own case: the spec, and the last valid one in the ConfigMap, are refused by this version."""
    api = harness.api
    async with harness.running():
        await a_ready_bot(api, "news")
    # As an earlier version left it: it took "61 * * * *" (a stand-in for what a stricter model refuses).
    await api.patch("Bot", "news", {"spec": {"schedule": "61 * * * *"}})
    config = (await api.get("ConfigMap", "bot-news"))["data"]["bot.json"]
    await api.patch(
        "ConfigMap", "bot-news", {"data": {"bot.json": config.replace("*/15 * * * *", "61 * * * *")}}
    )
    await api.patch("CronJob", "bot-news", {"spec": {"schedule": "61 * * * *"}})
    harness.settings.reposter_image = "registry.example/skybots-reposter:1.3.0"

    async with harness.running():
        cron_job = await eventually(
            lambda: _with_image(api, "registry.example/skybots-reposter:1.3.0"), what="the new image"
        )
        assert cron_job["spec"]["suspend"] is True
        assert _password_ref(cron_job) is None
        condition = await ready(api, "news", "False")
        assert condition["reason"] == "InvalidSpec"
        assert "runs are held" in condition["message"]
        assert "spec.schedule: bad minute" in condition["message"]

        await api.patch("Bot", "news", {"spec": {"schedule": "1 * * * *"}})  # fixed: it runs again
        await ready(api, "news")
        cron_job = await api.get("CronJob", "bot-news")
        assert (cron_job["spec"]["schedule"], cron_job["spec"]["suspend"]) == ("1 * * * *", False)


async def test_a_bot_with_a_pattern_re2_cannot_run_is_invalid_and_gets_no_cronjob(running: Harness) -> None:
    """Made with kubectl, past the CRD (which cannot parse regexes): the operator refuses it."""
    api = running.api
    await api.create_secret("echo")
    await api.create_bot("echo", filters={"excludePatterns": ["spam", r"(\w+) \1"]})
    condition = await ready(api, "echo", "False")
    assert condition["reason"] == "InvalidSpec"
    assert "spec.filters.excludePatterns[1]:" in condition["message"]
    assert "backreferences are not supported" in condition["message"]
    assert not await api.exists("CronJob", "bot-echo")


async def test_a_bot_made_with_kubectl_past_the_platforms_bounds_is_held_naming_the_field(
    running: Harness,
) -> None:
    api = running.api
    greedy = await api.create_bot("greedy", schedule="0,1 * * * *")  # the CRD cannot know the bounds
    await api.create_secret("greedy", owners=[controlled_by(greedy)])
    condition = await ready(api, "greedy", "False")
    assert condition["reason"] == "InvalidSpec"
    assert "spec.schedule: '0,1 * * * *' has runs 1 minute apart" in condition["message"]
    assert "at least 5 minutes apart" in condition["message"]
    assert not await api.exists("CronJob", "bot-greedy")
    assert not await api.exists("ConfigMap", "bot-greedy")

    await a_ready_bot(api, "news")
    many = [{"type": "hashtag", "tag": f"tag{n}", "maxPages": 10} for n in range(10)]
    await api.patch("Bot", "news", {"spec": {"sources": many}})
    condition = await ready(api, "news", "False")
    assert condition["reason"] == "InvalidSpec"
    assert "spec.sources: the sources read up to 100 pages a run" in condition["message"]
    assert condition["observedGeneration"] == 2
    config = (await api.get("ConfigMap", "bot-news"))["data"]["bot.json"]
    assert "tag9" not in config  # the last valid spec keeps running

    await api.patch("Bot", "greedy", {"spec": {"schedule": "*/5 * * * *"}})
    await ready(api, "greedy")
    assert (await api.get("CronJob", "bot-greedy"))["spec"]["schedule"] == "*/5 * * * *"


async def test_a_bot_past_bounds_set_after_it_was_made_is_held_not_left_running(harness: Harness) -> None:
    """The upgrade that brings the bounds: a bot running every minute does not keep its CronJob."""
    api = harness.api
    harness.settings.min_run_interval_minutes = 1
    async with harness.running():
        await api.create_secret(
            "news", owners=[controlled_by(await api.create_bot("news", schedule="* * * * *"))]
        )
        await ready(api, "news")
    harness.settings.min_run_interval_minutes = 5

    async with harness.running():
        condition = await ready(api, "news", "False")
        assert condition["reason"] == "InvalidSpec"
        assert "runs are held" in condition["message"]
        assert "spec.schedule: '* * * * *' has runs 1 minute apart" in condition["message"]
        cron_job = await api.get("CronJob", "bot-news")
        assert cron_job["spec"]["suspend"] is True
        assert _password_ref(cron_job) is None

        await api.patch("Bot", "news", {"spec": {"schedule": "*/5 * * * *"}})
        await ready(api, "news")
        cron_job = await api.get("CronJob", "bot-news")
        assert (cron_job["spec"]["schedule"], cron_job["spec"]["suspend"]) == ("*/5 * * * *", False)


async def tenant_of(api: Api, name: str, labels: dict[str, str]) -> str:
    """The tenant the operator writes into the config of a Bot made with these labels."""
    bot = await api.create(
        "Bot",
        {
            "apiVersion": "skybots.dev/v1alpha1",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "account": {"handle": f"{name}.bsky.social", "credentialsSecretRef": {"name": name}},
                "sources": [{"type": "mentions"}],
            },
        },
    )
    await api.create_secret(name, owners=[controlled_by(bot)])
    await ready(api, name)
    return str(json.loads((await api.get("ConfigMap", f"bot-{name}"))["data"]["bot.json"])["tenant"])


@pytest.mark.parametrize("api_namespace", [NS, "skybots"], ids=["users-namespace", "other-namespace"])
async def test_runs_share_the_request_budget_as_their_owner_where_the_api_keeps_bots(
    harness: Harness, api_namespace: str
) -> None:
    """Only where the API keeps users' Bots does the owner label name the tenant: anywhere else, a
    tenant with kubectl could claim someone's share (or make up owners for more shares)."""
    harness.settings.api_namespace = api_namespace
    async with harness.running():
        claimed = await tenant_of(harness.api, "claimed", {"skybots.dev/owner": "alice"})
        unlabelled = await tenant_of(harness.api, "plain", {})
    assert claimed == ("user/alice" if api_namespace == NS else f"namespace/{NS}")
    assert unlabelled == f"namespace/{NS}"


async def test_a_restarted_operator_converges_and_a_converged_one_writes_nothing(harness: Harness) -> None:
    api, cluster = harness.api, harness.cluster
    async with harness.running():
        await a_ready_bot(api, "news")
        await a_ready_bot(api, "jobs")
        await a_ready_bot(api, "old")
        await api.patch("Bot", "old", {"spec": {"schedule": "61 * * * *"}})  # invalid: on its last valid spec
        await ready(api, "old", "False")

    # While the operator is away: a spec change, a deleted child, a new bot.
    await api.patch("Bot", "news", {"spec": {"schedule": "@daily"}})
    await api.delete("CronJob", "bot-jobs")
    await api.create_secret("art", owners=[controlled_by(await api.create_bot("art"))])

    async with harness.running():
        await eventually(lambda: _schedule(api, "news", "@daily"), what="news updated")
        await eventually(lambda: api.exists("CronJob", "bot-jobs"), what="jobs restored")
        await ready(api, "art")
        await settled(cluster)

    before = len(writes(operator_requests(cluster)))
    async with harness.running():
        await settled(cluster, quiet=1)
    assert writes(operator_requests(cluster))[before:] == []


async def test_a_new_reposter_image_reaches_every_bot_when_the_operator_restarts(harness: Harness) -> None:
    api = harness.api
    async with harness.running():
        await a_ready_bot(api, "news")
        await a_ready_bot(api, "jobs")
    harness.settings.reposter_image = "registry.example/skybots-reposter:1.3.0"

    async def image(bot: str) -> str:
        cron_job = await api.get("CronJob", f"bot-{bot}")
        return str(cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"])

    async def rolled_out() -> bool:
        return [await image("news"), await image("jobs")] == ["registry.example/skybots-reposter:1.3.0"] * 2

    async with harness.running():
        await eventually(rolled_out, what="the new image in both CronJobs")


# --- run results -------------------------------------------------------------------------------


async def test_a_finished_job_is_collected_into_status_history_metrics_and_events(running: Harness) -> None:
    api = running.api
    await a_ready_bot(api, "news")

    run = report(candidates=12, reposted=2, duplicates=1, rejected={"language": 4, "replies": 5}, apiCalls=4)
    await api.run_job("news", "bot-news-29000001", run)
    await eventually(lambda: _totals(api, "news", "runs", 1), what="run collected")

    status = (await api.get("Bot", "news"))["status"]
    assert status["lastRun"]["job"] == "bot-news-29000001"
    assert status["lastRun"]["outcome"] == "succeeded"
    assert (status["lastRun"]["reposted"], status["lastRun"]["rejected"]) == (2, 9)
    assert status["totals"] == {
        "runs": 1,
        "failedRuns": 0,
        "candidates": 12,
        "reposted": 2,
        "duplicates": 1,
        "rejected": 9,
    }
    assert (await api.condition("news", "Healthy"))["reason"] == "RunsSucceeding"

    job = await eventually(lambda: _collected(api, "bot-news-29000001"), what="job annotated")
    assert job["metadata"]["annotations"]["skybots.dev/collected"] == "true"
    records = await running.history().query(
        "team", "news", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
    )
    assert [(r.job, r.reposted, r.rejected) for r in records] == [
        ("bot-news-29000001", 2, {"language": 4, "replies": 5})
    ]

    metrics = await running.metrics()
    assert 'skybots_bot_reposts_total{bot="news",namespace="team"} 2.0' in metrics
    assert 'skybots_bot_rejections_total{bot="news",namespace="team",reason="language"} 4.0' in metrics
    assert 'skybots_bot_runs_total{bot="news",namespace="team",outcome="succeeded"} 1.0' in metrics
    assert 'skybots_bots{condition="Ready",status="True"} 1.0' in metrics
    await posted(api, lambda e: e["reason"] == "RunSucceeded" and "reposted 2 of 12" in e["message"])


async def test_runs_that_keep_failing_make_the_bot_unhealthy_and_a_success_heals_it(running: Harness) -> None:
    api = running.api
    await a_ready_bot(api, "news")

    await api.run_job("news", "bot-news-1", None, exit_code=4)  # no report: the exit code tells
    await eventually(lambda: _totals(api, "news", "failedRuns", 1), what="first failure")
    last = (await api.get("Bot", "news"))["status"]["lastRun"]
    assert last["outcome"] == "upstreamFailed"
    assert "left no report (exit code 4" in last["message"]
    assert (await api.condition("news", "Healthy"))["status"] == "Unknown"

    for n in (2, 3):
        await api.run_job(
            "news", f"bot-news-{n}", report("upstreamFailed", message="bsky.social answered 502")
        )
    await eventually(lambda: _totals(api, "news", "failedRuns", 3), what="three failures")
    healthy = await api.condition("news", "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "RunsFailing")
    assert "3 runs failed in a row" in healthy["message"]
    assert (await api.condition("news", "Ready"))["status"] == "True"  # runs fail, the bot is in place

    await api.run_job("news", "bot-news-4", report(reposted=1))
    await eventually(lambda: _reason(api, "news", "Healthy", "RunsSucceeding"), what="healed")
    assert (await api.get("Bot", "news"))["status"]["consecutiveFailures"] == 0


async def test_rejected_credentials_make_the_bot_not_ready_until_a_run_logs_in(running: Harness) -> None:
    api = running.api
    await a_ready_bot(api, "news")

    await api.run_job(
        "news",
        "bot-news-1",
        report("authFailed", message="AuthenticationRequired: Invalid identifier or password"),
    )
    condition = await ready(api, "news", "False")
    assert condition["reason"] == "CredentialsRejected"
    assert "Invalid identifier or password" in condition["message"]
    assert (await api.condition("news", "Healthy"))["reason"] == "CredentialsRejected"
    await posted(api, lambda e: e["reason"] == "RunFailed" and e["type"] == "Warning")
    # What the SkybotsCredentialsRejected alert watches: set from the bot's first run on.
    await eventually(lambda: _exports(running, last_outcome="authFailed"), what="authFailed exported")

    await api.run_job("news", "bot-news-2", report(reposted=1))
    await ready(api, "news")
    await eventually(lambda: _exports(running, last_outcome="succeeded"), what="succeeded exported")


async def test_a_restarted_operator_exports_each_bots_last_run_again_before_the_next_run(
    harness: Harness,
) -> None:
    """The alerts on a bot's state (failures in a row, its last outcome) hold across a deploy."""
    api = harness.api
    async with harness.running():
        await a_ready_bot(api, "news")
        await api.run_job(
            "news", "bot-news-1", report("authFailed", message="Invalid identifier or password")
        )
        await eventually(lambda: _exports(harness, last_outcome="authFailed"), what="authFailed exported")
    async with harness.running():
        await eventually(lambda: _exports(harness, last_outcome="authFailed"), what="exported again")
        metrics = await harness.metrics()
    assert 'skybots_bot_consecutive_failures{bot="news",namespace="team"} 1.0' in metrics
    assert "skybots_bot_runs_total{" not in metrics  # counters start again from the next run


async def test_a_job_half_collected_before_a_restart_is_not_counted_twice(harness: Harness) -> None:
    api = harness.api
    await api.create_secret("news", owners=[controlled_by(await api.create_bot("news"))])
    async with harness.running():
        await ready(api, "news")
    # Collected into status and history, then the operator stopped before annotating the Job.
    run = report(reposted=3, candidates=5)
    await api.run_job("news", "bot-news-1", run)
    await api.patch(
        "Bot",
        "news",
        {
            "status": {
                "lastRun": {"job": "bot-news-1", "outcome": "succeeded"},
                "totals": {"runs": 1, "reposted": 3},
            }
        },
        subresource="status",
    )
    async with harness.running():
        await eventually(lambda: _collected(api, "bot-news-1"), what="job annotated")
        await settled(harness.cluster)
    totals = (await api.get("Bot", "news"))["status"]["totals"]
    assert (totals["runs"], totals["reposted"]) == (1, 3)
    records = await harness.history().query(
        "team", "news", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
    )
    assert len(records) == 1


async def test_liveness_endpoint_answers(harness: Harness) -> None:
    port = free_port()
    harness.settings.liveness_endpoint = f"http://127.0.0.1:{port}/healthz"
    async with harness.running(), httpx.AsyncClient() as client:
        response = await eventually(lambda: client.get(f"http://127.0.0.1:{port}/healthz"), what="healthz")
        assert response.status_code == 200


async def test_the_shipped_rbac_grants_exactly_what_the_operator_uses(harness: Harness) -> None:
    """Every rule of manifests/base/operator-rbac.yaml is needed: a scenario that uses them all."""
    api = harness.api
    bot = await api.create_bot("news")
    await api.create_secret("news", owners=[controlled_by(bot)])
    await _unlabelled_children(api, bot, "ConfigMap", "CronJob")  # read after 409s
    async with harness.running():
        await ready(api, "news")
        await api.delete("CronJob", "bot-news")  # drift: the Bot is read back before restoring
        await eventually(lambda: api.exists("CronJob", "bot-news"), what="restored")
        await api.run_job("news", "bot-news-1", report(reposted=1))  # pods listed, the Job annotated
        await eventually(lambda: _collected(api, "bot-news-1"), what="collected")
    assert rbac_terms(operator_requests(harness.cluster)) == grants(OPERATOR, NS)


# --- helpers ---------------------------------------------------------------------------------


async def _exports(harness: Harness, last_outcome: str) -> bool:
    """The news bot's last-outcome gauge is 1 for `last_outcome` alone, among every outcome."""
    metrics = await harness.metrics()
    lines = (
        f'skybots_bot_last_run_outcome{{bot="news",namespace="team",outcome="{outcome}"}} '
        f"{1.0 if outcome == last_outcome else 0.0}"
        for outcome in OUTCOMES
    )
    return all(line in metrics for line in lines)


async def _unlabelled_children(api: Api, bot: dict[str, Any], *kinds: str) -> None:
    """Children of the Bot that lost their labels, so the operator's index does not see them."""
    metadata = {"name": f"bot-{bot['metadata']['name']}", "ownerReferences": [controlled_by(bot)]}
    bodies = {
        "ConfigMap": {"apiVersion": "v1", "metadata": metadata, "data": {}},
        "CronJob": {
            "apiVersion": "batch/v1",
            "metadata": metadata,
            "spec": {
                "schedule": "0 0 * * *",
                "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}},
            },
        },
    }
    for kind in kinds:
        await api.create(kind, bodies[kind])


async def _with_image(api: Api, image: str) -> dict[str, Any] | None:
    cron_job = await api.get("CronJob", "bot-news")
    containers = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return cron_job if containers[0]["image"] == image else None


def _password_ref(cron_job: dict[str, Any]) -> dict[str, Any] | None:
    """Where the CronJob's runs get the app password from, if anywhere."""
    [container] = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container.get("env", [])}
    return env["SKYBOTS_APP_PASSWORD"].get("valueFrom") if "SKYBOTS_APP_PASSWORD" in env else None


async def _schedule(api: Api, bot: str, schedule: str) -> bool:
    return bool((await api.get("CronJob", f"bot-{bot}"))["spec"]["schedule"] == schedule)


async def _collected(api: Api, job: str) -> dict[str, Any] | None:
    found = await api.get("Job", job)
    return found if "skybots.dev/collected" in (found["metadata"].get("annotations") or {}) else None


async def _observed(api: Api, bot: str, generation: int) -> bool:
    return bool((await api.get("Bot", bot)).get("status", {}).get("observedGeneration") == generation)


async def _cron_job_suspended(api: Api, value: bool) -> bool:
    return bool((await api.get("CronJob", "bot-news"))["spec"]["suspend"] is value)


async def posted(api: Api, match: Callable[[dict[str, Any]], bool]) -> None:
    """Kopf posts Events from a queue of its own, after the write a test waits for: wait for the Event too."""

    async def found() -> bool:
        return any(match(event) for event in await api.list("Event"))

    await eventually(found, what="the Event")


async def _reason(api: Api, bot: str, type_: str, reason: str) -> bool:
    return bool((await api.condition(bot, type_))["reason"] == reason)


async def _totals(api: Api, bot: str, field: str, value: int) -> bool:
    return bool((await api.get("Bot", bot)).get("status", {}).get("totals", {}).get(field) == value)
