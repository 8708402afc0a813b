"""The operator's RBAC as shipped in manifests/, in the terms `rbac_terms()` speaks."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.kubernetes import RbacTerm

RBAC_FILE = Path(__file__).resolve().parents[2] / "manifests" / "base" / "operator-rbac.yaml"


def operator_grants(namespace: str) -> set[RbacTerm]:
    """Every (verb, group, resource) the operator's ClusterRole grants, in the namespace its RoleBinding names."""
    documents = list(yaml.safe_load_all(RBAC_FILE.read_text()))
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    return {
        RbacTerm(verb, group, resource, namespace)
        for rule in role["rules"]
        for verb in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
