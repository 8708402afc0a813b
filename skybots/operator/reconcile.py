"""Reconciliation of one Bot: validate, render the children, converge them, report in status.

Level-triggered and idempotent: whatever woke it (the Bot changed, a child drifted, the Secret
appeared, the operator restarted), it compares what should be with what the cluster has, as
Kopf's indices show it, and writes only the difference. A converged Bot costs no requests.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import kopf

from skybots.bots import BotSpecError, BotStatus, SecretKeyRef, validate_bot
from skybots.operator import rendering
from skybots.operator.metrics import Metrics
from skybots.operator.status import CREDENTIALS_FOUND, RECONCILED, derive_ready, set_condition, update_status
from skybots.settings import OperatorSettings
from skybots.stores.kubernetes import CONFIG_MAP, CRON_JOB, Conflict, Kind, Kubernetes, KubernetesApi
from skybots.stores.runs import RunHistory

BotKey = tuple[str, str]
# (namespace, name) -> the object as the cluster has it, or None.
Lookup = Callable[[str, str], dict[str, Any] | None]
# (namespace, name) -> the key names of that Secret, or None when there is no such Secret.
SecretLookup = Callable[[str, str], frozenset[str] | None]


class Outcome(enum.Enum):
    READY = "ready"
    INVALID = "invalid"  # the spec does not validate: nothing to retry until it changes
    WAITING = "waiting"  # the Secret is missing: retried when it appears
    BLOCKED = "blocked"  # a child's name is taken by an object that is not ours


@dataclass
class Operator:
    """State shared by every handler (Kopf's memo); one per operator process."""

    settings: OperatorSettings
    kube: Kubernetes
    history: RunHistory
    metrics: Metrics
    # What the last reconciliation of each bot wanted its children to be; drift is measured against it.
    desired: dict[BotKey, dict[Kind, dict[str, Any]]] = field(default_factory=dict)
    # The Secret reference and its state (a CredentialsFound reason) the last reconciliation saw,
    # so that a Secret event wakes only the bots whose credentials it changes.
    credentials: dict[BotKey, tuple[SecretKeyRef, str]] = field(default_factory=dict)
    _locks: dict[BotKey, asyncio.Lock] = field(default_factory=dict)
    # At most this many reconciliations at once: a cold start wakes every Bot together, and each
    # one in flight holds its requests and responses; a few dozen keep the API server busy enough.
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(32))

    def __copy__(self) -> Operator:
        return self  # Kopf copies the memo per object; this state is operator-wide on purpose

    def lock(self, key: BotKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def forget(self, key: BotKey) -> None:
        for table in (self.desired, self.credentials, self._locks):
            table.pop(key, None)
        self.metrics.forget_bot(key)


def credentials_state(ref: SecretKeyRef, namespace: str, secret_keys: SecretLookup) -> tuple[str, str]:
    """(reason, message) of CredentialsFound: SecretFound, SecretMissing or KeyMissing."""
    keys = secret_keys(namespace, ref.name)
    if keys is None:
        return "SecretMissing", f"Secret {ref.name!r} not found in namespace {namespace!r}; runs wait for it."
    if ref.key not in keys:
        return "KeyMissing", f"Secret {ref.name!r} has no key {ref.key!r}; runs wait for it."
    return "SecretFound", f"Secret {ref.name!r} holds the app password under {ref.key!r}."


async def reconcile(
    op: Operator,
    bot: dict[str, Any],
    *,
    live: dict[Kind, Lookup],
    secret_keys: SecretLookup,
    cause: str = "spec",
) -> Outcome:
    """Bring the bot's children and status in line with its spec; `cause` words the events."""
    key = _key(bot)
    generation = bot["metadata"].get("generation")
    async with op.slots, op.lock(key):
        with op.metrics.reconcile_seconds.time():
            try:
                spec = validate_bot(bot)
            except BotSpecError as error:
                await _report_invalid(op, bot, error, generation)
                op.metrics.reconciles.labels("invalid").inc()
                return Outcome.INVALID
            ref = spec.account.credentials_secret_ref
            reason, message = credentials_state(ref, key[0], secret_keys)
            found = reason == "SecretFound"
            children = {
                CONFIG_MAP: rendering.render_config_map(bot, spec),
                CRON_JOB: rendering.render_cron_job(bot, spec, op.settings, credentials_found=found),
            }
            op.desired[key], op.credentials[key] = children, (ref, reason)
            try:
                changes = [
                    f"{change} {obj['kind']} {obj['metadata']['name']}"
                    for kind, obj in children.items()
                    if (change := await converge(op.kube, kind, obj, live[kind](*key)))
                ]
            except NameTaken as taken:
                await _write(
                    op, bot, generation, (False, "NameConflict", str(taken)), (found, reason, message)
                )
                op.metrics.reconcile_errors.labels("NameConflict").inc()
                return Outcome.BLOCKED
            summary = "ConfigMap and CronJob match the spec" + (
                "" if found else "; the CronJob is held suspended"
            )
            status_changed = await _write(
                op, bot, generation, (True, "Reconciled", summary), (found, reason, message)
            )
            if changes:
                verb = "Restored" if cause == "drift" else "Reconciled"
                message = "; ".join(changes)
                kopf.info(event_target(bot), reason=verb, message=message[0].upper() + message[1:] + ".")
            if status_changed and not found:
                kopf.warn(event_target(bot), reason=reason, message=message)
            op.metrics.reconciles.labels("ready" if found else "waiting").inc()
            return Outcome.READY if found else Outcome.WAITING


class NameTaken(Exception):
    """A child's name is held by an object that another owner (or nobody) controls."""


async def converge(
    kube: KubernetesApi, kind: Kind, desired: dict[str, Any], live: dict[str, Any] | None
) -> str | None:
    """Create or patch one child until the cluster holds `desired`; the verb done, or None."""
    meta = desired["metadata"]
    if live is not None and rendering.covers(live, desired):
        return None
    if live is None:
        try:
            await kube.create(kind, meta["namespace"], _without_nulls(desired))
            return "created"
        except Conflict:
            live = await kube.get(kind, meta["namespace"], meta["name"])  # there, but not yet in our index
    owner = meta["ownerReferences"][0]["uid"]
    controllers = [r["uid"] for r in live["metadata"].get("ownerReferences", []) if r.get("controller")]
    if controllers != [owner]:
        raise NameTaken(
            f"{kind.kind} {meta['name']} already exists and is not controlled by this Bot; "
            "rename or delete it and the operator will take the name."
        )
    await kube.patch(kind, meta["namespace"], meta["name"], desired)
    return "updated"


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


async def _write(
    op: Operator,
    bot: dict[str, Any],
    generation: int | None,
    reconciled: tuple[bool, str, str],
    credentials: tuple[bool, str, str],
) -> bool:
    def mutate(status: BotStatus) -> None:
        status.observed_generation = generation
        status.cron_job_name = rendering.child_name(bot["metadata"]["name"])
        set_condition(status, RECONCILED, *reconciled, generation)
        set_condition(status, CREDENTIALS_FOUND, *credentials, generation)
        derive_ready(status, generation)
        op.metrics.observe_status(_key(bot), status)

    return await update_status(op.kube, bot, mutate) is not None


async def _report_invalid(
    op: Operator, bot: dict[str, Any], error: BotSpecError, generation: int | None
) -> None:
    """InvalidSpec: the last good children keep running; the status says what to fix."""
    message = "The spec is invalid, the last valid one keeps running: " + "; ".join(
        f"{path}: {text}" for path, text in error.errors
    )

    def mutate(status: BotStatus) -> None:
        status.observed_generation = generation
        set_condition(status, RECONCILED, False, "InvalidSpec", message, generation)
        derive_ready(status, generation)
        op.metrics.observe_status(_key(bot), status)

    if await update_status(op.kube, bot, mutate):
        kopf.warn(event_target(bot), reason="InvalidSpec", message=message)


def event_target(bot: dict[str, Any]) -> kopf.Body:
    """The Bot as Kopf's event posting wants it."""
    return kopf.Body(cast("kopf.RawBody", bot))


def _key(bot: dict[str, Any]) -> BotKey:
    return bot["metadata"]["namespace"], bot["metadata"]["name"]
