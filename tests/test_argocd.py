"""Argo CD's side: the Bot health check as Argo CD runs it, the project and Applications as built.

The health check runs in Lua 5.1 (Argo CD's gopher-lua is 5.1) with only the libraries Argo CD
opens for it, on Bot statuses shaped by the operator's own status code. The project must allow
exactly what the overlays deploy, so a new kind is a decision made here, not a failed sync.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa.lua51 import LuaError, LuaRuntime

from skybots.bots import BotStatus
from skybots.crd import bot_crd
from skybots.operator.status import READY, RECONCILED, dump, set_condition
from tests.support.crd_validation import CrdValidator
from tests.support.manifests import (
    OVERLAYS,
    ROOT,
    bot_validator,
    build,
    named,
    objects,
    published_schema_errors,
)

HEALTH_LUA = (ROOT / "argocd" / "base" / "bot-health.lua").read_text()
HEALTH_KEY = "resource.customizations.health.skybots.dev_Bot"
REPO = "https://github.com/skybots/skybots.git"
IN_CLUSTER = "https://kubernetes.default.svc"
PROTECTED = "Prune=false,Delete=false"


def argo_cd_lua() -> Any:
    """Lua 5.1 with what Argo CD opens for a health check (util/lua/lua.go: base, table, package
    and a safe os) and nothing more, so a script needing more fails here as it would there."""
    lua = LuaRuntime()
    lua.execute('debug.setmetatable("", nil)')  # no string methods: s:sub() needs the string library
    lua.execute("string, math, io, os, debug, coroutine = nil")
    return lua


def argo_health(bot: dict[str, Any]) -> tuple[str, str]:
    """(status, message) of the health check on `bot`, run the way Argo CD runs it."""
    lua = argo_cd_lua()
    lua.globals().obj = lua.table_from(bot, recursive=True)
    result = lua.execute(HEALTH_LUA)
    return result["status"], result["message"]


def bot(
    generation: int = 3,
    observed: int | None = 3,
    ready: tuple[bool | None, str, str] | None = (True, "Ready", "The bot's CronJob is in place."),
    suspend: bool = False,
) -> dict[str, Any]:
    """A Bot with a status shaped by the operator's code: `ready` is (value, reason, message)."""
    status = BotStatus(observed_generation=observed)
    set_condition(status, RECONCILED, True, "Reconciled", "ConfigMap and CronJob match the spec", observed)
    if ready is not None:
        set_condition(status, READY, *ready, observed)
    return {
        "apiVersion": "skybots.dev/v1alpha1",
        "kind": "Bot",
        "metadata": {"name": "news", "namespace": "skybots", "generation": generation},
        "spec": {
            "account": {"handle": "news.bsky.social", "credentialsSecretRef": {"name": "news"}},
            "sources": [{"type": "hashtag", "tag": "kubernetes"}],
            "suspend": suspend,
        },
        "status": dump(status),
    }


def without_status(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key != "status"}


MISSING = (False, "SecretMissing", 'Secret "news" does not exist.')
HEALTH_CASES = {
    "ready and current": (bot(), "Healthy", "The bot's CronJob is in place."),
    "ready for an older spec": (
        bot(generation=4, observed=3),
        "Progressing",
        "Waiting for the operator to reconcile generation 4 (it last reconciled 3)",
    ),
    "no status yet": (
        without_status(bot()),
        "Progressing",
        "Waiting for the operator to reconcile the bot",
    ),
    "observed but no Ready yet": (bot(ready=None), "Progressing", "Waiting for the Ready condition"),
    "not ready": (bot(ready=MISSING), "Degraded", 'SecretMissing: Secret "news" does not exist.'),
    "not ready, no message": (bot(ready=(False, "InvalidSpec", "")), "Degraded", "InvalidSpec"),
    "not ready for an older spec": (
        bot(generation=5, observed=4, ready=MISSING),
        "Progressing",
        "Waiting for the operator to reconcile generation 5 (it last reconciled 4)",
    ),
    "ready unknown": (
        bot(ready=(None, "Pending", "Checking.")),
        "Progressing",
        "Ready is Unknown: Pending: Checking.",
    ),
    "suspended": (bot(suspend=True), "Suspended", "Suspended by spec.suspend"),
    "suspended and not ready": (
        bot(suspend=True, ready=MISSING),
        "Suspended",
        'Suspended by spec.suspend; not ready: SecretMissing: Secret "news" does not exist.',
    ),
    "suspended, not yet observed": (
        without_status(bot(suspend=True)),
        "Suspended",
        "Suspended by spec.suspend",
    ),
}


@pytest.mark.parametrize(("obj", "status", "message"), HEALTH_CASES.values(), ids=HEALTH_CASES.keys())
def test_bot_health_as_argo_cd_shows_it(obj: dict[str, Any], status: str, message: str) -> None:
    assert argo_health(obj) == (status, message)


def test_the_fixture_bots_are_bots_the_crd_admits() -> None:
    """The health cases are shaped like real Bots, so the Lua reads the fields the CRD has."""
    validator = bot_validator()
    for obj, _, _ in HEALTH_CASES.values():
        assert validator.errors(obj) == []


@pytest.mark.parametrize(
    "script", ['return string.format("%d", 1)', 'return ("a"):upper()', "return math.max(1, 2)"]
)
def test_the_stand_in_for_argo_cds_lua_lacks_what_argo_cd_lacks(script: str) -> None:
    with pytest.raises(LuaError):
        argo_cd_lua().execute(script)


ARGOCD_BUILDS = [f"argocd/{overlay}" for overlay in OVERLAYS]


def application(overlay: str) -> dict[str, Any]:
    [app] = objects(f"argocd/{overlay}", "Application")
    return app


