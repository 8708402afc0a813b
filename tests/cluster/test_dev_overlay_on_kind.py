"""The whole platform as shipped: images built from the Dockerfile, loaded into kind, the dev overlay
applied; a bot gets its CronJob, a run of it is collected, and deleting it leaves nothing behind.

Needs kind and a running Docker engine (`make e2e-kind`); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import CLUSTER_NAME, Kubectl
from tests.support.manifests import MANIFESTS, ROOT
from tests.support.operator import eventually

NS = "skybots"
IMAGES = {target: f"skybots-{target}:dev" for target in ("reposter", "operator", "api")}
DEPLOYMENTS = ("skybots-operator", "skybots-api", "skybots-redis", "skybots-aws")


@pytest.fixture(scope="module")
def deployed(kubeconfig: Path) -> Iterator[Kubectl]:
    """The dev overlay running in the kind cluster, with the images built here."""
    if not shutil.which("kind") or not shutil.which("docker"):
        pytest.skip("the dev overlay needs kind and Docker to build and load its images")
    for target, image in IMAGES.items():
        subprocess.run(["docker", "build", "--target", target, "-t", image, str(ROOT)], check=True)
        subprocess.run(["kind", "load", "docker-image", image, "--name", CLUSTER_NAME], check=True)
    kubectl = Kubectl(kubeconfig, NS)
    overlay = str(MANIFESTS / "overlays" / "dev")
    # The CRD first (as ArgoCD's sync wave does), then everything.
    kubectl("apply", "--server-side", "-f", str(ROOT / "crds" / "bots.skybots.dev.yaml"))
    kubectl("wait", "--for", "condition=established", "crd/bots.skybots.dev", "--timeout", "60s")
    kubectl("apply", "--server-side", "-k", overlay)
    for name in DEPLOYMENTS:
        kubectl("rollout", "status", f"deployment/{name}", "--timeout", "300s")
    yield kubectl
    kubectl("delete", "-k", overlay, "--wait=false", check=False)


def _example() -> list[dict[str, Any]]:
    documents = [
        d
        for file in sorted((MANIFESTS / "examples").glob("*.yaml"))
        for d in yaml.safe_load_all(file.read_text())
    ]
    for document in documents:
        if document["kind"] == "Bot":
            document["spec"]["schedule"] = "*/1 * * * *"
    return documents


async def test_a_bot_runs_on_the_dev_overlay_and_leaves_nothing_when_deleted(deployed: Kubectl) -> None:
    kubectl = deployed
    kubectl.apply(*_example())
    # The Secret made by hand becomes the Bot's, as the example's comment says (the API does it itself).
    bot = kubectl.get("bot", "python-news") or {}
    owner = {
        "apiVersion": "skybots.dev/v1alpha1",
        "kind": "Bot",
        "name": "python-news",
        "uid": bot["metadata"]["uid"],
        "controller": True,
    }
    patch = json.dumps({"metadata": {"ownerReferences": [owner]}})
    kubectl("patch", "secret", "python-news-bot", "--type", "merge", "-p", patch)
    await eventually(lambda: _ready(kubectl), seconds=120, what="the example bot Ready")
    cron_job = kubectl.get("cronjob", "bot-python-news")
    assert cron_job is not None
    container = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGES["reposter"]

    # A run now (its app password is a placeholder, so it fails to sign in: still a run to collect).
    kubectl("create", "job", "--from=cronjob/bot-python-news", "bot-python-news-e2e")
    await eventually(lambda: _collected(kubectl), seconds=300, what="the run collected into the bot's status")

    kubectl("delete", "bot", "python-news")
    await eventually(
        lambda: _nothing_left(kubectl), seconds=180, what="the bot's CronJob, ConfigMap, Jobs, Pods gone"
    )


async def _ready(kubectl: Kubectl) -> bool:
    found = kubectl.get("bot", "python-news") or {}
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in found.get("status", {}).get("conditions", [])
    )


async def _collected(kubectl: Kubectl) -> bool:
    found = kubectl.get("bot", "python-news") or {}
    return bool(found.get("status", {}).get("lastRun", {}).get("outcome"))


async def _nothing_left(kubectl: Kubectl) -> bool:
    left = kubectl("get", "cronjobs,configmaps,jobs,pods", "-l", "skybots.dev/bot=python-news", "-o", "name")
    return kubectl.get("bot", "python-news") is None and not left.stdout.strip()
