"""Running the real operator (skybots.operator.main) in-process, and driving it like a user would."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import kmock

from skybots.operator.main import run_operator
from skybots.runs import RunReport
from skybots.settings import OperatorSettings
from skybots.stores.kubernetes import timestamp
from tests.support.aws import REGION
from tests.support.kopf_runner import quick_settings, running
from tests.support.kubernetes import ClusterEmulator
from tests.support.processes import free_port

USER_AGENT = "skybots-tests"


def settings_for_tests(namespace: str, aws_endpoint: str, **overrides: Any) -> OperatorSettings:
    """Operator settings for a test: one namespace, run history on moto, metrics on a free port."""
    values: dict[str, Any] = {
        "namespaces": [namespace],
        "metrics_port": free_port(),
        "liveness_endpoint": "",
        "dynamodb_endpoint_url": aws_endpoint,
        "aws_region": REGION,
        "runs_table": "runs",
        "retry_seconds": 0.2,
    }
    return OperatorSettings(**(values | overrides))


def operator_running(settings: OperatorSettings) -> AbstractAsyncContextManager[None]:
    """The operator as `skybots operator` runs it (Kopf's timeouts shortened), until the block ends."""
    return running(
        lambda stop, ready: run_operator(
            settings, stop_flag=stop, ready_flag=ready, create_tables=True, kopf_overrides=quick_settings()
        )
    )


async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 10, what: str = "") -> Any:
    """Poll until `check` returns something truthy without raising; its last error fails the test."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            result = await check()
            if result:
                return result
            error: Exception = AssertionError(f"not yet: {what or check}")
        except (AssertionError, KeyError, httpx.HTTPStatusError, httpx.TransportError) as failure:
            error = failure
        if asyncio.get_running_loop().time() > deadline:
            raise error
        await asyncio.sleep(0.05)


class Api:
    """A person's view of the cluster: plain HTTP to the API server, as kubectl would send it."""

    def __init__(self, base_url: str, namespace: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, headers={"User-Agent": USER_AGENT}, timeout=10)
        self.namespace = namespace

    def path(self, kind: str, name: str | None = None, subresource: str | None = None) -> str:
        group_version, plural = {
            "Bot": ("apis/skybots.dev/v1alpha1", "bots"),
            "CronJob": ("apis/batch/v1", "cronjobs"),
            "Job": ("apis/batch/v1", "jobs"),
            "ConfigMap": ("api/v1", "configmaps"),
            "Secret": ("api/v1", "secrets"),
            "Pod": ("api/v1", "pods"),
            "Event": ("api/v1", "events"),
        }[kind]
        path = f"/{group_version}/namespaces/{self.namespace}/{plural}"
        return path + (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")

    async def get(self, kind: str, name: str) -> dict[str, Any]:
        response = await self.http.get(self.path(kind, name))
        response.raise_for_status()
        return dict(response.json())

    async def exists(self, kind: str, name: str) -> bool:
        return (await self.http.get(self.path(kind, name))).status_code == 200

    async def list(self, kind: str) -> list[dict[str, Any]]:
        response = await self.http.get(self.path(kind))
        response.raise_for_status()
        return list(response.json()["items"])

    async def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": "", "kind": kind, **body}
        body["metadata"] = {"namespace": self.namespace, **body["metadata"]}
        response = await self.http.post(self.path(kind), json=body)
        response.raise_for_status()
        return dict(response.json())

    async def patch(
        self, kind: str, name: str, patch: dict[str, Any], subresource: str | None = None
    ) -> None:
        response = await self.http.patch(
            self.path(kind, name, subresource),
            content=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        response.raise_for_status()

    async def delete(self, kind: str, name: str) -> None:
        (await self.http.delete(self.path(kind, name))).raise_for_status()

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- what the tests create -------------------------------------------------------------

    async def create_secret(
        self, name: str, keys: dict[str, str] | None = None, *, owners: Sequence[dict[str, Any]] = ()
    ) -> None:
        """A Secret made with kubectl; `owners` are its ownerReferences (see `controlled_by`)."""
        data = {
            k: base64.b64encode(v.encode()).decode()
            for k, v in (keys or {"app-password": "abcd-efgh"}).items()
        }
        metadata: dict[str, Any] = {"name": name}
        if owners:
            metadata["ownerReferences"] = list(owners)
        await self.create("Secret", {"apiVersion": "v1", "metadata": metadata, "data": data})

    async def create_bot(self, name: str, **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": "skybots.dev/v1alpha1",
            "metadata": {"name": name},
            "spec": {
                "account": {"handle": f"{name}.bsky.social", "credentialsSecretRef": {"name": name}},
                "sources": [{"type": "hashtag", "tag": "python"}],
                **spec,
            },
        }
        return await self.create("Bot", body)

    async def condition(self, bot: str, type_: str) -> dict[str, Any]:
        status = (await self.get("Bot", bot)).get("status", {})
        for condition in status.get("conditions", []):
            if condition["type"] == type_:
                return dict(condition)
        raise KeyError(f"Bot {bot} has no {type_} condition yet")

    async def run_job(
        self,
        bot: str,
        job: str,
        report: RunReport | None,
        *,
        exit_code: int = 0,
        started: datetime | None = None,
    ) -> None:
        """What the CronJob controller and kubelet do for one run: a Job, its pod, its end."""
        cron_job = await self.get("CronJob", f"bot-{bot}")
        labels = cron_job["spec"]["jobTemplate"]["metadata"]["labels"]
        started = started or datetime.now(UTC) - timedelta(seconds=5)
        await self.create(
            "Job",
            {
                "apiVersion": "batch/v1",
                "metadata": {
                    "name": job,
                    "labels": labels,
                    "ownerReferences": [
                        {
                            "apiVersion": "batch/v1",
                            "kind": "CronJob",
                            "name": cron_job["metadata"]["name"],
                            "uid": cron_job["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": cron_job["spec"]["jobTemplate"]["spec"],
            },
        )
        pod = f"{job}-x7k2p"
        await self.create(
            "Pod",
            {
                "apiVersion": "v1",
                "metadata": {"name": pod, "labels": {**labels, "job-name": job}},
                "spec": cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            },
        )
        finished = started + timedelta(seconds=3)
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": timestamp(started),
            "finishedAt": timestamp(finished),
        }
        if report is not None:
            terminated["message"] = report.termination_message()
        await self.patch(
            "Pod",
            pod,
            {
                "status": {
                    "phase": "Succeeded" if exit_code == 0 else "Failed",
                    "containerStatuses": [
                        {
                            "name": "reposter",
                            "state": {"terminated": terminated},
                            "ready": False,
                            "restartCount": 0,
                        }
                    ],
                }
            },
            subresource="status",
        )
        condition = "Complete" if exit_code == 0 else "Failed"
        await self.patch(
            "Job",
            job,
            {
                "status": {
                    "startTime": timestamp(started),
                    "completionTime": timestamp(finished) if exit_code == 0 else None,
                    "succeeded" if exit_code == 0 else "failed": 1,
                    "conditions": [
                        {"type": condition, "status": "True", "lastTransitionTime": timestamp(finished)}
                    ],
                }
            },
            subresource="status",
        )


def controlled_by(bot: dict[str, Any], *, controller: bool = True) -> dict[str, Any]:
    """An ownerReference to a Bot, as the API writes it on the Bot's Secret (controller: true)."""
    meta = bot["metadata"]
    return {
        "apiVersion": "skybots.dev/v1alpha1",
        "kind": "Bot",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
    }


def operator_requests(cluster: ClusterEmulator) -> list[kmock.Request]:
    """Requests the operator made: Kopf's own, and its adapter's (skybots/<version>)."""
    return list(cluster[kmock.headers({"User-Agent": re.compile(r"(kopf|skybots)/.*")})])


def writes(requests: list[kmock.Request]) -> list[str]:
    return [
        f"{r.method.value} {r.url.path}"
        for r in requests
        if r.method.value in ("POST", "PATCH", "PUT", "DELETE")
    ]


def actions(cluster: ClusterEmulator) -> list[kmock.Request]:
    """The operator's requests other than its watches and their initial lists."""
    return [r for r in operator_requests(cluster) if r.action not in (kmock.action.WATCH, kmock.action.LIST)]


async def settled(cluster: ClusterEmulator, quiet: float = 0.5) -> None:
    """Wait until the operator has made no request but its watches for `quiet` seconds."""
    while True:
        before = len(actions(cluster))
        await asyncio.sleep(quiet)
        if len(actions(cluster)) == before:
            return


def report(outcome: str = "succeeded", **fields: Any) -> RunReport:
    started = datetime.now(UTC) - timedelta(seconds=5)
    return RunReport.model_validate(
        {"outcome": outcome, "startedAt": started, "finishedAt": started + timedelta(seconds=3), **fields}
    )
