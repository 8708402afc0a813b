"""Collection of run results: a bot's Job finished, so record what its run did, once.

The reposter's report is its container's termination message. The operator turns it into
the Bot's status (lastRun, totals, Healthy), per-bot metrics, and one run history record.
A Job is marked collected afterwards; should the operator stop in between, the run history
refuses the second record and `status.lastRun.job` keeps the totals from counting twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from skybots.bots import FAILED_OUTCOMES, GROUP, RunOutcome
from skybots.operator import rendering
from skybots.operator.reconcile import Operator
from skybots.operator.rendering import finished_at
from skybots.operator.status import apply_run, now, run_summary, update_status
from skybots.runs import EXIT_CODES, RunReport
from skybots.stores.kubernetes import JOB, POD
from skybots.stores.runs import RunRecord

COLLECTED = f"{GROUP}/collected"
OUTCOME_OF_EXIT_CODE = {code: outcome for outcome, code in EXIT_CODES.items() if outcome != "rateLimited"}


def needs_collecting(job: dict[str, Any]) -> bool:
    return finished_at(job) is not None and COLLECTED not in (job["metadata"].get("annotations") or {})


def report_of(job: dict[str, Any], pods: list[dict[str, Any]]) -> RunReport:
    """The run's report from its pod's termination message, or the best account of why there is none."""
    ended = finished_at(job) or now()
    started = (
        datetime.fromisoformat(job["status"]["startTime"])
        if job.get("status", {}).get("startTime")
        else ended
    )
    terminated = [
        status["state"]["terminated"]
        for pod in pods
        for status in pod.get("status", {}).get("containerStatuses", [])
        if status.get("name") == rendering.CONTAINER and "terminated" in status.get("state", {})
    ]
    last = max(terminated, key=lambda t: t.get("finishedAt") or "", default=None)
    if last is not None and last.get("message"):
        try:
            return RunReport.model_validate_json(last["message"])
        except ValidationError:
            pass  # the container died mid-write, or something else wrote the message: fall through
    outcome: RunOutcome = "failed"
    if last is not None:
        outcome = OUTCOME_OF_EXIT_CODE.get(int(last.get("exitCode", 1)), "failed")  # type: ignore[assignment]
        why = f"the reposter left no report (exit code {last.get('exitCode')}, {last.get('reason', 'no reason')})"
    else:
        failed = [c for c in job.get("status", {}).get("conditions", []) if c.get("type") == "Failed"]
        why = failed[0].get("message") or failed[0].get("reason", "") if failed else "the run's pod is gone"
        why = f"the reposter did not run to the end: {why}"
    return RunReport(outcome=outcome, message=why[:1024], started_at=started, finished_at=ended)


async def collect(op: Operator, job: dict[str, Any], bot: dict[str, Any] | None) -> None:
    """Record a finished Job's run in history, status and metrics, then mark the Job collected."""
    meta = job["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if bot is not None:
        pods = await op.kube.list(POD, namespace, label_selector=f"job-name={name}")
        report = report_of(job, pods)
        bot_name = bot["metadata"]["name"]
        record = RunRecord(namespace=namespace, bot=bot_name, job=name, **report.model_dump())
        await op.history.append(record)
        key = (namespace, bot_name)
        generation = bot["metadata"].get("generation")
        async with op.lock(key):
            written = await update_status(
                op.kube,
                bot,
                lambda status: apply_run(
                    status, name, report, op.settings.failing_runs_threshold, generation
                ),
            )
            if written is not None:
                op.metrics.record_run(key, report)
                op.metrics.observe_status(key, written)
                failed = report.outcome in FAILED_OUTCOMES
                op.post_event(
                    bot,
                    "Warning" if failed else "Normal",
                    "RunFailed" if failed else "RunSucceeded",
                    run_summary(name, report),
                )
    await op.kube.patch(JOB, namespace, name, {"metadata": {"annotations": {COLLECTED: "true"}}})
