"""Bot status: conditions in Kubernetes' shape, and writes that never lose a concurrent update.

Two paths write a Bot's status (reconciliation and run collection), so every write is a
read-modify-write with the resourceVersion as precondition, retried on 409. What a run does to
the status is here too: the operator and the local runtime count runs the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from skybots.bots import FAILED_OUTCOMES, BotStatus, Condition, LastRun
from skybots.runs import RunReport
from skybots.stores.kubernetes import BOT, Conflict, KubernetesApi

READY = "Ready"
RECONCILED = "Reconciled"
CREDENTIALS_FOUND = "CredentialsFound"
HEALTHY = "Healthy"
CONDITION_ORDER = (READY, RECONCILED, CREDENTIALS_FOUND, HEALTHY)

StatusValue = Literal["True", "False", "Unknown"]


def now() -> datetime:
    """Kubernetes times have whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


def set_condition(
    status: BotStatus,
    type_: str,
    value: bool | None,
    reason: str,
    message: str,
    generation: int | None,
) -> None:
    """Set a condition; lastTransitionTime moves only when the True/False/Unknown value changes."""
    text: StatusValue = "Unknown" if value is None else "True" if value else "False"
    existing = status.condition(type_)
    transition = existing.last_transition_time if existing and existing.status == text else now()
    condition = Condition(
        type=type_,
        status=text,
        reason=reason,
        message=message,
        observed_generation=generation,
        last_transition_time=transition,
    )
    others = [c for c in status.conditions if c.type != type_]
    order = {name: index for index, name in enumerate(CONDITION_ORDER)}
    status.conditions = sorted([*others, condition], key=lambda c: order.get(c.type, len(order)))


def derive_ready(status: BotStatus, generation: int | None) -> None:
    """Ready sums up whether the bot can run as specified: the first unmet condition explains why not."""
    reconciled = status.condition(RECONCILED)
    credentials = status.condition(CREDENTIALS_FOUND)
    if reconciled is None or reconciled.status != "True":
        reason = reconciled.reason if reconciled else "Pending"
        message = reconciled.message if reconciled else "Not reconciled yet."
        set_condition(status, READY, False, reason, message, generation)
    elif credentials is not None and credentials.status != "True":
        set_condition(status, READY, False, credentials.reason, credentials.message, generation)
    elif status.last_run is not None and status.last_run.outcome == "authFailed":
        set_condition(
            status,
            READY,
            False,
            "CredentialsRejected",
            f"Bluesky rejected the app password in the last run: {status.last_run.message}",
            generation,
        )
    else:
        set_condition(status, READY, True, "Ready", "The bot's CronJob is in place.", generation)


def dump(status: BotStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


async def update_status(
    kube: KubernetesApi, bot: dict[str, Any], mutate: Callable[[BotStatus], None], attempts: int = 5
) -> BotStatus | None:
    """Apply `mutate` to the Bot's status and write it if it changed: the status written, or None."""
    meta = bot["metadata"]
    for _ in range(attempts):
        before = BotStatus.model_validate(bot.get("status") or {})
        after = before.model_copy(deep=True)
        mutate(after)
        if dump(after) == dump(before):
            return None
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": dump(after)}
        try:
            await kube.patch(BOT, meta["namespace"], meta["name"], patch, subresource="status")
        except Conflict:
            bot = await kube.get(BOT, meta["namespace"], meta["name"])
            meta = bot["metadata"]
            continue
        return after
    raise Conflict(
        409, "Conflict", f"status of Bot {meta['name']} kept changing; gave up after {attempts} tries"
    )


def apply_run(status: BotStatus, job: str, report: RunReport, threshold: int, generation: int | None) -> None:
    """Count the run into the status, unless lastRun shows it was counted already."""
    if status.last_run is not None and status.last_run.job == job:
        return
    failed = report.outcome in FAILED_OUTCOMES
    totals = status.totals
    totals.runs += 1
    totals.failed_runs += failed
    totals.candidates += report.candidates
    totals.reposted += 0 if report.dry_run else report.reposted
    totals.duplicates += report.duplicates
    totals.rejected += report.rejected_total
    status.consecutive_failures = status.consecutive_failures + 1 if failed else 0
    newest = (
        status.last_run is None or (status.last_run.finished_at or report.finished_at) <= report.finished_at
    )
    if newest:
        status.last_run = LastRun(
            job=job,
            started_at=report.started_at,
            finished_at=report.finished_at,
            outcome=report.outcome,
            message=report.message,
            dry_run=report.dry_run,
            candidates=report.candidates,
            reposted=report.reposted,
            duplicates=report.duplicates,
            rejected=report.rejected_total,
        )
    if not failed:
        set_condition(status, HEALTHY, True, "RunsSucceeding", run_summary(job, report), generation)
    elif report.outcome == "authFailed":
        set_condition(status, HEALTHY, False, "CredentialsRejected", run_summary(job, report), generation)
    elif status.consecutive_failures >= threshold:
        message = f"{status.consecutive_failures} runs failed in a row; the last: {run_summary(job, report)}"
        set_condition(status, HEALTHY, False, "RunsFailing", message, generation)
    elif status.condition(HEALTHY) is None:
        set_condition(status, HEALTHY, None, "RunFailed", run_summary(job, report), generation)
    derive_ready(status, generation)


def run_summary(job: str, report: RunReport) -> str:
    what = "would repost" if report.dry_run else "reposted"
    counts = f"{what} {report.reposted} of {report.candidates} candidates"
    return f"Job {job} {report.outcome}: {counts}" + (f" ({report.message})" if report.message else "") + "."
