"""The children of a Bot, as the operator wants them: a ConfigMap and a CronJob (and its Jobs).

Pure functions from (Bot, spec, settings) to object dicts. The operator compares these with
what the cluster has and patches only when they differ, so every field here is written in
the form the API server stores it (no defaults it would rewrite).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from skybots import bots
from skybots.operator.status import now
from skybots.settings import OperatorSettings

BOT_LABEL = f"{bots.GROUP}/bot"
RUN_LABEL = f"{bots.GROUP}/run"  # what started a Job: scheduled, manual, preview
MANAGED_BY = "skybots-operator"
CONFIG_KEY = "bot.json"
CONFIG_DIR = "/etc/skybots"
CONTAINER = "reposter"
APP_PASSWORD_ENV = "SKYBOTS_APP_PASSWORD"
REPOSTER_UID = 65532


def child_name(bot_name: str) -> str:
    return f"{bots.CRONJOB_PREFIX}{bot_name}"


def labels(bot_name: str) -> dict[str, str]:
    """Labels of everything made for a bot: standard app labels plus the bot's name."""
    return {
        "app.kubernetes.io/name": "skybots",
        "app.kubernetes.io/component": "reposter",
        "app.kubernetes.io/instance": bot_name,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        BOT_LABEL: bot_name,
    }


def owner_reference(
    owner: dict[str, Any],
    *,
    api_version: str = bots.API_VERSION,
    kind: str = bots.KIND,
    block_owner_deletion: bool = True,
) -> dict[str, Any]:
    """`owner` (a Bot unless `api_version` and `kind` say otherwise: listed objects do not say
    their kind) as the controller of a dependent, so the dependent goes with it.

    `block_owner_deletion`: a foreground deletion of the owner waits for the dependent. Setting it
    needs `update` on the owner's `finalizers` subresource where OwnerReferencesPermissionEnforcement
    is on; the API, which deletes in the background, sets it on nothing and needs no such right.
    """
    reference: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    if block_owner_deletion:
        reference["blockOwnerDeletion"] = True
    return reference


def controller_uid(obj: dict[str, Any]) -> str | None:
    """The uid of the object's controller (the API server allows at most one), or None."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return next((ref.get("uid") for ref in refs if ref.get("controller")), None)


def _metadata(bot: dict[str, Any]) -> dict[str, Any]:
    name = bot["metadata"]["name"]
    return {
        "name": child_name(name),
        "namespace": bot["metadata"]["namespace"],
        "labels": labels(name),
        "ownerReferences": [owner_reference(bot)],
    }


def bot_config(bot: dict[str, Any], spec: bots.BotSpec, settings: OperatorSettings) -> bots.BotConfig:
    """The reposter's config file: the bot's identity, its spec, and whose share of the budget it uses."""
    meta = bot["metadata"]
    return bots.BotConfig(
        namespace=meta["namespace"],
        name=meta["name"],
        spec=spec,
        tenant=bots.tenant(meta["namespace"], meta.get("labels") or {}, settings.api_namespace),
    )


def render_config_map(bot: dict[str, Any], spec: bots.BotSpec, settings: OperatorSettings) -> dict[str, Any]:
    """The bot's config for the reposter; no secrets (the app password comes from the Secret)."""
    config = bot_config(bot, spec, settings)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(bot),
        "data": {CONFIG_KEY: config.model_dump_json(by_alias=True, exclude_none=True, indent=2) + "\n"},
    }


def last_valid_spec(
    bot: dict[str, Any], config_map: dict[str, Any] | None, bounds: bots.Bounds
) -> bots.BotSpec | None:
    """The spec in the bot's ConfigMap: the last valid one, what its runs use; None when there is none.

    Only a ConfigMap this Bot controls counts, and only while its spec validates with this version
    and is within the platform's bounds (a bot made before they were set, or lowered, is held).
    """
    if config_map is None or controller_uid(config_map) != bot["metadata"]["uid"]:
        return None
    try:
        spec = bots.BotConfig.model_validate_json((config_map.get("data") or {}).get(CONFIG_KEY, "")).spec
    except ValidationError:
        return None
    return None if bots.bound_errors(spec, bounds) else spec


def render_cron_job(
    bot: dict[str, Any], spec: bots.BotSpec, settings: OperatorSettings, *, credentials_found: bool
) -> dict[str, Any]:
    """The CronJob that runs the reposter; held suspended while the bot's Secret is not usable.

    The Secret is named only once it is found and controlled by the Bot: a Job copied from a held
    CronJob (`kubectl create job --from`, the API's run now) gets nothing of a Secret not its own.
    """
    return _cron_job(
        bot,
        settings,
        schedule=spec.schedule,
        time_zone=spec.time_zone,
        suspend=spec.suspend or not credentials_found,
        secret=spec.account.credentials_secret_ref if credentials_found else None,
    )


def render_held_cron_job(
    bot: dict[str, Any], live: dict[str, Any], settings: OperatorSettings
) -> dict[str, Any]:
    """The CronJob of a bot with no spec this version accepts: suspended, naming no Secret, on this
    version's image, so that no run uses code or a Secret the spec was not checked against."""
    return _cron_job(
        bot,
        settings,
        schedule=live["spec"]["schedule"],
        time_zone=live["spec"].get("timeZone"),
        suspend=True,
        secret=None,
    )


