"""The Bot CustomResourceDefinition, generated from the models in `skybots.bots`.

pydantic writes JSON Schema; Kubernetes wants a structural OpenAPI v3 schema. The
differences this module bridges: no `$ref` (inlined), `nullable` instead of anyOf-null,
no `additionalProperties: false` (the API server prunes unknown fields), `enum` instead of
`const`, and a discriminated union becomes one object whose `type` picks the fields that
apply, enforced by generated CEL rules.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, NoDefault
from pydantic_core import core_schema

from skybots import bots

NAME = f"{bots.PLURAL}.{bots.GROUP}"

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
    {"name": "Suspended", "type": "boolean", "jsonPath": ".spec.suspend"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Last Run", "type": "date", "jsonPath": ".status.lastRun.finishedAt"},
    {"name": "Reposts", "type": "integer", "jsonPath": ".status.totals.reposted"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Handle", "type": "string", "jsonPath": ".spec.account.handle", "priority": 1},
    {"name": "Outcome", "type": "string", "jsonPath": ".status.lastRun.outcome", "priority": 1},
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        "priority": 1,
    },
]

_DROPPED_KEYWORDS = ("title", "discriminator", "$defs")


class _KubernetesJsonSchema(GenerateJsonSchema):
    """JSON Schema as the CRD needs it: factory defaults spelled out, nullable instead of anyOf-null."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        if "default_factory" in schema:
            value = schema["default_factory"]()  # type: ignore[call-arg]
            # An object default of {} lets the API server apply the nested fields' own defaults.
            return {} if isinstance(value, BaseModel) else value
        default = schema.get("default", NoDefault)
        return NoDefault if default is None else default

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        return {"allOf": [inner], "nullable": True} if "$ref" in inner else inner | {"nullable": True}


def openapi_schema(model: type[BaseModel], *, defaults: bool = True) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a model."""
    raw = model.model_json_schema(by_alias=True, schema_generator=_KubernetesJsonSchema)
    schema: dict[str, Any] = _structural(raw, raw.get("$defs", {}), defaults=defaults)
    return schema


def _structural(node: Any, defs: dict[str, Any], *, defaults: bool) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs, defaults=defaults) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "description" or v}}
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}
        return _structural(node, defs, defaults=defaults)
    if "oneOf" in node and "discriminator" in node:
        node = _merge_union(node, defs, defaults=defaults)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    if not defaults:
        node.pop("default", None)
    result = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "properties":
            result[key] = {name: _structural(prop, defs, defaults=defaults) for name, prop in value.items()}
        elif key in ("items", "allOf", "anyOf", "oneOf", "not"):
            result[key] = _structural(value, defs, defaults=defaults)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_union(node: dict[str, Any], defs: dict[str, Any], *, defaults: bool) -> dict[str, Any]:
    """One object for every variant; CEL rules say which fields each `type` needs and allows."""
    tag = node["discriminator"]["propertyName"]
    variants = [_structural(v, defs, defaults=defaults) for v in node["oneOf"]]
    names = [v["properties"][tag]["enum"][0] for v in variants]
    properties: dict[str, Any] = {}
    owners: dict[str, list[str]] = {}
    for name, variant in zip(names, variants, strict=True):
        for prop, schema in variant["properties"].items():
            if prop == tag:
                continue
            if prop in properties and properties[prop] != schema:
                raise ValueError(f"union variants disagree on the schema of {prop!r}")
            properties.setdefault(prop, schema)
            owners.setdefault(prop, []).append(name)
    tag_schema = dict(variants[0]["properties"][tag])
    tag_schema["enum"] = names
    tag_schema["description"] = "The kind of source: " + "; ".join(
        f"{name}: {variant.get('description', '').rstrip('.')}"
        for name, variant in zip(names, variants, strict=True)
    )
    rules = []
    for name, variant in zip(names, variants, strict=True):
        for prop in variant.get("required", []):
            if prop != tag:
                rules.append(
                    {
                        "rule": f"self.{tag} != '{name}' || has(self.{prop})",
                        "message": f"a {name} source needs {prop}",
                        "fieldPath": f".{prop}",
                    }
                )
    for prop, allowed in owners.items():
        if len(allowed) < len(names):
            quoted = ", ".join(f"'{a}'" for a in allowed)
            rules.append(
                {
                    "rule": f"!has(self.{prop}) || self.{tag} in [{quoted}]",
                    "message": f"{prop} applies only to sources of type {', '.join(allowed)}",
                    "fieldPath": f".{prop}",
                }
            )
    return {
        "type": "object",
        "description": node.get("description") or "One of several kinds, chosen by type.",
        "required": [tag],
        "properties": {tag: tag_schema, **properties},
        "x-kubernetes-validations": rules,
    }


def bot_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the Bot kind."""
    spec = openapi_schema(bots.BotSpec)
    status = openapi_schema(bots.BotStatus, defaults=False)
    return {
        "type": "object",
        "description": "A Bluesky repost bot: which account reposts what, and how often.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation of an object.",
            },
            "kind": {"type": "string", "description": "Kind is the REST resource this object represents."},
            "metadata": {"type": "object", "description": "Standard object metadata."},
            "spec": spec,
            "status": status,
        },
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.size() <= {bots.MAX_BOT_NAME_LENGTH}",
                "message": f"a Bot's name is at most {bots.MAX_BOT_NAME_LENGTH} characters "
                f"(its CronJob is {bots.CRONJOB_PREFIX}<name>)",
            },
            {
                "rule": f"self.metadata.name.matches('{bots.DNS_LABEL}')",
                "message": "a Bot's name must be a DNS label: lower-case letters, digits and '-'",
            },
        ],
    }


def bot_crd() -> dict[str, Any]:
    """The CustomResourceDefinition of the Bot kind."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": NAME,
            "labels": {"app.kubernetes.io/name": "skybots", "app.kubernetes.io/part-of": "skybots"},
        },
        "spec": {
            "group": bots.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": bots.KIND,
                "listKind": f"{bots.KIND}List",
                "plural": bots.PLURAL,
                "singular": bots.KIND.lower(),
                "shortNames": ["bot"],
                "categories": ["skybots"],
            },
            "versions": [
                {
                    "name": bots.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": bot_schema()},
                }
            ],
        },
    }


def crd_yaml() -> str:
    """The CRD as the YAML committed under crds/."""
    import yaml

    header = "# Generated by `skybots crd` from skybots/bots.py. Do not edit by hand.\n"
    return header + yaml.safe_dump(bot_crd(), sort_keys=False, width=120, allow_unicode=True)
