"""The operator's scenario on a real API server: CRD admission (schema and CEL), children, drift,
a finished Job, and garbage collection by Kubernetes itself.

The operator runs in-process against the cluster of `kubeconfig` (kind, or SKYBOTS_TEST_KUBECONFIG);
where there is none, the test is skipped with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import Kubectl
from tests.support.manifests import ROOT
from tests.support.operator import eventually, operator_running, report, settings_for_tests


@pytest.fixture
def kubectl(kubeconfig: Path) -> Iterator[Kubectl]:
    namespace = f"skybots-e2e-{uuid.uuid4().hex[:6]}"
    admin = Kubectl(kubeconfig, "default")
    admin("apply", "-f", str(ROOT / "crds" / "bots.skybots.dev.yaml"))
    admin("wait", "--for", "condition=established", "crd/bots.skybots.dev", "--timeout", "60s")
    admin("create", "namespace", namespace)
    yield Kubectl(kubeconfig, namespace)
    admin("delete", "namespace", namespace, "--wait=false", check=False)


def bot(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "skybots.dev/v1alpha1",
        "kind": "Bot",
        "metadata": {"name": name},
        "spec": {
            "account": {"handle": f"{name}.bsky.social", "credentialsSecretRef": {"name": name}},
            "sources": [{"type": "hashtag", "tag": "kubernetes"}],
            **spec,
        },
    }


async def test_the_operator_on_a_real_cluster(
    kubectl: Kubectl, kubeconfig: Path, aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real API server refuses what the CRD's schema and CEL rules refuse.
    refused = kubectl.apply(bot("greedy", limits={"perRun": 50, "perHour": 10, "perDay": 100}), check=False)
    assert refused.returncode != 0
    assert "perRun cannot exceed perHour" in refused.stderr

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    namespace = kubectl.base[-1]
    settings = settings_for_tests(namespace, aws)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "news"},
        "stringData": {"app-password": "x"},
    }
    kubectl.apply(secret, bot("news"))

    async with operator_running(settings):

        async def ready() -> bool:
            found = kubectl.get("bot", "news") or {}
            conditions = found.get("status", {}).get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        await eventually(ready, seconds=60, what="Ready")
        cron_job = kubectl.get("cronjob", "bot-news")
        assert cron_job is not None
        assert cron_job["metadata"]["ownerReferences"][0]["kind"] == "Bot"

        kubectl("delete", "cronjob", "bot-news")
        await eventually(lambda: _exists(kubectl, "cronjob", "bot-news"), seconds=60, what="restored")

        # A run: a Job of the bot whose container writes a report to its termination message.
        message = report(reposted=2, candidates=5).termination_message()
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "bot-news-manual", "labels": {"skybots.dev/bot": "news"}},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": {"skybots.dev/bot": "news"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "reposter",
                                "image": "busybox:1.36",
                                "command": ["sh", "-c", f"echo '{message}' > /dev/termination-log"],
                            }
                        ],
                    },
                },
            },
        }
        kubectl.apply(job)

        async def collected() -> bool:
            found = kubectl.get("bot", "news") or {}
            return bool(found.get("status", {}).get("totals", {}).get("reposted") == 2)

        await eventually(collected, seconds=180, what="the run collected")

    kubectl("delete", "bot", "news")

    async def gone() -> bool:
        return not (
            _exists_now(kubectl, "cronjob", "bot-news") or _exists_now(kubectl, "configmap", "bot-news")
        )

    await eventually(gone, seconds=120, what="children garbage-collected")


async def _exists(kubectl: Kubectl, kind: str, name: str) -> bool:
    return _exists_now(kubectl, kind, name)


def _exists_now(kubectl: Kubectl, kind: str, name: str) -> bool:
    return kubectl.get(kind, name) is not None
