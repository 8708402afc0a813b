"""RBAC as shipped in manifests/base, in the terms `rbac_terms()` speaks."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.kubernetes import RbacTerm

BASE = Path(__file__).resolve().parents[2] / "manifests" / "base"
OPERATOR_RBAC = BASE / "operator-rbac.yaml"
API_RBAC = BASE / "api-rbac.yaml"


def grants(rbac_file: Path, namespace: str) -> set[RbacTerm]:
    """Every (verb, group, resource) the file's role grants, in the namespace its RoleBinding names."""
    documents = list(yaml.safe_load_all(rbac_file.read_text()))
    role = next(d for d in documents if d["kind"] in ("ClusterRole", "Role"))
    return {
        RbacTerm(verb, group, resource, namespace)
        for rule in role["rules"]
        for verb in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
