"""The local runtime's cluster: the operator's own reconcile and collect, and Kubernetes' controllers.

In a cluster Kopf wakes the operator (skybots.operator) when a Bot, its Secret or its Job changes,
the CronJob controller makes Jobs and the kubelet runs their pods. Here watches on the embedded
store wake the same `reconcile` and `collect` through the same `KubernetesApi`, the CronJobs the
operator renders fire on APScheduler (local.cronjobs), and each Job's pod runs the reposter in
this process (local.jobs). Every object lives in its own namespace, under its own name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from skybots.bots import BotSpecError
from skybots.local.cronjobs import CronJobController
from skybots.local.jobs import JobRunner
from skybots.operator.collect import collect, needs_collecting
from skybots.operator.events import EventType
from skybots.operator.metrics import Metrics
from skybots.operator.reconcile import BotKey, Lookup, Operator, SecretFacts, reconcile
from skybots.operator.rendering import BOT_LABEL, child_name, finished_at
from skybots.settings import OperatorSettings
from skybots.stores.cache import Cache
from skybots.stores.kubernetes import (
    BOT,
    CONFIG_MAP,
    CRON_JOB,
    JOB,
    SECRET,
    Kind,
    KubernetesApi,
    KubernetesError,
    NotFound,
    follow,
)
from skybots.stores.objects import ObjectStore
from skybots.stores.runs import RunHistory

log = logging.getLogger(__name__)
# What to do with an object of a watched kind: (ADDED|MODIFIED|DELETED, the object).
Handler = Callable[[str, dict[str, Any]], Awaitable[None]]


def logged_event(bot: dict[str, Any], type_: EventType, reason: str, message: str) -> None:
    """The operator's Events, where nobody reads Events: in the runtime's log."""
    level = logging.WARNING if type_ == "Warning" else logging.INFO
    meta = bot["metadata"]
    log.log(level, "Bot %s/%s: %s: %s", meta["namespace"], meta["name"], reason, message)


class LocalController:
    """The operator's part and the controllers' for the namespaces in `settings`; one per `skybots dev`."""

    def __init__(
        self,
        kube: KubernetesApi,
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
        self.kube, self.history, self.settings = kube, history, settings
        self.operator = Operator(
            settings=settings, kube=kube, history=history, metrics=Metrics(), post_event=logged_event
        )
        self.cron_jobs = CronJobController(kube)
        environment = {
            "SKYBOTS_CREDENTIAL_KEY": credential_key,
            "SKYBOTS_SESSION_KEYS": session_keys,
            "SKYBOTS_DEADLINE_SECONDS": str(settings.run_deadline_seconds),
            "SKYBOTS_ALLOW_PRIVATE_ADDRESSES": "true",  # Bluesky's network may be on loopback
        }
        self.jobs = JobRunner(
            kube, cache=cache, objects=objects, environment=environment, transport=transport
        )
        # What the operator knows of each Secret (its key names and controller), as Kopf's index.
        self._secrets: dict[BotKey, SecretFacts] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Secrets are known before any Bot is reconciled, as Kopf fills its indices before handlers run."""
        self.cron_jobs.start()
        for namespace in self.settings.namespaces:
            secrets, version = await self.kube.snapshot(SECRET, namespace)
            self._secrets_listed(namespace, secrets)
            self._follow(namespace, SECRET, self._secret_changed, resource_version=version)
            self._follow(namespace, BOT, self._bot_changed)
            self._follow(namespace, CRON_JOB, self._cron_job_changed)
            self._follow(namespace, JOB, self._job_changed, selector=BOT_LABEL)  # the bots' runs

    async def stop(self) -> None:
        self.cron_jobs.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.jobs.stop()

    def _follow(
        self,
        namespace: str,
        kind: Kind,
        handle: Handler,
        resource_version: str = "",
        selector: str | None = None,
    ) -> None:
        """Every object of a kind (as ADDED), then every change to it; a failing handler is logged."""

        async def changed(event: str, obj: dict[str, Any]) -> None:
            try:
                await handle(event, obj)
            except (KubernetesError, BotSpecError) as error:
                log.warning("%s %s/%s: %s", kind.kind, namespace, obj["metadata"]["name"], error)

        async def listed(objects: list[dict[str, Any]]) -> None:
            if kind == SECRET:
                self._secrets_listed(namespace, objects)
            for obj in objects:
                await changed("ADDED", obj)

        watching = follow(
            self.kube,
            kind,
            namespace,
            listed=listed,
            changed=changed,
            label_selector=selector,
            resource_version=resource_version,
        )
        self._tasks.append(asyncio.create_task(watching))

    # --- the operator's handlers ---------------------------------------------------------------

    async def _bot_changed(self, event: str, bot: dict[str, Any]) -> None:
        meta = bot["metadata"]
        if event == "DELETED":
            self.operator.forget((meta["namespace"], meta["name"]))  # its children go with it: owned
        elif not meta.get("deletionTimestamp"):
            await self._reconcile(bot)

    async def _reconcile(self, bot: dict[str, Any]) -> None:
        """The operator's reconcile, on the children as the store has them now."""
        meta = bot["metadata"]
        live = {
            kind: _constant(await self._get(kind, meta["namespace"], child_name(meta["name"])))
            for kind in (CONFIG_MAP, CRON_JOB)
        }
        await reconcile(
            self.operator,
            bot,
            live=live,
            secrets=lambda namespace, name: self._secrets.get((namespace, name)),
        )

    def _secrets_listed(self, namespace: str, secrets: list[dict[str, Any]]) -> None:
        for key in [key for key in self._secrets if key[0] == namespace]:
            del self._secrets[key]
        for secret in secrets:
            self._secrets[(namespace, secret["metadata"]["name"])] = SecretFacts.of(secret)

    async def _secret_changed(self, event: str, secret: dict[str, Any]) -> None:
        """Known at once (no await before the bots are looked up), then every bot that uses it is woken."""
        key = (secret["metadata"]["namespace"], secret["metadata"]["name"])
        if event == "DELETED":
            self._secrets.pop(key, None)
        else:
            self._secrets[key] = SecretFacts.of(secret)
        using = [bot for bot, (ref, _) in self.operator.credentials.items() if (bot[0], ref.name) == key]
        for namespace, name in using:
            with contextlib.suppress(NotFound):  # deleted meanwhile
                await self._reconcile(await self.kube.get(BOT, namespace, name))

    async def _job_changed(self, event: str, job: dict[str, Any]) -> None:
        """The Job controller's and the kubelet's part while it runs; the operator's once it ended."""
        if event == "DELETED":
            self.jobs.cancel(job)
        elif finished_at(job) is None:
            self.jobs.start(job)
        elif needs_collecting(job):
            meta = job["metadata"]
            bot = await self._get(BOT, meta["namespace"], meta["labels"][BOT_LABEL])
            await collect(self.operator, job, bot)
        else:
            await self.cron_jobs.prune(job)

    async def _cron_job_changed(self, event: str, cron_job: dict[str, Any]) -> None:
        self.cron_jobs.changed(event, cron_job)

    async def _get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.kube.get(kind, namespace, name)
        except NotFound:
            return None


def _constant(child: dict[str, Any] | None) -> Lookup:
    """A lookup that knows one child, read just before: what the operator's index would hold."""
    return lambda _namespace, _name: child
