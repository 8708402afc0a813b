"""Kopf wiring: which events wake which piece of the operator.

Indices give every handler the cluster's current Bots, children and Secrets (key names and
controller) without a request; Kopf fills them before any handler runs. Reconciliation is
level-triggered, so all wake-ups (the Bot changed, a child drifted, a Secret changed) end in the
same `reconcile`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import kopf

from skybots import bots
from skybots.operator import collect, rendering
from skybots.operator.reconcile import (
    BotKey,
    Lookup,
    Operator,
    Outcome,
    SecretFacts,
    SecretLookup,
    credentials_state,
    reconcile,
)
from skybots.stores.kubernetes import BOT, CONFIG_MAP, CRON_JOB, KubernetesError, NotFound, current_connection

BOTS = (bots.GROUP, bots.VERSION, bots.PLURAL)
CRON_JOBS = ("batch", "v1", "cronjobs")
CONFIG_MAPS = ("", "v1", "configmaps")
SECRETS = ("", "v1", "secrets")
JOBS = ("batch", "v1", "jobs")
MANAGED = {"app.kubernetes.io/managed-by": rendering.MANAGED_BY}
CHILD_KINDS = {"CronJob": CRON_JOB, "ConfigMap": CONFIG_MAP}
# Kopf retries resource handlers, not event handlers; these are the event handlers' own retries.
EVENT_RETRY_DELAYS = (1, 2, 5, 10, 30)


def first(index: kopf.Index[Any, Any], key: Any) -> Any:
    """The one value an index holds for a unique key, or None."""
    store = index.get(key)
    return next(iter(store), None) if store is not None else None


def lookup(index: kopf.Index[BotKey, Any]) -> Lookup:
    return lambda namespace, name: first(index, (namespace, rendering.child_name(name)))


async def retrying(action: Callable[[], Awaitable[object]], logger: kopf.Logger, what: str) -> None:
    """Run an event handler's work, retrying with backoff; in the end, log and let it be."""
    for delay in (*EVENT_RETRY_DELAYS, None):
        try:
            await action()
            return
        except Exception as error:
            if delay is None:
                logger.error(f"Gave up {what}: {error}")
                return
            logger.warning(f"{what.capitalize()} failed ({error}); retrying in {delay}s")
            await asyncio.sleep(delay)


async def _still_there(op: Operator, bot: dict[str, Any]) -> bool:
    """Whether the Bot exists, undeleted, as the same object (uid) the index holds."""
    meta = bot["metadata"]
    try:
        fresh = await op.kube.get(BOT, meta["namespace"], meta["name"])
    except NotFound:
        return False
    return fresh["metadata"]["uid"] == meta["uid"] and not fresh["metadata"].get("deletionTimestamp")


