"""The monitoring Component: its alerts run in promtool, and every query reads series the code exports.

The PrometheusRule is the one copy of the rule groups: its `spec` goes to promtool as a rules file.
Metric and label names come from the operator's and the API's own registries, fed one run and one
request, so a renamed metric breaks this test rather than a dashboard in production.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from skybots.api.observability import Metrics as ApiMetrics
from skybots.bots import BotStatus
from skybots.operator.metrics import Metrics as OperatorMetrics
from skybots.operator.status import apply_run
from skybots.runs import RunReport
from tests.support.manifests import build
from tests.support.promql import Query, Selector, label_values, parse

ROOT = Path(__file__).resolve().parents[1]
COMPONENT = ROOT / "manifests" / "components" / "monitoring"
RULES = COMPONENT / "prometheusrule.yaml"
DASHBOARD = COMPONENT / "dashboard.json"
RULE_TESTS = ROOT / "tests" / "fixtures" / "monitoring" / "rules.test.yaml"
RUNBOOKS = ROOT / "docs" / "monitoring.md"

# What the lead's base gives the Services (see docs/monitoring.md).
SERVICES = {
    "skybots-operator": (
        {"app.kubernetes.io/name": "skybots", "app.kubernetes.io/component": "operator"},
        "metrics",
    ),
    "skybots-api": ({"app.kubernetes.io/name": "skybots", "app.kubernetes.io/component": "api"}, "metrics"),
}
# Labels Prometheus puts on every series scraped through a ServiceMonitor, and its own `up`.
TARGET_LABELS = frozenset({"job", "instance", "namespace", "service", "pod", "container", "endpoint"})
BUILTIN = {"up": TARGET_LABELS}


# --- what the code exports ----------------------------------------------------------------------


def _samples(registry: CollectorRegistry) -> dict[str, frozenset[str]]:
    """Sample name -> label names, failing on a metric family the caller did not feed."""
    names: defaultdict[str, set[str]] = defaultdict(set)
    for family in registry.collect():
        assert family.samples, f"{family.name} has no samples: feed it in exported_metrics()"
        for sample in family.samples:
            names[sample.name].update(sample.labels)
    return {name: frozenset(labels) for name, labels in names.items()}


def exported_metrics() -> dict[str, frozenset[str]]:
    """Every sample name the operator and the API export, with its labels, after one run and one request."""
    operator = OperatorMetrics()
    started = datetime(2025, 1, 1, tzinfo=UTC)
    run = RunReport(
        outcome="succeeded",
        started_at=started,
        finished_at=started + timedelta(seconds=3),
        rejected={"language": 1},
    )
    status = BotStatus()
    apply_run(status, "bot-news-1", run, threshold=3, generation=1)
    operator.record_run(("team", "news"), run)
    operator.observe_status(("team", "news"), status)
    operator.reconciles.labels("ready").inc()
    operator.reconcile_errors.labels("Forbidden").inc()
    operator.reconcile_seconds.observe(0.01)
    api = ApiMetrics()
    api.requests.labels("/api/bots", "GET", "200").inc()
    api.latency.labels("/api/bots", "GET").observe(0.01)
    api.owners = lambda: ["someone"]
    return {**_samples(operator.registry), **_samples(api.registry), **BUILTIN}


@pytest.fixture(scope="module")
def exported() -> dict[str, frozenset[str]]:
    return exported_metrics()


def test_the_exported_metrics_are_read_from_the_registries(exported: dict[str, frozenset[str]]) -> None:
    """Counters and histograms expose their suffixed samples; labels include the bucket's `le`."""
    assert exported["skybots_bot_runs_total"] == {"namespace", "bot", "outcome"}
    assert exported["skybots_bot_run_duration_seconds_bucket"] == {"namespace", "bot", "le"}
    assert "skybots_api_request_duration_seconds_count" in exported
    assert exported["skybots_bots"] == {"condition", "status"}
    assert "skybots_bot_runs" not in exported  # the family's name is no sample


# --- the rules ----------------------------------------------------------------------------------


