"""The CronJob controller's part, for the local runtime: Jobs on the CronJobs' schedules, and their history.

As Kubernetes' controller does: each CronJob that is not suspended fires on its schedule in its
time zone and gets a Job from its template, named by the minute, unless a Job it controls still
runs (concurrencyPolicy Forbid); a run missed by more than startingDeadlineSeconds is skipped.
Finished Jobs beyond the history limits are deleted, oldest first, once the operator has
collected them (a cluster's controller does not wait; here nothing is lost to that race).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from cronsim import CronSim

from skybots.bots import cron_sim_expression
from skybots.operator.collect import needs_collecting
from skybots.operator.rendering import controller_uid, finished_at, render_job_from
from skybots.stores.kubernetes import CRON_JOB, JOB, Conflict, KubernetesApi, NotFound

log = logging.getLogger(__name__)


class CronJobSchedule(BaseTrigger):  # type: ignore[misc]
    """A CronJob's schedule as Kubernetes reads it (5 fields or a macro, in its time zone)."""

    def __init__(self, schedule: str, time_zone: str | None) -> None:
        self._expression = cron_sim_expression(schedule)
        self._zone = ZoneInfo(time_zone or "UTC")

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> datetime:
        start = (previous or now).astimezone(self._zone).replace(tzinfo=None)
        return next(CronSim(self._expression, start)).replace(tzinfo=self._zone)


class CronJobController:
    """Schedules every CronJob it is told of; one per local runtime."""

    def __init__(self, kube: KubernetesApi) -> None:
        self.kube = kube
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        # Scheduler job id (namespace/name) -> the (schedule, timeZone, startingDeadlineSeconds) it fires on.
        self._scheduled: dict[str, tuple[str, str | None, int | None]] = {}

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)

    def changed(self, event: str, cron_job: dict[str, Any]) -> None:
        """A CronJob was added, changed or deleted: its schedule follows."""
        meta, spec = cron_job["metadata"], cron_job["spec"]
        key = f"{meta['namespace']}/{meta['name']}"
        if event == "DELETED" or spec.get("suspend"):
            if self._scheduled.pop(key, None) is not None:
                with contextlib.suppress(JobLookupError):
                    self.scheduler.remove_job(key)
                log.info("CronJob %s: not scheduled (suspended or deleted)", key)
            return
        when = (spec["schedule"], spec.get("timeZone"), spec.get("startingDeadlineSeconds"))
        if self._scheduled.get(key) == when:
            return  # a status or label change: the schedule stands
        job = self.scheduler.add_job(
            self._fire,
            CronJobSchedule(spec["schedule"], spec.get("timeZone")),
            args=[meta["namespace"], meta["name"]],
            id=key,
            replace_existing=True,
            misfire_grace_time=spec.get("startingDeadlineSeconds"),
            coalesce=True,
            max_instances=1,
        )
        self._scheduled[key] = when
        log.info("CronJob %s: next run at %s", key, job.next_run_time)

    async def _fire(self, namespace: str, name: str) -> None:
        """A CronJob's time came: a Job from its template, unless one it controls still runs."""
        try:
            cron_job = await self.kube.get(CRON_JOB, namespace, name)
        except NotFound:
            return
        if cron_job["spec"].get("suspend"):
            return
        if cron_job["spec"].get("concurrencyPolicy") == "Forbid" and any(
            finished_at(job) is None for job in await self._jobs_of(cron_job)
        ):
            log.info("CronJob %s/%s: a Job still runs; this run is skipped (Forbid)", namespace, name)
            return
        job_name = f"{name}-{int(datetime.now(UTC).timestamp()) // 60}"
        job = render_job_from(cron_job, job_name, dry_run=False, run="scheduled", instantiate="scheduled")
        with contextlib.suppress(Conflict):  # this minute's Job exists already
            await self.kube.create(JOB, namespace, job)

    async def prune(self, job: dict[str, Any]) -> None:
        """Delete the finished, collected Jobs of this Job's CronJob beyond its history limits."""
        meta = job["metadata"]
        owner = next((ref for ref in meta.get("ownerReferences") or [] if ref.get("kind") == "CronJob"), None)
        if owner is None:
            return
        try:
            cron_job = await self.kube.get(CRON_JOB, meta["namespace"], owner["name"])
        except NotFound:
            return
        done = sorted(
            (j for j in await self._jobs_of(cron_job) if finished_at(j) and not needs_collecting(j)),
            key=lambda j: j["metadata"]["creationTimestamp"],
        )
        for failed, limit in ((False, "successfulJobsHistoryLimit"), (True, "failedJobsHistoryLimit")):
            kept = [j for j in done if _failed(j) == failed]
            for old in kept[: max(0, len(kept) - int(cron_job["spec"].get(limit, 3)))]:
                with contextlib.suppress(NotFound):
                    await self.kube.delete(JOB, meta["namespace"], old["metadata"]["name"])

    async def _jobs_of(self, cron_job: dict[str, Any]) -> list[dict[str, Any]]:
        """The Jobs the CronJob controls (made on schedule, or copied from it by run now and preview)."""
        meta = cron_job["metadata"]
        return [
            job for job in await self.kube.list(JOB, meta["namespace"]) if controller_uid(job) == meta["uid"]
        ]


def _failed(job: dict[str, Any]) -> bool:
    conditions = job.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Failed" and c.get("status") == "True" for c in conditions)
