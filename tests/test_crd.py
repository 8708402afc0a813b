"""The committed CRD is what the models generate, and it is a CRD the API server accepts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from skybots.crd import bot_crd

ROOT = Path(__file__).resolve().parent.parent
CRD_FILE = ROOT / "crds" / "bots.skybots.dev.yaml"
BIN = Path(sys.executable).parent


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path or "<root>", schema)]
    for name, prop in schema.get("properties", {}).items():
        nodes += walk(prop, f"{path}.{name}")
    if "items" in schema:
        nodes += walk(schema["items"], f"{path}[]")
    return nodes


SCHEMA = bot_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
NODES = walk(SCHEMA)


def test_committed_crd_is_what_skybots_crd_prints() -> None:
    printed = subprocess.run([BIN / "skybots", "crd"], check=True, capture_output=True, text=True).stdout
    assert printed == CRD_FILE.read_text(), "crds/ drifted from the model: run `make crd` and commit"


def test_crd_passes_kubernetes_validate_strict() -> None:
    result = subprocess.run(
        [BIN / "kubernetes-validate", "--strict", CRD_FILE], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


@pytest.mark.parametrize(("path", "node"), NODES, ids=[p for p, _ in NODES])
def test_every_node_is_structural(path: str, node: dict[str, Any]) -> None:
    assert "type" in node, f"{path} has no type"
    assert "$ref" not in node
    assert node.get("additionalProperties") is not False
    for key in ("anyOf", "oneOf", "allOf"):
        assert key not in node, f"{path} uses {key}; structural schemas declare fields once"
    assert "const" not in node


@pytest.mark.parametrize(("path", "node"), NODES[1:], ids=[p for p, _ in NODES[1:]])
def test_every_field_is_described_and_bounded(path: str, node: dict[str, Any]) -> None:
    if not path.endswith("[]"):
        assert node.get("description"), f"{path} has no description for kubectl explain"
    if path in (".apiVersion", ".kind"):
        return  # the API server's own fields, checked by it
    if node["type"] == "string" and "enum" not in node and node.get("format") != "date-time":
        assert "maxLength" in node, f"{path} is an unbounded string"
    if node["type"] == "array":
        assert "maxItems" in node, f"{path} is an unbounded list"


def test_crd_names_subresource_and_columns() -> None:
    crd = bot_crd()
    names = crd["spec"]["names"]
    assert (crd["metadata"]["name"], crd["spec"]["group"], crd["spec"]["scope"]) == (
        "bots.skybots.dev",
        "skybots.dev",
        "Namespaced",
    )
    assert (names["kind"], names["shortNames"], names["categories"]) == ("Bot", ["bot"], ["skybots"])
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Schedule", "Suspended", "Ready", "Last Run", "Reposts", "Age"]


@pytest.mark.parametrize(
    "column", bot_crd()["spec"]["versions"][0]["additionalPrinterColumns"], ids=lambda c: c["name"]
)
def test_printer_column_paths_exist_in_schema(column: dict[str, Any]) -> None:
    json_path = column["jsonPath"]
    if json_path == ".metadata.creationTimestamp":
        return  # ObjectMeta is the API server's own, always present
    node = SCHEMA
    for part in re.sub(r"\[\?\(.*?\)\]", "[]", json_path).strip(".").split("."):
        name, is_list = part.removesuffix("[]"), part.endswith("[]")
        assert name in node.get("properties", {}), f"{json_path}: no {name!r} in the schema"
        node = node["properties"][name]
        if is_list:
            node = node["items"]
    type_of = {"string": "string", "boolean": "boolean", "integer": "integer", "date": "string"}
    assert node["type"] == type_of[column["type"]]
    if column["type"] == "date":
        assert node.get("format") == "date-time"


def test_conditions_are_a_map_keyed_by_type() -> None:
    conditions = SCHEMA["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) >= {"type", "status", "reason", "lastTransitionTime"}


def test_committed_crd_loads_as_yaml() -> None:
    assert yaml.safe_load(CRD_FILE.read_text()) == bot_crd()