def project() -> dict[str, Any]:
    return named("argocd/base", "AppProject", "skybots")


def group_kind(obj: dict[str, Any]) -> tuple[str, str]:
    api_version: str = obj["apiVersion"]
    return (api_version.rpartition("/")[0], obj["kind"])


def whitelist(entries: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(entry["group"], entry["kind"]) for entry in entries}


@pytest.mark.parametrize("path", ARGOCD_BUILDS)
def test_argocd_cm_gets_the_health_check_exactly_as_written(path: str) -> None:
    config = named(path, "ConfigMap", "argocd-cm")
    assert config["metadata"]["namespace"] == "argocd"
    assert config["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"  # Argo CD reads by it
    assert config["data"] == {HEALTH_KEY: HEALTH_LUA}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_cluster_gets_one_application_syncing_its_overlay(overlay: str) -> None:
    app = application(overlay)
    assert (app["metadata"]["name"], app["metadata"]["namespace"]) == (f"skybots-{overlay}", "argocd")
    assert app["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    spec = app["spec"]
    assert spec["project"] == "skybots"
    assert spec["source"] == {
        "repoURL": REPO,
        "targetRevision": "main",
        "path": f"manifests/overlays/{overlay}",
    }
    assert spec["destination"] == {"server": IN_CLUSTER, "namespace": "skybots"}
    policy = spec["syncPolicy"]
    assert policy["automated"] == {"prune": True, "selfHeal": True}
    assert policy["syncOptions"] == ["ServerSideApply=true"]  # no CreateNamespace: the overlay has it
    assert policy["retry"]["limit"] > 0
    assert policy["retry"]["backoff"]["factor"] > 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_applications_path_is_a_kustomization_in_the_repository(overlay: str) -> None:
    path = Path(application(overlay)["spec"]["source"]["path"])
    assert (ROOT / path / "kustomization.yaml").is_file()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_project_allows_the_applications_source_and_destination(overlay: str) -> None:
    spec, allowed = application(overlay)["spec"], project()["spec"]
    assert spec["source"]["repoURL"] in allowed["sourceRepos"]
    assert spec["destination"] in allowed["destinations"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_argo_cd_objects_pass_argo_cds_published_schemas(overlay: str) -> None:
    argo = [obj for obj in build(f"argocd/{overlay}") if obj["apiVersion"].startswith("argoproj.io/")]
    assert {obj["kind"] for obj in argo} == {"AppProject", "Application"}
    assert published_schema_errors(*argo) == [[], []]


@pytest.fixture(scope="module")
def deployed_kinds(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, set[tuple[str, str]]]:
    """The (group, kind)s both overlays deploy, by whether they are namespaced, as Kustomize knows it.

    A `namespace:` laid over an overlay puts every object of a namespaced kind into that namespace
    and leaves the cluster-scoped ones without (custom kinds count as namespaced: Kustomize does
    not read CRDs' scope).
    """
    kinds: dict[bool, set[tuple[str, str]]] = {True: set(), False: set()}
    for overlay in OVERLAYS:
        probe = tmp_path_factory.mktemp(f"scope-{overlay}")
        resource = os.path.relpath(ROOT / "manifests" / "overlays" / overlay, probe)
        (probe / "kustomization.yaml").write_text(
            yaml.safe_dump({"namespace": "probe", "resources": [resource]})
        )
        for obj in build(str(probe)):
            kinds["namespace" in obj["metadata"]].add(group_kind(obj))
    return kinds


def test_the_project_whitelists_exactly_the_kinds_the_overlays_deploy(
    deployed_kinds: dict[bool, set[tuple[str, str]]],
) -> None:
    """Every kind of either overlay is allowed (else its sync fails), and nothing else is."""
    spec = project()["spec"]
    assert whitelist(spec["clusterResourceWhitelist"]) == deployed_kinds[False]
    assert whitelist(spec["namespaceResourceWhitelist"]) == deployed_kinds[True]


def test_every_namespaced_object_goes_where_the_project_lets_it() -> None:
    """An object without a namespace goes to the Application's destination namespace, skybots."""
    namespaces = {d["namespace"] for d in project()["spec"]["destinations"]}
    for overlay in OVERLAYS:
        for obj in build(f"manifests/overlays/{overlay}"):
            assert obj["metadata"].get("namespace", "skybots") in namespaces, obj["metadata"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize(
    ("kind", "name"), [("CustomResourceDefinition", "bots.skybots.dev"), ("Namespace", "skybots")]
)
def test_what_holds_users_bots_survives_prune_and_application_deletion(
    overlay: str, kind: str, name: str
) -> None:
    annotations = named(f"manifests/overlays/{overlay}", kind, name)["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/sync-options"] == PROTECTED


def test_the_crd_syncs_first_and_is_otherwise_the_generated_one() -> None:
    [crd] = build("crds")
    metadata = {key: value for key, value in crd["metadata"].items() if key != "annotations"}
    assert crd["metadata"]["annotations"] == {
        "argocd.argoproj.io/sync-wave": "-1",
        "argocd.argoproj.io/sync-options": PROTECTED,
    }
    assert {**crd, "metadata": metadata} == bot_crd()


def test_the_crd_as_argo_cd_applies_it_refuses_a_hashtag_with_a_next_line_character() -> None:
    """U+0085 once reached the API server as a space: Kustomize rewrites the character itself."""
    [crd] = build("crds")
    spec = {"account": {"handle": "news.bsky.social", "credentialsSecretRef": {"name": "news"}}}
    hashtag = {**bot(), "spec": {**spec, "sources": [{"type": "hashtag", "tag": "kube\x85rnetes"}]}}
    [(field, _)] = CrdValidator(crd).errors(hashtag)
    assert field == "spec.sources[0].tag"
