"""The Kustomize manifests, checked offline as an API server would take them, and as we mean them."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

import skybots
from skybots.bots import BotSpec
from skybots.operator.rendering import render_cron_job
from skybots.reposter.config import ReposterSettings
from skybots.settings import ApiSettings, OperatorSettings
from tests.support.manifests import (
    MANIFESTS,
    OVERLAYS,
    bot_validator,
    build,
    named,
    objects,
    published,
    published_schema_errors,
)

KUBERNETES_VERSION = "1.37.0"
BUILDS = ["manifests/base", *(f"manifests/overlays/{overlay}" for overlay in OVERLAYS)]
SKYBOTS = Path(sys.executable).parent / "skybots"
POD_KINDS = ("Deployment", "StatefulSet", "Job")
PRIVATE_RANGES = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}
# What the reposter takes from the platform's Secrets, never from a ConfigMap.
PLATFORM_SECRETS = ("SKYBOTS_CREDENTIAL_KEY", "SKYBOTS_SESSION_KEYS", "SKYBOTS_REDIS_PASSWORD")


def _custom(obj: dict[str, Any]) -> bool:
    return obj["kind"] == "Bot" or published(obj)


def _pod_templates(path: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
        for o in build(path)
        if o["kind"] in POD_KINDS
    ]


def _reposter_pod(path: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The pod of a bot's CronJob, as the operator renders it with the overlay's settings."""
    _settings(path, monkeypatch)
    bot = {"metadata": {"name": "news", "namespace": "skybots", "uid": "u1"}, "spec": {}}
    spec = BotSpec.model_validate(
        {
            "account": {"handle": "news.bsky.social", "credentialsSecretRef": {"name": "news"}},
            "sources": [{"type": "mentions"}],
        }
    )
    cron_job = render_cron_job(bot, spec, OperatorSettings(), credentials_found=True)
    return dict(cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def _reposter_env(path: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    [container] = _reposter_pod(path, monkeypatch)["containers"]
    return {e["name"]: e for e in container["env"]}


def _secret_value(path: str, ref: dict[str, str]) -> str:
    secret = named(path, "Secret", ref["name"])
    if ref["key"] in secret.get("stringData", {}):
        return str(secret["stringData"][ref["key"]])
    return base64.b64decode(secret["data"][ref["key"]]).decode()


def _settings(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The overlay's settings ConfigMap and Secrets, as the pods' environment."""
    for obj in build(path):
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("skybots-settings"):
            for key, value in obj["data"].items():
                monkeypatch.setenv(key, value)


@pytest.mark.parametrize("path", BUILDS)
def test_every_object_passes_kubernetes_validate_strict(path: str) -> None:
    built = [o for o in build(path) if not _custom(o)]
    assert built
    for obj in built:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{obj['apiVersion']} {obj['kind']}: no schema (a custom kind: check it as one)")
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {error.message} at {list(error.path)}")


@pytest.mark.parametrize("path", BUILDS)
def test_every_custom_object_passes_its_crds_schema(path: str) -> None:
    custom = [o for o in build(path) if _custom(o)]
    bots = [o for o in custom if o["kind"] == "Bot"]
    others = [o for o in custom if published(o)]
    for obj in bots:
        assert bot_validator().errors(obj) == [], obj["metadata"]["name"]
    for obj, errors in zip(others, published_schema_errors(*others), strict=True):
        assert errors == [], f"{obj['kind']}/{obj['metadata']['name']}"


def test_prod_carries_the_monitoring_objects_and_dev_does_not() -> None:
    """kind has no Prometheus Operator: its kinds would not apply there."""
    prod = {o["kind"] for o in build("manifests/overlays/prod")}
    dev = {o["kind"] for o in build("manifests/overlays/dev")}
    assert {"ServiceMonitor", "PrometheusRule"} <= prod
    assert not {"ServiceMonitor", "PrometheusRule"} & dev


def test_the_example_bot_and_its_secret_apply_as_they_are() -> None:
    documents = [
        d
        for file in sorted((MANIFESTS / "examples").glob("*.yaml"))
        for d in yaml.safe_load_all(file.read_text())
    ]
    [bot] = [d for d in documents if d["kind"] == "Bot"]
    [secret] = [d for d in documents if d["kind"] == "Secret"]
    assert bot_validator().errors(bot) == []
    spec = BotSpec.model_validate(bot["spec"])
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)
    assert spec.account.credentials_secret_ref is not None
    assert secret["metadata"]["name"] == spec.account.credentials_secret_ref.name
    assert spec.account.credentials_secret_ref.key in secret["stringData"]
    assert secret["metadata"]["namespace"] == bot["metadata"]["namespace"] == "skybots"


@pytest.mark.parametrize("path", BUILDS)
def test_every_pod_meets_the_restricted_pod_security_standard(path: str) -> None:
    """The namespace enforces `restricted`: a pod that breaks it would never start."""
    [namespace] = objects(path, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for where, pod in _pod_templates(path):
        _assert_locked_down(where, pod)


def _assert_locked_down(where: str, pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True, where
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["capabilities"] == {"drop": ["ALL"]}, where
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
        assert "memory" in container["resources"]["limits"], where
        image = container["image"]
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag not in ("", "latest"), f"{where}: {image} is not pinned"


@pytest.mark.parametrize("path", BUILDS)
def test_the_reposter_pods_the_operator_makes_are_locked_down_too(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod = _reposter_pod(path, monkeypatch)
    _assert_locked_down("the reposter", pod)
    settings = OperatorSettings()
    [container] = pod["containers"]
    assert container["resources"]["limits"] == {
        "cpu": settings.reposter_cpu_limit,
        "memory": settings.reposter_memory_limit,
    }, "a run's CPU is bounded"
    # ...as the ServiceAccount the manifests make, which nothing grants anything.
    account = named(path, "ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False
    for binding in objects(path, "RoleBinding") + objects(path, "ClusterRoleBinding"):
        assert all(s["name"] != pod["serviceAccountName"] for s in binding["subjects"]), binding


@pytest.mark.parametrize("path", BUILDS)
def test_settings_are_real_settings_and_load(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    known = {
        f"SKYBOTS_{name.upper()}" for model in (OperatorSettings, ApiSettings) for name in model.model_fields
    }
    for obj in build(path):
        if obj["kind"] in ("ConfigMap", "Secret") and obj["metadata"]["name"].startswith("skybots-"):
            values = obj.get("data", {}) | obj.get("stringData", {})
            unknown = {k for k in values if k.startswith("SKYBOTS_")} - known
            assert not unknown, f"{obj['metadata']['name']}: {unknown} are no settings (a typo?)"
    _settings(path, monkeypatch)
    assert OperatorSettings().namespaces == [ApiSettings().namespace] == ["skybots"]


@pytest.mark.parametrize("path", BUILDS)
def test_every_namespaced_object_is_in_the_platforms_namespace(path: str) -> None:
    """`kubectl apply -k` puts an object without a namespace into the current one: never ours."""
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
    for obj in build(path):
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"].get("namespace") == "skybots", f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("path", BUILDS)
def test_every_object_carries_the_standard_labels(path: str) -> None:
    for obj in build(path):
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "skybots", (
            f"{obj['kind']}/{obj['metadata']['name']}"
        )
        assert labels.get("app.kubernetes.io/version") == skybots.__version__


@pytest.mark.parametrize("path", BUILDS)
def test_the_images_are_the_dockerfiles_targets_at_the_packages_version(path: str) -> None:
    ours = {
        c["image"] for _, pod in _pod_templates(path) for c in pod["containers"] if "skybots-" in c["image"]
    }
    targets = {image.rsplit("/", 1)[-1].split(":")[0].removeprefix("skybots-") for image in ours}
    assert targets == {"operator", "api"}
    if path != "manifests/overlays/dev":  # dev runs the images built for kind, tagged `dev`
        assert {image.split(":")[-1] for image in ours} == {skybots.__version__}
    dockerfile = (MANIFESTS.parent / "Dockerfile").read_text()
    for target in ("operator", "api", "reposter"):
        assert f"AS {target}\n" in dockerfile


@pytest.mark.parametrize("path", BUILDS)
def test_the_operator_runs_alone_and_its_probes_and_metrics_match_its_settings(path: str) -> None:
    deployment = named(path, "Deployment", "skybots-operator")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    settings = OperatorSettings()
    assert ports["metrics"] == settings.metrics_port
    probe = container["livenessProbe"]["httpGet"]
    assert f":{ports[probe['port']]}{probe['path']}" in settings.liveness_endpoint
    service = named(path, "Service", "skybots-operator")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("path", BUILDS)
def test_the_containers_arguments_are_ones_the_cli_takes(path: str) -> None:
    for name in ("skybots-operator", "skybots-api"):
        [container] = named(path, "Deployment", name)["spec"]["template"]["spec"]["containers"]
        result = subprocess.run(
            [SKYBOTS, *container["args"], "--help"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{name}: {container['args']}: {result.stderr}"


def test_prod_serves_two_api_replicas_over_tls_and_a_drain_takes_one_at_a_time() -> None:
    path = "manifests/overlays/prod"
    deployment = named(path, "Deployment", "skybots-api")
    assert deployment["spec"]["replicas"] == 2
    budget = named(path, "PodDisruptionBudget", "skybots-api")
    assert budget["spec"]["maxUnavailable"] == 1
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    ingress = named(path, "Ingress", "skybots-api")
    [tls] = ingress["spec"]["tls"]
    assert tls["hosts"] == [rule["host"] for rule in ingress["spec"]["rules"]]
    [config] = [o for o in objects(path, "ConfigMap") if o["metadata"]["name"].startswith("skybots-settings")]
    assert config["data"]["SKYBOTS_PUBLIC_URL"] == f"https://{tls['hosts'][0]}"
    roles = {
        a["metadata"]["name"]: a["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        for a in objects(path, "ServiceAccount")
    }
    assert set(roles) == {"skybots-operator", "skybots-api", "skybots-reposter"}
    assert len(set(roles.values())) == 3  # one role each: least privilege per process kind


@pytest.mark.parametrize("path", BUILDS)
def test_the_ingress_refuses_the_bodies_the_api_refuses(path: str) -> None:
    """nginx answers 413 before a body over the API's limit reaches a pod."""
    from skybots.api.body_limit import MAX_BODY_BYTES

    annotations = named(path, "Ingress", "skybots-api")["metadata"].get("annotations", {})
    assert annotations.get("nginx.ingress.kubernetes.io/proxy-body-size") == f"{MAX_BODY_BYTES // 1024}k"


@pytest.mark.parametrize("path", BUILDS)
def test_the_reposter_takes_its_keys_and_the_redis_password_from_secrets_never_a_config_map(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _reposter_env(path, monkeypatch)
    refs = {name: env[name]["valueFrom"]["secretKeyRef"] for name in PLATFORM_SECRETS}
    assert not [ref for ref in refs.values() if ref.get("optional")], "a run without them must not start"
    assert urlsplit(env["SKYBOTS_REDIS_URL"]["value"]).password is None
    for config_map in objects(path, "ConfigMap"):
        data = config_map.get("data", {})
        assert not set(PLATFORM_SECRETS) & set(data), config_map["metadata"]["name"]
        assert all(urlsplit(v).password is None for k, v in data.items() if "REDIS" in k)
    if path == "manifests/overlays/dev":  # development Secrets: with them, the reposter's environment loads
        values = {name: _secret_value(path, ref) for name, ref in refs.items()}
        settings = ReposterSettings.from_environ({**values, "SKYBOTS_APP_PASSWORD": "abcd-efgh-ijkl-mnop"})
        assert settings.redis_password is not None
    else:  # prod: made outside, like the API's Secret, and operations.md says how
        names = {o["metadata"]["name"] for o in objects(path, "Secret")}
        assert not {ref["name"] for ref in refs.values()} & names
        operations = (MANIFESTS.parent / "docs" / "operations.md").read_text()
        for ref in refs.values():
            assert f"create secret generic {ref['name']}" in operations
            assert f"--from-literal={ref['key']}=" in operations


@pytest.mark.parametrize("path", BUILDS)
def test_redis_asks_for_the_password_its_clients_are_given(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    [redis] = named(path, "Deployment", "skybots-redis")["spec"]["template"]["spec"]["containers"]
    args = redis["args"]
    variable = args[args.index("--requirepass") + 1].removeprefix("$(").removesuffix(")")
    assert variable == "REDISCLI_AUTH"  # redis-cli (the readiness probe) authenticates with it too
    [given] = [e for e in redis["env"] if e["name"] == variable]
    reposter = _reposter_env(path, monkeypatch)
    assert given["valueFrom"] == reposter["SKYBOTS_REDIS_PASSWORD"]["valueFrom"]
    assert redis["readinessProbe"]["exec"]["command"][0] == "redis-cli"


def test_prod_keeps_redis_on_a_volume_and_dev_does_not() -> None:
    prod = named("manifests/overlays/prod", "Deployment", "skybots-redis")["spec"]["template"]["spec"]
    dev = named("manifests/overlays/dev", "Deployment", "skybots-redis")["spec"]["template"]["spec"]
    [prod_data] = [v for v in prod["volumes"] if v["name"] == "data"]
    claim = named(
        "manifests/overlays/prod", "PersistentVolumeClaim", prod_data["persistentVolumeClaim"]["claimName"]
    )
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "emptyDir" not in prod_data
    assert prod["containers"][0]["args"][prod["containers"][0]["args"].index("--appendonly") + 1] == "yes"
    assert [v for v in dev["volumes"] if v["name"] == "data"] == [{"name": "data", "emptyDir": {}}]


def _policies_for(path: str, component: str) -> list[dict[str, Any]]:
    """The NetworkPolicies that select the pods of a component (an empty selector selects all)."""
    found = []
    for policy in objects(path, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]
        wanted = selector.get("matchLabels", {})
        expressions = selector.get("matchExpressions", [])
        labels = {"app.kubernetes.io/name": "skybots", "app.kubernetes.io/component": component}
        if wanted.items() <= labels.items() and all(labels.get(e["key"]) in e["values"] for e in expressions):
            found.append(policy)
    return found


@pytest.mark.parametrize("path", BUILDS)
def test_the_reposter_reaches_only_dns_redis_and_the_public_internet(path: str) -> None:
    policies = _policies_for(path, "reposter")
    assert any(p["metadata"]["name"] == "default-deny" for p in policies)
    assert not [rule for p in policies for rule in p["spec"].get("ingress", [])]
    allowed = [
        (peer, port["port"])
        for p in policies
        for rule in p["spec"].get("egress", [])
        for peer in rule.get("to", [{}])
        for port in rule["ports"]
    ]
    for peer, port in allowed:
        if "ipBlock" in peer:
            assert port == 443
            assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
            assert set(peer["ipBlock"]["except"]) >= PRIVATE_RANGES, (
                "the cluster and cloud metadata stay out of reach"
            )
        elif port == 53:
            assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
        else:
            component = peer["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
            assert (component, port) in {("redis", 6379), ("aws-stand-in", 5000)}, (peer, port)
    assert ("aws-stand-in" in str(allowed)) == (path == "manifests/overlays/dev")


@pytest.mark.parametrize("path", BUILDS)
def test_each_service_port_is_open_to_what_needs_it_and_nothing_else_is(path: str) -> None:
    for service in objects(path, "Service"):
        component = service["metadata"]["labels"]["app.kubernetes.io/component"]
        pods = [
            o["spec"]["template"]
            for o in objects(path, "Deployment")
            if o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == component
        ]
        [pod] = pods
        numbers = {p["name"]: p["containerPort"] for c in pod["spec"]["containers"] for p in c["ports"]}
        served = {numbers[p["targetPort"]] for p in service["spec"]["ports"]}
        open_ports = {
            port["port"]
            for p in _policies_for(path, component)
            for rule in p["spec"].get("ingress", [])
            for port in rule["ports"]
        }
        assert open_ports == served, f"{component}: service ports {served}, open {open_ports}"


@pytest.mark.parametrize("path", BUILDS)
def test_the_api_reaches_the_reposters_redis_with_its_password_from_the_secret(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting an account deletes its bots' state in Redis: the API has its address, its password and a way there."""
    _settings(path, monkeypatch)
    assert ApiSettings().redis_url == OperatorSettings().redis_url
    [container] = named(path, "Deployment", "skybots-api")["spec"]["template"]["spec"]["containers"]
    [password] = [e for e in container["env"] if e["name"] == "SKYBOTS_REDIS_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"] == {
        "name": OperatorSettings().redis_password_secret,
        "key": "password",
    }
    egress = [
        (peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component"), port["port"])
        for p in _policies_for(path, "api")
        for rule in p["spec"].get("egress", [])
        for peer in rule.get("to", [{}])
        for port in rule["ports"]
    ]
    assert ("redis", 6379) in egress
    ingress = [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in _policies_for(path, "redis")
        for rule in p["spec"].get("ingress", [])
        for peer in rule["from"]
    ]
    assert sorted(ingress) == ["api", "reposter"]
