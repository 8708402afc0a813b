"""Reconciliation of one Bot: validate, render the children, converge them, report in status.

Level-triggered and idempotent: whatever woke it (the Bot changed, a child drifted, the Secret
appeared, the operator restarted), it compares what should be with what the cluster has, as
Kopf's indices show it, and writes only the difference. A converged Bot costs no requests.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from skybots.bots import API_VERSION, BotSpecError, BotStatus, SecretKeyRef, validate_bot
from skybots.operator import rendering
from skybots.operator.events import PostEvent, kopf_event
from skybots.operator.metrics import Metrics
from skybots.operator.status import CREDENTIALS_FOUND, RECONCILED, derive_ready, set_condition, update_status
from skybots.settings import OperatorSettings
from skybots.stores.kubernetes import CONFIG_MAP, CRON_JOB, Conflict, Kind, KubernetesApi
from skybots.stores.runs import RunHistory

BotKey = tuple[str, str]
# (namespace, name) -> the object as the cluster has it, or None.
Lookup = Callable[[str, str], dict[str, Any] | None]


@dataclass(frozen=True)
class SecretFacts:
    """What the operator keeps of a Secret: its key names and its controller, never its values."""

    keys: frozenset[str]
    controller: str | None  # the uid of the object whose ownerReference says controller: true

    @classmethod
    def of(cls, secret: Mapping[str, Any]) -> SecretFacts:
        keys = frozenset(secret.get("data") or {}) | frozenset(secret.get("stringData") or {})
        return cls(keys=keys, controller=rendering.controller_uid(dict(secret)))


# (namespace, name) -> what is known of that Secret, or None when there is no such Secret.
SecretLookup = Callable[[str, str], SecretFacts | None]


class Outcome(enum.Enum):
    READY = "ready"
    INVALID = "invalid"  # the spec does not validate: nothing to retry until it changes
    WAITING = "waiting"  # the Secret is missing or not the Bot's: reconciled again when it changes
    BLOCKED = "blocked"  # a child's name is taken by an object that is not ours


@dataclass
class Operator:
    """State shared by every handler (Kopf's memo, or the local runtime's controller); one per process."""

    settings: OperatorSettings
    kube: KubernetesApi
    history: RunHistory
    metrics: Metrics
    post_event: PostEvent = kopf_event
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


def credentials_state(ref: SecretKeyRef, bot: dict[str, Any], secrets: SecretLookup) -> tuple[str, str]:
    """(reason, message) of CredentialsFound: SecretFound, SecretMissing, SecretNotOwned or KeyMissing.

    A Bot's runs get only a Secret the Bot controls, as the API makes it: any other (the API's
    own, another tenant's bot's, an earlier Bot's of the same name) may hold what is not theirs.
    Ownership is checked before the keys, so nothing is told of a Secret that is not the Bot's.
    """
    meta = bot["metadata"]
    facts = secrets(meta["namespace"], ref.name)
    if facts is None:
        return (
            "SecretMissing",
            f"Secret {ref.name!r} not found in namespace {meta['namespace']!r}; runs wait for it.",
        )
    if facts.controller != meta["uid"]:
        return "SecretNotOwned", (
            f"Secret {ref.name!r} is not controlled by this Bot, so its runs do not get it. Add an "
            f"ownerReference to the Secret (apiVersion {API_VERSION}, kind Bot, name "
            f"{meta['name']}, uid {meta['uid']}, controller: true), or let the API make the bot and its Secret."
        )
    if ref.key not in facts.keys:
        return "KeyMissing", f"Secret {ref.name!r} has no key {ref.key!r}; runs wait for it."
    return "SecretFound", f"Secret {ref.name!r} holds the app password under {ref.key!r}."


async def reconcile(
    op: Operator,
    bot: dict[str, Any],
    *,
    live: dict[Kind, Lookup],
    secrets: SecretLookup,
    cause: str = "spec",
) -> Outcome:
    """Bring the bot's children and status in line with its spec; `cause` words the events.

    An invalid spec leaves the last valid one running, rendered anew with this operator's
    settings (its image, resources, environment), so that an upgrade reaches every bot; when
    this version refuses the last valid one too, the CronJob is held.
    """
    key = _key(bot)
    generation = bot["metadata"].get("generation")
    async with op.slots, op.lock(key):
        with op.metrics.reconcile_seconds.time():
            invalid: tuple[bool, str, str] | None = None  # the Reconciled condition of an invalid spec
            try:
                spec = validate_bot(bot, op.settings)
            except BotSpecError as error:
                # This process's own record first: a ConfigMap edited by hand is drift, not a spec.
                kept = op.desired.get(key, {}).get(CONFIG_MAP) or live[CONFIG_MAP](*key)
                last = rendering.last_valid_spec(bot, kept, op.settings)
                invalid = _invalid(error, kept=last is not None)
                if last is None:
                    await _hold(op, bot, live[CRON_JOB](*key))
                    if await _write(op, bot, generation, invalid, None):
                        op.post_event(bot, "Warning", "InvalidSpec", invalid[2])
                    op.metrics.reconciles.labels("invalid").inc()
                    return Outcome.INVALID
                spec = last
            ref = spec.account.credentials_secret_ref
            reason, message = credentials_state(ref, bot, secrets)
            found = reason == "SecretFound"
            credentials = (found, reason, message)
            children = {
                CONFIG_MAP: rendering.render_config_map(bot, spec, op.settings),
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
                await _write(op, bot, generation, (False, "NameConflict", str(taken)), credentials)
                op.metrics.reconcile_errors.labels("NameConflict").inc()
                return Outcome.BLOCKED
            summary = "ConfigMap and CronJob match the spec" + (
                "" if found else "; the CronJob is held suspended"
            )
            status_changed = await _write(
                op, bot, generation, invalid or (True, "Reconciled", summary), credentials
            )
            if changes:
                verb = "Restored" if cause == "drift" else "Reconciled"
                text = "; ".join(changes)
                op.post_event(bot, "Normal", verb, text[0].upper() + text[1:] + ".")
            if status_changed and (invalid or not found):
                _, warning, text = invalid or credentials
                op.post_event(bot, "Warning", warning, text)
            outcome = Outcome.INVALID if invalid else Outcome.READY if found else Outcome.WAITING
            op.metrics.reconciles.labels(outcome.value).inc()
            return outcome


def _invalid(error: BotSpecError, *, kept: bool) -> tuple[bool, str, str]:
    """The Reconciled condition of an invalid spec: what to fix, and what runs meanwhile."""
    meanwhile = (
        "the last valid one keeps running" if kept else "and none is known to run instead: runs are held"
    )
    errors = "; ".join(f"{path}: {text}" for path, text in error.errors)
    return False, "InvalidSpec", f"The spec is invalid, {meanwhile}: {errors}"


async def _hold(op: Operator, bot: dict[str, Any], live: dict[str, Any] | None) -> None:
    """No spec this version accepts (not even the last one, in the ConfigMap): the Bot's CronJob held."""
    if live is None or rendering.controller_uid(live) != bot["metadata"]["uid"]:
        return
    held = rendering.render_held_cron_job(bot, live, op.settings)
    op.desired[_key(bot)] = {CRON_JOB: held}
    await converge(op.kube, CRON_JOB, held, live)


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
    if rendering.controller_uid(live) != meta["ownerReferences"][0]["uid"]:
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
    credentials: tuple[bool, str, str] | None,
) -> bool:
    """Write the bot's conditions; `credentials` is None when no children could be rendered."""

    def mutate(status: BotStatus) -> None:
        status.observed_generation = generation
        set_condition(status, RECONCILED, *reconciled, generation)
        if credentials is not None:
            status.cron_job_name = rendering.child_name(bot["metadata"]["name"])
            set_condition(status, CREDENTIALS_FOUND, *credentials, generation)
        derive_ready(status, generation)
        op.metrics.observe_status(_key(bot), status)

    return await update_status(op.kube, bot, mutate) is not None


def _key(bot: dict[str, Any]) -> BotKey:
    return bot["metadata"]["namespace"], bot["metadata"]["name"]