def _cron_job(
    bot: dict[str, Any],
    settings: OperatorSettings,
    *,
    schedule: str,
    time_zone: str | None,
    suspend: bool,
    secret: bots.SecretKeyRef | None,
) -> dict[str, Any]:
    name = bot["metadata"]["name"]
    password = [_from_secret(APP_PASSWORD_ENV, secret.name, secret.key)] if secret else []
    env = [
        *password,
        _from_secret("SKYBOTS_CREDENTIAL_KEY", settings.session_keys_secret, "credential-key"),
        _from_secret("SKYBOTS_SESSION_KEYS", settings.session_keys_secret, "session-keys"),
        {"name": "SKYBOTS_REDIS_URL", "value": settings.redis_url},
        _from_secret("SKYBOTS_REDIS_PASSWORD", settings.redis_password_secret, "password"),
        {"name": "SKYBOTS_S3_BUCKET", "value": settings.s3_bucket},
        {"name": "AWS_REGION", "value": settings.aws_region},
        # Explicit, so that no key of the optional env Secret (envFrom loses to env) turns the check
        # off or widens it.
        {"name": "SKYBOTS_ALLOW_PRIVATE_ADDRESSES", "value": "false"},
        {"name": "SKYBOTS_EGRESS_ALLOWED_NETWORKS", "value": ",".join(settings.egress_allowed_networks)},
    ]
    if settings.s3_endpoint_url:
        env.append({"name": "SKYBOTS_S3_ENDPOINT_URL", "value": settings.s3_endpoint_url})
    container = {
        "name": CONTAINER,
        "image": settings.reposter_image,
        "imagePullPolicy": settings.reposter_image_pull_policy,
        "args": ["reposter", "run", "--config", f"{CONFIG_DIR}/{CONFIG_KEY}"],
        "env": env,
        "envFrom": [{"secretRef": {"name": settings.reposter_env_secret, "optional": True}}],
        "resources": {
            "requests": {"cpu": settings.reposter_cpu_request, "memory": settings.reposter_memory_request},
            "limits": {"cpu": settings.reposter_cpu_limit, "memory": settings.reposter_memory_limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": REPOSTER_UID,
            "capabilities": {"drop": ["ALL"]},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod_spec = {
        "restartPolicy": "Never",
        "serviceAccountName": settings.reposter_service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": REPOSTER_UID,
            "runAsGroup": REPOSTER_UID,
            "fsGroup": REPOSTER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": child_name(name)}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        ],
    }
    cron_spec: dict[str, Any] = {
        "schedule": schedule,
        "timeZone": time_zone,  # None: removed by the merge patch when a time zone is dropped
        "suspend": suspend,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": settings.starting_deadline_seconds,
        "successfulJobsHistoryLimit": settings.successful_jobs_history,
        "failedJobsHistoryLimit": settings.failed_jobs_history,
        "jobTemplate": {
            "metadata": {"labels": labels(name)},
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": settings.run_deadline_seconds,
                "template": {"metadata": {"labels": labels(name)}, "spec": pod_spec},
            },
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(bot),
        "spec": cron_spec,
    }


def _from_secret(variable: str, secret: str, key: str) -> dict[str, Any]:
    """An environment variable from a Secret's key; not optional: a pod without it never starts."""
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def render_job_from(
    cron_job: dict[str, Any], name: str, *, dry_run: bool, run: str, instantiate: str
) -> dict[str, Any]:
    """A Job from a CronJob's template, as `kubectl create job --from` (or the CronJob controller) makes it.

    `run` labels what started it (manual, preview, scheduled); a dry run adds `--dry-run`.
    """
    template = cron_job["spec"]["jobTemplate"]
    job_spec = dict(template["spec"])
    if dry_run:
        pod = job_spec["template"]["spec"]
        containers = [dict(c, args=[*c.get("args", []), "--dry-run"]) for c in pod["containers"]]
        job_spec = {
            **job_spec,
            "template": {**job_spec["template"], "spec": {**pod, "containers": containers}},
        }
    meta = cron_job["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {**template.get("metadata", {}).get("labels", {}), RUN_LABEL: run},
            "annotations": {"cronjob.kubernetes.io/instantiate": instantiate},
            "ownerReferences": [
                owner_reference(cron_job, api_version="batch/v1", kind="CronJob", block_owner_deletion=False)
            ],
        },
        "spec": job_spec,
    }


def finished_at(job: dict[str, Any]) -> datetime | None:
    """When the Job finished (Complete or Failed), or None while it runs."""
    for condition in job.get("status", {}).get("conditions", []):
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            stamp = job["status"].get("completionTime") or condition.get("lastTransitionTime")
            return datetime.fromisoformat(stamp) if stamp else now()
    return None


def covers(live: Any, desired: Any) -> bool:
    """Whether the live object already holds everything desired (the server may add defaults).

    Dicts may carry extra keys; a None in desired means the key must be absent; lists must
    match item by item, so an item added by hand is drift (our merge patch then replaces
    the list whole).
    """
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            live.get(k) is None if v is None else k in live and covers(live[k], v) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(covers(a, b) for a, b in zip(live, desired, strict=True))
        )
    return bool(live == desired)
