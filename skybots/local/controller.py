"""The local runtime's operator: Bots into schedules, runs in this process, results into status.

In a cluster the operator makes each Bot a CronJob, the CronJob controller makes Jobs, the
reposter runs in a pod and the operator collects its report. Here the same objects live in the
embedded store: the CronJob is rendered as the operator renders it (so the API's run-now and
preview copy it into a Job, unchanged), APScheduler fires each bot's schedule as the CronJob
controller would, every Job runs the reposter in this process, and its report is counted into
the Bot's status and the run history exactly as the operator counts it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from cronsim import CronSim

from skybots.bots import BotSpec, BotSpecError, BotStatus, cron_sim_expression, validate_bot
from skybots.operator import rendering
from skybots.operator.collect import COLLECTED
from skybots.operator.reconcile import SecretFacts, converge, credentials_state
from skybots.operator.rendering import finished_at
from skybots.operator.status import (
    CREDENTIALS_FOUND,
    RECONCILED,
    apply_run,
    derive_ready,
    now,
    run_summary,
    set_condition,
    update_status,
)
from skybots.reposter.config import ReposterSettings
from skybots.reposter.run import run_bot
from skybots.runs import EXIT_CODES, RunReport
from skybots.settings import OperatorSettings
from skybots.stores.cache import Cache
from skybots.stores.kubernetes import (
    BOT,
    CRON_JOB,
    JOB,
    SECRET,
    Kind,
    KubernetesError,
    NotFound,
    follow,
    timestamp,
)
from skybots.stores.local_kubernetes import LocalKubernetes
from skybots.stores.objects import ObjectStore
from skybots.stores.runs import RunHistory, RunRecord

log = logging.getLogger(__name__)
# What to do with an object of a watched kind: (ADDED|MODIFIED|DELETED, the object).
Handler = Callable[[str, dict[str, Any]], Awaitable[None]]


class CronJobSchedule(BaseTrigger):  # type: ignore[misc]
    """A CronJob's schedule as Kubernetes reads it (5 fields or a macro, in its time zone)."""

    def __init__(self, schedule: str, time_zone: str | None) -> None:
        self._expression = cron_sim_expression(schedule)
        self._zone = ZoneInfo(time_zone or "UTC")

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> datetime:
        start = (previous or now).astimezone(self._zone).replace(tzinfo=None)
        return next(CronSim(self._expression, start)).replace(tzinfo=self._zone)


