"""Argo CD's and Prometheus Operator's published schemas pass good objects and catch usual mistakes.

The manifests tests check our ServiceMonitors, PrometheusRule, AppProject and Applications against
them (npm kubernetes-models, generated from those projects' CRDs: tools/published-schemas).
Unlike the API server they do not refuse unknown fields: a misspelt optional field goes unseen.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.manifests import published_schema_errors

MONITORING = "monitoring.coreos.com/v1"
ENDPOINT = {"port": "metrics", "path": "/metrics", "interval": "30s"}
FAILING = {
    "alert": "SkybotsBotFailing",
    "expr": "skybots_bot_consecutive_failures > 3",
    "for": "15m",
    "labels": {"severity": "warning"},
    "annotations": {"summary": "Bot {{ $labels.bot }} keeps failing."},
}


def service_monitor(endpoint: dict[str, Any] = ENDPOINT) -> dict[str, Any]:
    return {
        "apiVersion": MONITORING,
        "kind": "ServiceMonitor",
        "metadata": {"name": "skybots-operator", "namespace": "skybots"},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/component": "operator"}},
            "endpoints": [endpoint],
        },
    }


def prometheus_rule(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": MONITORING,
        "kind": "PrometheusRule",
        "metadata": {"name": "skybots", "namespace": "skybots"},
        "spec": {"groups": [{"name": "skybots", "rules": list(rules)}]},
    }


def application(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "skybots", "namespace": "argocd"},
        "spec": {
            "project": "skybots",
            "source": {"repoURL": "https://github.com/skybots/skybots.git", "path": "manifests/overlays/dev"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "skybots"},
            **spec,
        },
    }


VALID = {
    "ServiceMonitor": service_monitor({**ENDPOINT, "honorLabels": True}),
    "ServiceMonitor, target port as a number": service_monitor({"targetPort": 9090, "path": "/metrics"}),
    "PrometheusRule": prometheus_rule(FAILING, {"record": "skybots:reposts:rate5m", "expr": "1"}),
    "Application": application(syncPolicy={"automated": {"prune": True, "selfHeal": True}}),
}
INVALID = {
    "ServiceMonitor, honorLabels not a boolean": (
        service_monitor({**ENDPOINT, "honorLabels": "yes"}),
        "/spec/endpoints/0/honorLabels",
    ),
    "ServiceMonitor, no selector": (
        {**service_monitor(), "spec": {"endpoints": [{"port": "metrics"}]}},
        "/spec must have required property selector",
    ),
    "PrometheusRule, rule without expr": (
        prometheus_rule({key: value for key, value in FAILING.items() if key != "expr"}),
        "/spec/groups/0/rules/0 must have required property expr",
    ),
    "Application, no project": (
        {**application(), "spec": {k: v for k, v in application()["spec"].items() if k != "project"}},
        "/spec must have required property project",
    ),
    "Application, prune not a boolean": (
        application(syncPolicy={"automated": {"prune": "true"}}),
        "/spec/syncPolicy/automated/prune",
    ),
    "a kind nobody published": ({**service_monitor(), "kind": "ServiceMonitr"}, "no published schema"),
}


def test_good_objects_pass_their_published_schemas() -> None:
    assert published_schema_errors(*VALID.values()) == [[] for _ in VALID]


@pytest.mark.parametrize(("obj", "expected"), INVALID.values(), ids=INVALID.keys())
def test_a_bad_object_is_refused_naming_the_field(obj: dict[str, Any], expected: str) -> None:
    [errors] = published_schema_errors(obj)
    assert any(expected in error for error in errors), errors
