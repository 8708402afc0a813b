"""A real cluster for the tests in this folder: kind on Docker, or a kubeconfig you name.

Where neither is available (CI has no container engine) every test here is skipped, and the
reason is printed in pytest's summary (-ra).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.manifests import KUBECTL

CLUSTER_NAME = "skybots-test"


def why_no_cluster() -> str | None:
    if os.environ.get("SKYBOTS_TEST_KUBECONFIG"):
        return None
    if not shutil.which("kind"):
        return "no real cluster: `kind` is not installed (or set SKYBOTS_TEST_KUBECONFIG to a cluster's kubeconfig)"
    if not shutil.which("docker"):
        return "no real cluster: `docker` is not installed, and kind runs on Docker"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "no real cluster: no Docker engine is running (`docker info` failed), and kind runs on Docker"
    return None


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kubeconfig for a real cluster: the one named by SKYBOTS_TEST_KUBECONFIG, or a kind cluster made here."""
    reason = why_no_cluster()
    if reason:
        pytest.skip(reason)
    if named := os.environ.get("SKYBOTS_TEST_KUBECONFIG"):
        yield Path(named)
        return
    path = tmp_path_factory.mktemp("kind") / "kubeconfig"
    clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, check=True).stdout
    made_here = CLUSTER_NAME not in clusters.split()
    if made_here:
        subprocess.run(["kind", "create", "cluster", "--name", CLUSTER_NAME, "--wait", "120s"], check=True)
    subprocess.run(
        ["kind", "export", "kubeconfig", "--name", CLUSTER_NAME, "--kubeconfig", str(path)], check=True
    )
    yield path
    if made_here:
        subprocess.run(["kind", "delete", "cluster", "--name", CLUSTER_NAME], check=False)


class Kubectl:
    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.base = [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--namespace", namespace]

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.base, *args], input=stdin, capture_output=True, text=True, check=check)

    def apply(self, *objects: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        return self("apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objects), check=check)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        result = self("get", kind, name, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None
