"""The operator's Prometheus metrics: its own work, and per-bot figures from collected runs.

The reposter pushes nothing: it is short-lived, and the operator already reads every run's
report, so per-bot counters live here and survive as long as the operator does (Prometheus
handles the reset when it restarts).
"""

from __future__ import annotations

import contextlib
from collections import Counter as Tally
from collections.abc import Iterator
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from skybots.bots import BotStatus, RunOutcome
from skybots.runs import RunReport

BotKey = tuple[str, str]
RUN_SECONDS_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
OUTCOMES: tuple[str, ...] = get_args(RunOutcome)


class _BotConditions(Collector):
    """skybots_bots{condition,status}: how many bots are in each state, counted at scrape time."""

    def __init__(self) -> None:
        self.by_bot: dict[BotKey, dict[str, str]] = {}

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "skybots_bots", "Bots by condition and status", labels=["condition", "status"]
        )
        tally = Tally((c, s) for conditions in self.by_bot.values() for c, s in conditions.items())
        for (condition, status), count in sorted(tally.items()):
            family.add_metric([condition, status], count)
        yield family


class Metrics:
    """Every metric the operator exports, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconciles = Counter(
            "skybots_operator_reconciles_total", "Reconciliations of Bots, by result", ["result"], registry=r
        )
        self.reconcile_errors = Counter(
            "skybots_operator_reconcile_errors_total",
            "Reconciliations that failed, by reason",
            ["reason"],
            registry=r,
        )
        self.reconcile_seconds = Histogram(
            "skybots_operator_reconcile_duration_seconds", "Time to reconcile one Bot", registry=r
        )
        bot = ["namespace", "bot"]
        self.runs = Counter(
            "skybots_bot_runs_total", "Runs collected, by outcome", [*bot, "outcome"], registry=r
        )
        self.reposts = Counter(
            "skybots_bot_reposts_total", "Posts reposted (dry runs excluded)", bot, registry=r
        )
        self.candidates = Counter(
            "skybots_bot_candidates_total", "Candidate posts considered", bot, registry=r
        )
        self.duplicates = Counter(
            "skybots_bot_duplicates_total", "Candidates skipped as already reposted", bot, registry=r
        )
        self.rejections = Counter(
            "skybots_bot_rejections_total",
            "Candidates rejected by the filters, by reason",
            [*bot, "reason"],
            registry=r,
        )
        self.api_calls = Counter("skybots_bot_api_calls_total", "Requests made to Bluesky", bot, registry=r)
        self.logins = Counter("skybots_bot_logins_total", "Logins with the app password", bot, registry=r)
        self.run_seconds = Histogram(
            "skybots_bot_run_duration_seconds",
            "Duration of runs",
            bot,
            buckets=RUN_SECONDS_BUCKETS,
            registry=r,
        )
        self.last_run = Gauge(
            "skybots_bot_last_run_timestamp_seconds", "When the last collected run finished", bot, registry=r
        )
        self.consecutive_failures = Gauge(
            "skybots_bot_consecutive_failures", "Failed runs since the last success", bot, registry=r
        )
        # A state, not a count: an alert on it holds until the next run ends otherwise, whatever the
        # schedule, and it is there from a bot's first run (a counter's first increment is not seen).
        self.last_outcome = Gauge(
            "skybots_bot_last_run_outcome",
            "1 for the outcome of the last collected run, 0 for the others",
            [*bot, "outcome"],
            registry=r,
        )
        self.conditions = _BotConditions()
        r.register(self.conditions)
        self._series: dict[BotKey, set[tuple[str, ...]]] = {}

    def record_run(self, key: BotKey, report: RunReport) -> None:
        """Count what one collected run did."""
        labels = key
        self.runs.labels(*labels, report.outcome).inc()
        if not report.dry_run:
            self.reposts.labels(*labels).inc(report.reposted)
        self.candidates.labels(*labels).inc(report.candidates)
        self.duplicates.labels(*labels).inc(report.duplicates)
        for reason, count in report.rejected.items():
            self.rejections.labels(*labels, reason).inc(count)
        self.api_calls.labels(*labels).inc(report.api_calls)
        self.logins.labels(*labels).inc(report.logins)
        self.run_seconds.labels(*labels).observe(report.duration_seconds)
        series = self._series.setdefault(key, set())
        series.add(("outcome", report.outcome))
        series.update(("reason", reason) for reason in report.rejected)

    def observe_status(self, key: BotKey, status: BotStatus) -> None:
        """The bot's state, from its status: a restarted operator has it again at its first reconciliation."""
        self.conditions.by_bot[key] = {c.type: c.status for c in status.conditions}
        last = status.last_run
        if last is None:
            return
        if last.finished_at is not None:
            self.last_run.labels(*key).set(last.finished_at.timestamp())
        for outcome in OUTCOMES:
            self.last_outcome.labels(*key, outcome).set(outcome == last.outcome)
        self.consecutive_failures.labels(*key).set(status.consecutive_failures)

    def forget_bot(self, key: BotKey) -> None:
        """Drop a deleted bot's series, so dashboards do not show it forever."""
        self.conditions.by_bot.pop(key, None)
        for kind, value in self._series.pop(key, set()):
            (self.runs if kind == "outcome" else self.rejections).remove(*key, value)
        for metric in (
            self.reposts,
            self.candidates,
            self.duplicates,
            self.api_calls,
            self.logins,
            self.run_seconds,
            self.last_run,
            self.consecutive_failures,
        ):
            with contextlib.suppress(KeyError):  # the bot never had a run collected
                metric.remove(*key)
        for outcome in OUTCOMES:
            with contextlib.suppress(KeyError):
                self.last_outcome.remove(*key, outcome)
