"""Validate custom objects the way the API server does: defaults, structural schema, CEL rules.

The schema part is openapi-schema-validator's OAS 3.0 validator (it knows `nullable`) taught
the uniqueness `x-kubernetes-list-type` asks for; the rules part is cel-python (standard CEL) with
the one Kubernetes string extension our rules use, `lowerAscii`. Unknown fields are errors, as
with kubectl's default strict field validation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from jsonschema import ValidationError, validators  # type: ignore[import-untyped]  # no stubs
from openapi_schema_validator import OAS30Validator

# Kubernetes' CEL library extends standard CEL; these are the extensions our rules use.
KUBERNETES_CEL_FUNCTIONS: dict[str, Any] = {
    "lowerAscii": lambda value: celtypes.StringType(str(value).lower())
}


def format_path(parts: Any) -> str:
    path = ""
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}" if path else str(part)
    return path


def _list_type(
    validator: Any, list_type: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """`x-kubernetes-list-type`: a map list holds each key once (e.g. one rule group a name), a set
    list each item once."""
    if not isinstance(instance, list) or list_type not in ("map", "set"):
        return
    names = schema.get("x-kubernetes-list-map-keys", [])
    seen: list[Any] = []  # items need not be hashable
    for index, item in enumerate(instance):
        key = {n: item.get(n) for n in names} if list_type == "map" and isinstance(item, dict) else item
        if key in seen:
            yield ValidationError(f"Duplicate value: {key!r}", path=[index])
        seen.append(key)


KubernetesSchemaValidator = validators.extend(OAS30Validator, {"x-kubernetes-list-type": _list_type})


class CrdValidator:
    """Admission of one CRD version's objects: `admit()` returns the defaulted object or errors."""

    def __init__(self, crd: dict[str, Any], version: str | None = None) -> None:
        versions = crd["spec"]["versions"]
        chosen = next(v for v in versions if version is None or v["name"] == version)
        self.schema: dict[str, Any] = chosen["schema"]["openAPIV3Schema"]
        self._cel = celpy.Environment()
        self._programs: dict[str, Any] = {}

    def admit(self, obj: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The object with defaults applied, and (field path, message) for everything wrong with it."""
        defaulted = copy.deepcopy(obj)
        _apply_defaults(self.schema, defaulted)
        errors = list(self._unknown_fields(self.schema, defaulted, []))
        validator = KubernetesSchemaValidator(self.schema)
        errors += [_as_kubernetes_error(e) for e in validator.iter_errors(defaulted)]
        if not errors:
            errors += list(self._rules(self.schema, defaulted, []))
        return defaulted, errors

    def errors(self, obj: dict[str, Any]) -> list[tuple[str, str]]:
        return self.admit(obj)[1]

    def _unknown_fields(
        self, schema: dict[str, Any], value: Any, path: list[Any]
    ) -> Iterator[tuple[str, str]]:
        if isinstance(value, dict) and "properties" in schema:
            for key in value:
                if key not in schema["properties"] and (
                    path or key not in ("apiVersion", "kind", "metadata")
                ):
                    yield format_path([*path, key]), f'unknown field "{key}"'
        for key, child, item in _children(schema, value):
            if path or key != "metadata":
                yield from self._unknown_fields(child, item, [*path, key])

    def _rules(self, schema: dict[str, Any], value: Any, path: list[Any]) -> Iterator[tuple[str, str]]:
        if value is None:
            return
        for rule in schema.get("x-kubernetes-validations", []):
            if not self._evaluate(rule["rule"], value):
                field = format_path(path) + rule.get("fieldPath", "")
                yield field, rule.get("message") or f"failed rule: {rule['rule']}"
        for key, child, item in _children(schema, value):
            if path or key != "metadata":
                yield from self._rules(child, item, [*path, key])

    def _evaluate(self, rule: str, value: Any) -> bool:
        if rule not in self._programs:
            self._programs[rule] = self._cel.program(
                self._cel.compile(rule), functions=KUBERNETES_CEL_FUNCTIONS
            )
        return bool(self._programs[rule].evaluate({"self": json_to_cel(value)}))


def _as_kubernetes_error(error: Any) -> tuple[str, str]:
    """The API server names the missing field itself: `spec.account: Required value`."""
    if error.validator == "required":
        missing = next(name for name in error.validator_value if name not in error.instance)
        return format_path([*error.absolute_path, missing]), "Required value"
    return format_path(error.absolute_path), error.message


def _children(schema: dict[str, Any], value: Any) -> Iterator[tuple[str | int, dict[str, Any], Any]]:
    """(key, schema, value) of each part of `value` a sub-schema governs: declared fields, the
    values of a map (`additionalProperties`), the items of a list; the one way down for every walk."""
    if isinstance(value, dict):
        properties, values = schema.get("properties", {}), schema.get("additionalProperties")
        for key, item in value.items():
            child = properties.get(key, values if isinstance(values, dict) else None)
            if child is not None:
                yield key, child, item
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield index, schema["items"], item


def _apply_defaults(schema: dict[str, Any], value: Any) -> None:
    """Structural defaulting: missing fields with a default get it, nested defaults included."""
    if isinstance(value, dict):
        for key, prop in schema.get("properties", {}).items():
            if key not in value and "default" in prop:
                value[key] = copy.deepcopy(prop["default"])
    for _, child, item in _children(schema, value):
        _apply_defaults(child, item)
