"""The vendored CRDs of other projects say where they come from and refuse what their API would.

The manifests test checks our ServiceMonitors and PrometheusRules against these CRDs; these small
objects show that such a check passes good objects and catches the usual mistakes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.support.manifests import VENDORED_CRDS, crd_validator

MONITORING = "monitoring.coreos.com/v1"
VENDORED = {
    "argoproj.io_application-crd.yaml": ("argoproj/argo-cd", "applications.argoproj.io"),
    "argoproj.io_appproject-crd.yaml": ("argoproj/argo-cd", "appprojects.argoproj.io"),
    "monitoring.coreos.com_servicemonitors.yaml": (
        "prometheus-operator/prometheus-operator",
        "servicemonitors.monitoring.coreos.com",
    ),
    "monitoring.coreos.com_prometheusrules.yaml": (
        "prometheus-operator/prometheus-operator",
        "prometheusrules.monitoring.coreos.com",
    ),
}


@pytest.mark.parametrize(("file", "source"), VENDORED.items(), ids=VENDORED.keys())
def test_each_vendored_crd_names_its_source_and_is_that_crd(file: str, source: tuple[str, str]) -> None:
    repository, name = source
    path = VENDORED_CRDS / file
    assert path.is_file(), f"{file} belongs in {VENDORED_CRDS}"
    text = path.read_text()
    first_line = text.splitlines()[0]
    pattern = (
        rf"# Source: github\.com/{re.escape(repository)}, tag v[\d.]+ \(commit [0-9a-f]{{40}}\), \S+\.yaml"
    )
    assert re.fullmatch(pattern, first_line), first_line
    [crd] = [d for d in yaml.safe_load_all(text) if d]
    assert (crd["kind"], crd["metadata"]["name"]) == ("CustomResourceDefinition", name)


ENDPOINT = {"port": "metrics", "path": "/metrics", "interval": "30s"}


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


def prometheus_rule(*rules: dict[str, Any], groups: int = 1) -> dict[str, Any]:
    group = {"name": "skybots", "rules": list(rules)}
    return {
        "apiVersion": MONITORING,
        "kind": "PrometheusRule",
        "metadata": {"name": "skybots", "namespace": "skybots"},
        "spec": {"groups": [group] * groups},
    }


FAILING = {
    "alert": "SkybotsBotFailing",
    "expr": "skybots_bot_consecutive_failures > 3",
    "for": "15m",
    "labels": {"severity": "warning"},
    "annotations": {"summary": "Bot {{ $labels.bot }} keeps failing."},
}

VALID = {
    "ServiceMonitor": service_monitor({**ENDPOINT, "honorLabels": True}),
    "ServiceMonitor, target port as a number": service_monitor({"targetPort": 9090, "path": "/metrics"}),
    "PrometheusRule": prometheus_rule(FAILING, {"record": "skybots:reposts:rate5m", "expr": "1"}),
}
INVALID = {
    "ServiceMonitor, misspelt endpoint field": (
        service_monitor({**ENDPOINT, "intervall": "30s"}),
        "spec.endpoints[0].intervall",
    ),
    "ServiceMonitor, target port neither number nor name": (
        service_monitor({"targetPort": True}),
        "spec.endpoints[0].targetPort",
    ),
    "ServiceMonitor, no selector": (
        {**service_monitor(), "spec": {"endpoints": [{"port": "metrics"}]}},
        "spec.selector",
    ),
    "PrometheusRule, rule without expr": (
        prometheus_rule({key: value for key, value in FAILING.items() if key != "expr"}),
        "spec.groups[0].rules[0].expr",
    ),
    "PrometheusRule, two groups of one name": (prometheus_rule(FAILING, groups=2), "spec.groups[1]"),
}


@pytest.mark.parametrize("obj", VALID.values(), ids=VALID.keys())
def test_a_good_monitoring_object_passes_its_crd(obj: dict[str, Any]) -> None:
    assert crd_validator(obj["apiVersion"], obj["kind"]).errors(obj) == []


@pytest.mark.parametrize(("obj", "field"), INVALID.values(), ids=INVALID.keys())
def test_a_bad_monitoring_object_is_refused_naming_the_field(obj: dict[str, Any], field: str) -> None:
    errors = crd_validator(obj["apiVersion"], obj["kind"]).errors(obj)
    assert field in [path for path, _ in errors], errors
