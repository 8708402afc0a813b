"""The Job controller's and the kubelet's part, for the local runtime: each Job's one pod runs here.

As in a cluster: a Job gets one pod (backoffLimit 0), the pod gets its ConfigMap volume and its
app password from the Secret its container names, the reposter runs, and its report is written
where the kubelet writes it: the container's termination message and exit code. The Job is then
Complete or Failed, and the operator's collect reads the pod as it reads it in a cluster.

What the local node gives instead of the pod's own environment: the runtime's keys, cache and
object store (a cluster's Redis and S3 are named in the pod's env), and loopback addresses
allowed (Bluesky's network may run on this machine). A pod that cannot start (its ConfigMap or
Secret is missing) fails its Job at once instead of waiting for the Job's deadline. A pod that
was running when the runtime stopped has its Job failed when it starts again, as after a lost node.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any

import httpx

from skybots.operator.rendering import APP_PASSWORD_ENV, CONFIG_KEY, CONTAINER, finished_at, owner_reference
from skybots.operator.status import now
from skybots.reposter.config import ConfigError, ReposterSettings, load_config
from skybots.reposter.main import invalid_config
from skybots.reposter.run import run_bot
from skybots.runs import EXIT_CODES, RunReport
from skybots.stores.cache import Cache
from skybots.stores.kubernetes import CONFIG_MAP, JOB, POD, SECRET, KubernetesApi, NotFound, timestamp
from skybots.stores.objects import ObjectStore

log = logging.getLogger(__name__)
JobKey = tuple[str, str]  # (namespace, name)


class PodCannotStart(Exception):
    """What the kubelet would report as CreateContainerConfigError: a volume or a Secret is missing."""


class JobRunner:
    """Runs every Job it is told of, once, in this process; one per local runtime."""

    def __init__(
        self,
        kube: KubernetesApi,
        *,
        cache: Cache,
        objects: ObjectStore,
        environment: dict[str, str],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`environment` is the reposter's, as the local node gives it (SKYBOTS_*), but the app password."""
        self.kube, self.cache, self.objects = kube, cache, objects
        self._environment, self._transport = environment, transport
        self._running: dict[JobKey, asyncio.Task[None]] = {}

    def start(self, job: dict[str, Any]) -> None:
        """Run the Job's pod, unless it runs already."""
        key = _key(job)
        if key not in self._running:
            self._running[key] = asyncio.create_task(self._run(job))
            self._running[key].add_done_callback(lambda _: self._running.pop(key, None))

    def cancel(self, job: dict[str, Any]) -> None:
        """The Job was deleted: its pod goes with it."""
        if (task := self._running.get(_key(job))) is not None:
            task.cancel()

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, job: dict[str, Any]) -> None:
        """The Job as it is now (an event may be older than the run that ended it), then its pod."""
        meta = job["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        try:
            job = await self.kube.get(JOB, namespace, name)
            if finished_at(job) is not None:
                return
            if await self.kube.list(POD, namespace, label_selector=f"job-name={name}"):
                await self._end(job, "Failed", "the local runtime stopped while its pod ran")
                return
            await self._status(job, {"startTime": timestamp(now()), "active": 1})
            pod = await self.kube.create(POD, namespace, _pod(job))
            try:
                report = await self._reposter(job)
            except PodCannotStart as error:
                await self._end(job, "Failed", str(error))
                return
            except Exception:  # the reposter crashed: no report, exit code 1, as from a pod
                log.exception("Job %s/%s: the reposter failed", namespace, name)
                await self._terminated(pod, 1, None)
                await self._end(job, "Failed", "the pod failed")
                return
            code = EXIT_CODES[report.outcome]
            await self._terminated(pod, code, report)
            await self._end(job, "Complete" if code == 0 else "Failed", f"the pod exited with {code}")
        except NotFound:
            log.info("Job %s/%s: deleted during its run", namespace, name)

    async def _reposter(self, job: dict[str, Any]) -> RunReport:
        """The container's run: its config file from the ConfigMap volume, its app password from the Secret."""
        namespace = job["metadata"]["namespace"]
        pod_spec = job["spec"]["template"]["spec"]
        [container] = [c for c in pod_spec["containers"] if c["name"] == CONTAINER]
        [config_map] = [v["configMap"]["name"] for v in pod_spec["volumes"] if "configMap" in v]
        environment = dict(self._environment)
        for variable in container.get("env", []):
            if variable["name"] == APP_PASSWORD_ENV:
                environment[APP_PASSWORD_ENV] = await self._secret_value(namespace, variable)
        try:
            config_text = (await self.kube.get(CONFIG_MAP, namespace, config_map))["data"][CONFIG_KEY]
        except (NotFound, KeyError):
            raise PodCannotStart(
                f'configmap "{config_map}" not found (or it has no key {CONFIG_KEY})'
            ) from None
        started = now()
        with tempfile.TemporaryDirectory(prefix="skybots-pod-") as volume:
            path = Path(volume) / CONFIG_KEY
            path.write_text(config_text)
            try:
                settings = ReposterSettings.from_environ(environment)
                config = load_config(path)
            except ConfigError as error:
                return invalid_config(error, started)
        return await run_bot(
            config,
            settings,
            cache=self.cache,
            objects=self.objects,
            dry_run="--dry-run" in container.get("args", []),
            transport=self._transport,
        )

    async def _secret_value(self, namespace: str, variable: dict[str, Any]) -> str:
        ref = variable["valueFrom"]["secretKeyRef"]
        try:
            encoded = (await self.kube.get(SECRET, namespace, ref["name"])).get("data", {})[ref["key"]]
        except NotFound:
            raise PodCannotStart(f'secret "{ref["name"]}" not found') from None
        except KeyError:
            raise PodCannotStart(
                f"couldn't find key {ref['key']} in Secret {namespace}/{ref['name']}"
            ) from None
        return base64.b64decode(encoded).decode()

    async def _terminated(self, pod: dict[str, Any], code: int, report: RunReport | None) -> None:
        """The container's end as the kubelet records it: exit code, and the termination message."""
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "finishedAt": timestamp(now()),
        }
        if report is not None:
            terminated["message"] = report.termination_message()
        status = {
            "phase": "Succeeded" if code == 0 else "Failed",
            "containerStatuses": [{"name": CONTAINER, "state": {"terminated": terminated}}],
        }
        meta = pod["metadata"]
        await self.kube.patch(POD, meta["namespace"], meta["name"], {"status": status}, subresource="status")

    async def _end(self, job: dict[str, Any], condition: str, message: str) -> None:
        """The Job's end as the Job controller records it: Complete, or Failed with why."""
        ended = timestamp(now())
        reason = "Completed" if condition == "Complete" else "BackoffLimitExceeded"
        status: dict[str, Any] = {
            "active": None,
            "succeeded" if condition == "Complete" else "failed": 1,
            "conditions": [
                {
                    "type": condition,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": ended,
                }
            ],
        }
        if condition == "Complete":
            status["completionTime"] = ended
        await self._status(job, status)

    async def _status(self, job: dict[str, Any], status: dict[str, Any]) -> None:
        meta = job["metadata"]
        await self.kube.patch(JOB, meta["namespace"], meta["name"], {"status": status}, subresource="status")


def _pod(job: dict[str, Any]) -> dict[str, Any]:
    """The Job's pod, as the Job controller makes it from the template."""
    meta, template = job["metadata"], job["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "labels": {**(template.get("metadata", {}).get("labels") or {}), "job-name": meta["name"]},
            "ownerReferences": [owner_reference(job, api_version="batch/v1", kind="Job")],
        },
        "spec": template["spec"],
    }


def _key(job: dict[str, Any]) -> JobKey:
    return job["metadata"]["namespace"], job["metadata"]["name"]
