"""RBAC as the built manifests grant it, in the terms `rbac_terms()` speaks."""

from __future__ import annotations

from tests.support.kubernetes import RbacTerm
from tests.support.manifests import build

OPERATOR = "skybots-operator"
API = "skybots-api"


def grants(service_account: str, namespace: str) -> set[RbacTerm]:
    """Every (verb, group, resource) the RoleBindings of `manifests/base` give the account, bound in `namespace`."""
    built = build("manifests/base")
    roles = {(o["kind"], o["metadata"]["name"]): o for o in built if o["kind"] in ("Role", "ClusterRole")}
    terms = set()
    for binding in built:
        if binding["kind"] != "RoleBinding":
            continue
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == service_account for s in binding["subjects"]
        ):
            continue
        role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        terms |= {
            RbacTerm(verb, group, resource, namespace)
            for rule in role["rules"]
            for verb in rule["verbs"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
        }
    return terms