def build_registry() -> kopf.OperatorRegistry:
    """A registry with every handler of the operator (one per operator run, so tests stay apart)."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(id="login", registry=registry)
    async def login(memo: Any, **_: Any) -> kopf.ConnectionInfo:
        c = await current_connection(memo.settings.kubernetes_server)
        return kopf.ConnectionInfo(
            server=c.server,
            ca_path=c.ca_path,
            token=c.token,
            certificate_path=c.certificate_path,
            private_key_path=c.private_key_path,
            insecure=c.insecure,
        )

    # --- indices: the cluster's state as the handlers see it --------------------------------

    @kopf.index(*BOTS, id="bot_index", registry=registry)
    def bot_index(
        namespace: str | None, name: str, body: kopf.Body, **_: Any
    ) -> dict[tuple[str | None, str], dict[str, Any]]:
        return {(namespace, name): dict(body)}

    @kopf.index(*CRON_JOBS, labels=MANAGED, id="cron_jobs", registry=registry)
    def cron_jobs(
        namespace: str | None, name: str, body: kopf.Body, **_: Any
    ) -> dict[tuple[str | None, str], dict[str, Any]]:
        return {(namespace, name): dict(body)}

    @kopf.index(*CONFIG_MAPS, labels=MANAGED, id="config_maps", registry=registry)
    def config_maps(
        namespace: str | None, name: str, body: kopf.Body, **_: Any
    ) -> dict[tuple[str | None, str], dict[str, Any]]:
        return {(namespace, name): dict(body)}

    @kopf.index(*SECRETS, id="secret_facts", registry=registry)
    def secret_facts(
        namespace: str | None, name: str, body: kopf.Body, **_: Any
    ) -> dict[tuple[str | None, str], SecretFacts]:
        """Key names and controller only: the operator never holds a Secret's values."""
        return {(namespace, name): SecretFacts.of(body)}

    def secrets(indices: dict[str, Any]) -> SecretLookup:
        return lambda namespace, name: first(indices["secret_facts"], (namespace, name))

    def wake(memo: Operator, bot: dict[str, Any], indices: dict[str, Any], cause: str) -> Any:
        return reconcile(
            memo,
            bot,
            live={CRON_JOB: lookup(indices["cron_jobs"]), CONFIG_MAP: lookup(indices["config_maps"])},
            secrets=secrets(indices),
            cause=cause,
        )

    # --- Bots --------------------------------------------------------------------------------

    @kopf.on.resume(*BOTS, id="bot_changed", registry=registry)
    @kopf.on.create(*BOTS, id="bot_changed", registry=registry)
    @kopf.on.update(*BOTS, id="bot_changed", registry=registry)
    async def bot_changed(body: kopf.Body, memo: Any, **indices: Any) -> None:
        try:
            outcome = await wake(memo, dict(body), indices, cause="spec")
        except KubernetesError as error:
            memo.metrics.reconcile_errors.labels(error.reason or str(error.status)).inc()
            raise kopf.TemporaryError(
                f"the API server refused: {error}", delay=memo.settings.retry_seconds
            ) from None
        if outcome is Outcome.INVALID:
            raise kopf.PermanentError("the spec is invalid; see the Ready condition")
        # WAITING is done here: `secret_changed` wakes the bot when its Secret becomes usable. A
        # retry instead would hold back the bot's next spec change until its delay was over.
        if outcome is Outcome.BLOCKED:
            raise kopf.TemporaryError("a child's name is taken", delay=memo.settings.retry_seconds)

    @kopf.on.event(*BOTS, id="bot_deleted", registry=registry)
    def bot_deleted(type: str, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
        if type == "DELETED":
            memo.forget((namespace, name))  # its children go with it: they are owned

    # --- children and Secrets: drift and credentials ------------------------------------------

    @kopf.on.event(*CRON_JOBS, labels=MANAGED, id="child_changed", registry=registry)
    @kopf.on.event(*CONFIG_MAPS, labels=MANAGED, id="child_changed", registry=registry)
    async def child_changed(
        type: str,
        body: kopf.Body,
        namespace: str | None,
        labels: kopf.Labels,
        memo: Any,
        logger: kopf.Logger,
        **indices: Any,
    ) -> None:
        key = (str(namespace), labels.get(rendering.BOT_LABEL, ""))
        kind = CHILD_KINDS[body["kind"]]
        bot, desired = first(indices["bot_index"], key), memo.desired.get(key, {}).get(kind)
        if bot is None or desired is None or bot["metadata"].get("deletionTimestamp"):
            return
        live = None if type == "DELETED" else dict(body)
        if live is None and not await _still_there(memo, bot):
            return  # deleted with its Bot: the Bot's own deletion may not have reached the index yet
        if live is None or not rendering.covers(live, desired):
            await retrying(
                lambda: wake(memo, bot, indices, cause="drift"), logger, f"restoring {body['kind']}"
            )

    @kopf.on.event(*SECRETS, id="secret_changed", registry=registry)
    async def secret_changed(
        type: str, namespace: str | None, name: str, memo: Any, logger: kopf.Logger, **indices: Any
    ) -> None:
        for key, (ref, seen) in list(memo.credentials.items()):
            bot = first(indices["bot_index"], key)
            if key[0] != namespace or ref.name != name or bot is None:
                continue
            now, _ = credentials_state(ref, bot, secrets(indices))
            # A Secret the Bot controls goes with it: its deletion may reach us before the Bot's.
            if now != seen and (type != "DELETED" or await _still_there(memo, bot)):
                await retrying(partial(wake, memo, bot, indices, "credentials"), logger, f"Secret {name}")

    # --- Jobs: run results ---------------------------------------------------------------------

    @kopf.on.event(*JOBS, labels={rendering.BOT_LABEL: kopf.PRESENT}, id="job_changed", registry=registry)
    async def job_changed(
        type: str,
        body: kopf.Body,
        namespace: str | None,
        labels: kopf.Labels,
        memo: Any,
        logger: kopf.Logger,
        **indices: Any,
    ) -> None:
        if type == "DELETED" or not collect.needs_collecting(dict(body)):
            return
        bot = first(indices["bot_index"], (namespace, labels[rendering.BOT_LABEL]))
        # A Job still uncollected after the retries is collected when the operator next starts.
        await retrying(
            lambda: collect.collect(memo, dict(body), bot),
            logger,
            f"collecting Job {body['metadata']['name']}",
        )

    return registry


def kopf_settings() -> kopf.OperatorSettings:
    """Kopf's bookkeeping under our own domain; events only where we post them."""
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = f"{bots.GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=bots.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=bots.GROUP, key="last-handled-configuration"
    )
    # No scanning: no need to list namespaces and CRDs (least privilege); the Bot CRD is installed
    # before the operator starts (ArgoCD's sync waves see to it), so the first discovery finds it.
    settings.scanning.disabled = True
    settings.posting.level = logging.INFO
    settings.posting.loggers = False
    settings.watching.inactivity_timeout = 15 * 60
    settings.watching.server_timeout = 10 * 60
    settings.watching.client_timeout = 11 * 60
    settings.networking.request_timeout = 60
    return settings