class LocalController:
    """Reconciles Bots, schedules their runs and runs them; one per `skybots dev` process."""

    def __init__(
        self,
        kube: LocalKubernetes,
        history: RunHistory,
        *,
        cache: Cache,
        objects: ObjectStore,
        settings: OperatorSettings,
        credential_key: str,
        session_keys: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`credential_key` and `session_keys` are the reposter's (SKYBOTS_CREDENTIAL_KEY, SKYBOTS_SESSION_KEYS)."""
        self.kube, self.history, self.cache, self.objects = kube, history, cache, objects
        self.settings, self._transport = settings, transport
        self._credential_key, self._session_keys = credential_key, session_keys
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[None]] = {}  # Job name -> its run

    async def start(self) -> None:
        self.scheduler.start()
        for namespace in self.settings.namespaces:
            self._tasks.append(asyncio.create_task(self._follow(namespace, BOT, self._bot_changed)))
            self._tasks.append(asyncio.create_task(self._follow(namespace, SECRET, self._secret_changed)))
            self._tasks.append(asyncio.create_task(self._follow(namespace, JOB, self._job_changed)))

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        for task in [*self._tasks, *self._running.values()]:
            task.cancel()
        for task in [*self._tasks, *self._running.values()]:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, namespace: str, kind: Kind, handle: Handler) -> None:
        """Every object of a kind (as ADDED), then every change to it; a failing handler is logged."""

        async def changed(event: str, obj: dict[str, Any]) -> None:
            try:
                await handle(event, obj)
            except (KubernetesError, BotSpecError) as error:
                log.warning("%s %s: %s", kind.kind, obj["metadata"]["name"], error)

        async def listed(objects: list[dict[str, Any]]) -> None:
            for obj in objects:
                await changed("ADDED", obj)

        await follow(self.kube, kind, namespace, listed=listed, changed=changed)

    # --- Bots: status, CronJob, schedule ----------------------------------------------------------

    async def _bot_changed(self, event: str, bot: dict[str, Any]) -> None:
        if event == "DELETED" or bot["metadata"].get("deletionTimestamp"):
            with contextlib.suppress(Exception):
                self.scheduler.remove_job(bot["metadata"]["name"])
            return
        await self.reconcile(bot)

    async def _secret_changed(self, event: str, secret: dict[str, Any]) -> None:
        namespace = secret["metadata"]["namespace"]
        for bot in await self.kube.list(BOT, namespace):
            ref = (bot.get("spec", {}).get("account", {}) or {}).get("credentialsSecretRef") or {}
            if ref.get("name") == secret["metadata"]["name"]:
                await self.reconcile(bot)

    async def reconcile(self, bot: dict[str, Any]) -> None:
        """Status as the operator writes it, the CronJob as it renders it, and the schedule."""
        meta = bot["metadata"]
        generation = meta.get("generation")
        try:
            spec = validate_bot(bot, self.settings)
        except BotSpecError as error:
            message = "The spec is invalid: " + "; ".join(f"{path}: {text}" for path, text in error.errors)
            await self._set_status(bot, generation, (False, "InvalidSpec", message), None)
            return
        secret = await self._get(SECRET, meta["namespace"], spec.account.credentials_secret_ref.name)
        reason, message = credentials_state(spec.account.credentials_secret_ref, bot, _facts(secret))
        found = reason == "SecretFound"
        cron_job = rendering.render_cron_job(bot, spec, self.settings, credentials_found=found)
        live = await self._get(CRON_JOB, meta["namespace"], cron_job["metadata"]["name"])
        await converge(self.kube, CRON_JOB, cron_job, live)
        summary = "The bot's schedule is in place" + ("" if found else "; runs wait for the Secret")
        await self._set_status(bot, generation, (True, "Reconciled", summary), (found, reason, message))
        self._schedule(meta["name"], spec, active=found and not spec.suspend)

    def _schedule(self, name: str, spec: BotSpec, *, active: bool) -> None:
        if not active:
            with contextlib.suppress(Exception):
                self.scheduler.remove_job(name)
            log.info("bot %s: not scheduled (suspended, or its Secret is missing)", name)
            return
        job = self.scheduler.add_job(
            self._scheduled_run,
            CronJobSchedule(spec.schedule, spec.time_zone),
            args=[name],
            id=name,
            replace_existing=True,
            misfire_grace_time=self.settings.starting_deadline_seconds,
            coalesce=True,
            max_instances=1,
        )
        log.info("bot %s: next run at %s", name, job.next_run_time)

    async def _set_status(
        self,
        bot: dict[str, Any],
        generation: int | None,
        reconciled: tuple[bool, str, str],
        credentials: tuple[bool, str, str] | None,
    ) -> None:
        def mutate(status: BotStatus) -> None:
            status.observed_generation = generation
            status.cron_job_name = rendering.child_name(bot["metadata"]["name"])
            set_condition(status, RECONCILED, *reconciled, generation)
            if credentials is not None:
                set_condition(status, CREDENTIALS_FOUND, *credentials, generation)
            derive_ready(status, generation)

        await update_status(self.kube, bot, mutate)

    async def _get(self, kind: Any, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.kube.get(kind, namespace, name)
        except NotFound:
            return None

    # --- Jobs: the CronJob controller's part, and the pod's ----------------------------------------

    async def _scheduled_run(self, name: str) -> None:
        """A bot's time came: a Job from its CronJob, unless its last run is still going (Forbid)."""
        namespace = self.settings.namespaces[0]
        cron_job = await self._get(CRON_JOB, namespace, rendering.child_name(name))
        if cron_job is None or cron_job["spec"].get("suspend"):
            return
        selector = f"{rendering.BOT_LABEL}={name}"
        jobs = await self.kube.list(JOB, namespace, label_selector=selector)
        if any(finished_at(job) is None for job in jobs):
            log.info(
                "Bot %s: the last run is still going; this one is skipped (concurrencyPolicy Forbid)", name
            )
            return
        job_name = f"{cron_job['metadata']['name']}-{int(datetime.now(UTC).timestamp()) // 60}"
        job = rendering.render_job_from(
            cron_job, job_name, dry_run=False, run="scheduled", instantiate="scheduled"
        )
        with contextlib.suppress(KubernetesError):  # 409: this minute's Job exists already
            await self.kube.create(JOB, namespace, job)

    async def _job_changed(self, event: str, job: dict[str, Any]) -> None:
        if event == "DELETED" or finished_at(job) is not None or job["metadata"]["name"] in self._running:
            return
        name = job["metadata"]["name"]
        self._running[name] = asyncio.create_task(self._run(job))
        self._running[name].add_done_callback(lambda _: self._running.pop(name, None))

    async def _run(self, job: dict[str, Any]) -> None:
        """The reposter's run of a Job, in this process; then what the operator does with its report."""
        meta = job["metadata"]
        namespace, bot_name = meta["namespace"], meta["labels"][rendering.BOT_LABEL]
        started = now()
        await self.kube.patch(
            JOB, namespace, meta["name"], {"status": {"startTime": timestamp(started)}}, subresource="status"
        )
        bot = await self._get(BOT, namespace, bot_name)
        # What the operator would read: the report as its pod's termination message carries it.
        report = RunReport.model_validate_json((await self._report(job, bot, started)).termination_message())
        condition = "Complete" if EXIT_CODES[report.outcome] == 0 else "Failed"
        status = {
            "completionTime": timestamp(report.finished_at),
            "conditions": [{"type": condition, "status": "True", "lastTransitionTime": timestamp(now())}],
        }
        await self.kube.patch(JOB, namespace, meta["name"], {"status": status}, subresource="status")
        log.info("bot %s: %s", bot_name, run_summary(meta["name"], report))
        if bot is not None:
            record = RunRecord(namespace=namespace, bot=bot_name, job=meta["name"], **report.model_dump())
            await self.history.append(record)
            generation = bot["metadata"].get("generation")
            threshold = self.settings.failing_runs_threshold
            await update_status(
                self.kube, bot, lambda s: apply_run(s, meta["name"], report, threshold, generation)
            )
        await self.kube.patch(
            JOB, namespace, meta["name"], {"metadata": {"annotations": {COLLECTED: "true"}}}
        )
        await self._prune(namespace, bot_name)

    async def _report(self, job: dict[str, Any], bot: dict[str, Any] | None, started: datetime) -> RunReport:
        if bot is None:
            return RunReport(
                outcome="failed", message="the bot is gone", started_at=started, finished_at=now()
            )
        try:
            spec = validate_bot(bot, self.settings)
        except BotSpecError as error:
            return RunReport(
                outcome="invalidConfig", message=str(error)[:1024], started_at=started, finished_at=now()
            )
        ref = spec.account.credentials_secret_ref
        secret = await self._get(SECRET, bot["metadata"]["namespace"], ref.name)
        reason, message = credentials_state(ref, bot, _facts(secret))
        if secret is None or reason != "SecretFound":  # only a Secret this Bot controls is read
            return RunReport(outcome="invalidConfig", message=message, started_at=started, finished_at=now())
        encoded = secret["data"][ref.key]  # the store keeps stringData as data, as a server does
        args = job["spec"]["template"]["spec"]["containers"][0].get("args", [])
        settings = ReposterSettings(
            app_password=base64.b64decode(encoded).decode(),
            credential_key=self._credential_key,
            session_keys=self._session_keys,
            deadline_seconds=self.settings.run_deadline_seconds,
            allow_private_addresses=True,  # the local runtime: Bluesky's network may be on loopback
        )
        return await run_bot(
            rendering.bot_config(bot, spec, self.settings),
            settings,
            cache=self.cache,
            objects=self.objects,
            dry_run="--dry-run" in args,
            transport=self._transport,
        )

    async def _prune(self, namespace: str, bot_name: str) -> None:
        """Keep the last few finished Jobs of a bot, as the CronJob's history limits do."""
        jobs = await self.kube.list(JOB, namespace, label_selector=f"{rendering.BOT_LABEL}={bot_name}")
        finished = sorted(
            (j for j in jobs if finished_at(j) is not None), key=lambda j: j["metadata"]["creationTimestamp"]
        )
        keep = self.settings.successful_jobs_history
        for job in finished[: max(0, len(finished) - keep)]:
            with contextlib.suppress(NotFound):
                await self.kube.delete(JOB, namespace, job["metadata"]["name"])


def _facts(secret: dict[str, Any] | None) -> Callable[[str, str], SecretFacts | None]:
    """The one Secret read, as the operator's Secret index would tell of it."""
    facts = SecretFacts.of(secret) if secret is not None else None
    return lambda _namespace, _name: facts