def rule_groups() -> list[dict[str, Any]]:
    rule = yaml.safe_load(RULES.read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recorded() -> dict[str, frozenset[str]]:
    """Series the recording rules make, labelled by their expression's `by`, as if exported."""
    return {rule["record"]: parse(rule["expr"]).grouping for rule in rules() if "record" in rule}


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The PrometheusRule's groups as a plain rules file, with the promtool test cases beside it."""
    (tmp_path / "skybots.rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    return tmp_path


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("promtool")
    assert executable, "promtool is missing: make system-packages installs Debian's prometheus"
    return subprocess.run([executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rules(rules_dir: Path) -> None:
    result = promtool("check", "rules", "skybots.rules.yaml", cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_every_alert_fires_when_it_should_and_only_then(rules_dir: Path) -> None:
    result = promtool("test", "rules", RULE_TESTS.name, cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for alert in alerts():
        mine = [check for check in checks if check["alertname"] == alert["alert"]]
        assert any(check["exp_alerts"] for check in mine), f"no case fires {alert['alert']}"
        assert any(not check["exp_alerts"] for check in mine), f"no case keeps {alert['alert']} quiet"


def test_promtool_fails_a_case_whose_expectation_is_wrong(rules_dir: Path) -> None:
    """The cases above are checked for real: expecting silence where an alert fires fails."""
    cases = yaml.safe_load(RULE_TESTS.read_text())
    firing = next(c for case in cases["tests"] for c in case["alert_rule_test"] if c["exp_alerts"])
    wrong = copy.deepcopy(cases)
    next(c for case in wrong["tests"] for c in case["alert_rule_test"] if c == firing)["exp_alerts"] = []
    (rules_dir / RULE_TESTS.name).write_text(yaml.safe_dump(wrong))
    result = promtool("test", "rules", RULE_TESTS.name, cwd=rules_dir)
    assert result.returncode != 0
    assert firing["alertname"] in result.stdout + result.stderr


def test_every_alert_is_labelled_annotated_and_has_a_runbook() -> None:
    sections = {
        re.sub(r"[^\w-]", "", heading.strip().lower().replace(" ", "-"))
        for heading in re.findall(r"^#+ (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    }
    for alert in alerts():
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        annotations = alert["annotations"]
        assert annotations["summary"], alert["alert"]
        assert annotations["description"], alert["alert"]
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "docs/monitoring.md"
        assert anchor == alert["alert"].lower()
        assert anchor in sections, f"no runbook section {anchor}"


# --- queries against the exported metrics --------------------------------------------------------


def assert_reads_exported(expr: str, known: dict[str, frozenset[str]]) -> Query:
    """Every metric the query reads is known, with the labels it matches on and groups by."""
    query = parse(expr)
    assert query.selectors, f"no metric in {expr!r}"
    available = set(TARGET_LABELS)
    for selector in query.selectors:
        assert selector.metric in known, f"{selector.metric} is not exported (in {expr!r})"
        assert selector.labels <= known[selector.metric] | TARGET_LABELS, f"{selector} in {expr!r}"
        available |= known[selector.metric]
    assert query.grouping <= available, f"{sorted(query.grouping - available)} in {expr!r}"
    return query


def test_the_rules_read_only_exported_series(exported: dict[str, frozenset[str]]) -> None:
    known = {**exported, **recorded()}
    for rule in rules():
        assert_reads_exported(rule["expr"], known)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def test_every_panel_has_a_query_on_the_chosen_data_source() -> None:
    assert len(panels()) >= 15
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["targets"], f"panel {panel['title']!r} has no target"
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_the_dashboard_reads_only_exported_series(exported: dict[str, frozenset[str]]) -> None:
    metrics = set()
    for panel in panels():
        for target in panel["targets"]:
            metrics |= {s.metric for s in assert_reads_exported(target["expr"], exported).selectors}
    # The panels the dashboard promises: per-bot figures, the operator's and the API's.
    for name in (
        "skybots_bot_reposts_total",
        "skybots_bot_candidates_total",
        "skybots_bot_rejections_total",
        "skybots_bot_run_duration_seconds_bucket",
        "skybots_bot_runs_total",
        "skybots_bot_logins_total",
        "skybots_bot_api_calls_total",
        "skybots_operator_reconciles_total",
        "skybots_operator_reconcile_errors_total",
        "skybots_operator_reconcile_duration_seconds_bucket",
        "skybots_api_requests_total",
        "skybots_api_request_duration_seconds_bucket",
    ):
        assert name in metrics, f"no panel shows {name}"


def test_the_bot_panels_follow_the_namespace_and_bot_variables(exported: dict[str, frozenset[str]]) -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    for name in ("namespace", "bot"):
        selector, label = label_values(variables[name]["query"])
        assert label == name
        assert name in exported[selector.metric]
    assert ("namespace", "=~", "$namespace") in label_values(variables["bot"]["query"])[0].matchers
    bot_selectors = [
        selector
        for panel in panels()
        for target in panel["targets"]
        for selector in parse(target["expr"]).selectors
        if selector.metric.startswith("skybots_bot_")
    ]
    assert bot_selectors
    for selector in bot_selectors:
        assert {("namespace", "=~", "$namespace"), ("bot", "=~", "$bot")} <= set(selector.matchers), selector


# --- the PromQL reader the checks above stand on ------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "metrics", "grouping"),
    [
        (
            'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route!~"/metrics|x_total"}[$__rate_interval])))',
            ["a_bucket"],
            {"le", "route"},
        ),
        ("max by (ns) (a) >= 3 unless on (ns) max(b{o='x'}) by (ns) == 1", ["a", "b"], {"ns"}),
        (
            "sum(rec:a:increase1h offset 5m) / sum(rate(b[1h:5m] @ end())) > 1e3",
            ["rec:a:increase1h", "b"],
            set(),
        ),
        ("time() - max(a) and ignoring(pod) group_left b", ["a", "b"], {"pod"}),
        ('absent(up{job="op"} == 1)', ["up"], set()),
    ],
)
def test_the_promql_reader_finds_metrics_and_grouping_labels(
    expr: str, metrics: list[str], grouping: set[str]
) -> None:
    query = parse(expr)
    assert [s.metric for s in query.selectors] == metrics
    assert query.grouping == grouping


@pytest.mark.parametrize(
    "expr", ["rat(a[5m])", '{job="x"}', 'a{job=~"x"', "a{job=x}", "a # b", "sum by (le x"]
)
def test_the_promql_reader_refuses_what_is_not_promql(expr: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the expression
        parse(expr)


def test_the_promql_reader_reads_grafana_variable_queries() -> None:
    selector, label = label_values('label_values(m{a=~"$a", b="x,y"}, c)')
    assert selector == Selector("m", (("a", "=~", "$a"), ("b", "=", "x,y")))
    assert label == "c"


# --- the component, built --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The component as an overlay that includes it would render it (it cannot be built alone)."""
    overlay = tmp_path_factory.mktemp("overlay")
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "skybots",
                "components": [os.path.relpath(COMPONENT, overlay)],  # must be relative
            }
        )
    )
    return list(build(str(overlay)))  # an absolute path stays one under the repository's root


def _one(built: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in built if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def test_the_component_holds_the_monitoring_objects_in_the_overlays_namespace(
    built: list[dict[str, Any]],
) -> None:
    assert sorted((d["kind"], d["metadata"]["name"]) for d in built) == [
        ("ConfigMap", "skybots-grafana-dashboard"),
        ("PrometheusRule", "skybots"),
        ("ServiceMonitor", "skybots-api"),
        ("ServiceMonitor", "skybots-operator"),
    ]
    assert {d["metadata"]["namespace"] for d in built} == {"skybots"}
    assert _one(built, "PrometheusRule", "skybots")["spec"]["groups"] == rule_groups()


def test_the_dashboard_ships_unchanged_for_grafanas_sidecar(built: list[dict[str, Any]]) -> None:
    config_map = _one(built, "ConfigMap", "skybots-grafana-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["data"] == {"skybots.json": DASHBOARD.read_text()}


def test_the_service_monitors_select_the_services_on_their_named_ports(built: list[dict[str, Any]]) -> None:
    jobs = set()
    for service, (labels, port) in SERVICES.items():
        monitor = _one(built, "ServiceMonitor", service)
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["spec"]["selector"] == {"matchLabels": labels}
        assert "namespaceSelector" not in monitor["spec"]  # the Services are in the monitor's namespace
        (endpoint,) = monitor["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["path"]) == (port, "/metrics")
        (job,) = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
        jobs.add(job)
        # Per-bot series keep the Bot's namespace only if the operator's labels win.
        assert endpoint.get("honorLabels", False) == (service == "skybots-operator")
    # The alerts and the panels name the jobs the monitors produce.
    exprs = [rule["expr"] for rule in rules()] + [t["expr"] for p in panels() for t in p["targets"]]
    named = {
        value
        for expr in exprs
        for selector in parse(expr).selectors
        for label, operator, value in selector.matchers
        if label == "job"
    }
    assert named == jobs == set(SERVICES)
