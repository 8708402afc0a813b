"""Validate custom objects the way the API server does: defaults, structural schema, CEL rules.

The schema part is openapi-schema-validator's OAS 3.0 validator (it knows `nullable`); the
rules part is cel-python (standard CEL) with the one Kubernetes string extension our rules
use, `lowerAscii`. Unknown fields are errors, as with kubectl's default strict field validation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
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
        validator = OAS30Validator(self.schema)
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
            for key, item in value.items():
                if key not in schema["properties"]:
                    if path or key not in ("apiVersion", "kind", "metadata"):
                        yield format_path([*path, key]), f'unknown field "{key}"'
                elif path or key != "metadata":
                    yield from self._unknown_fields(schema["properties"][key], item, [*path, key])
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                yield from self._unknown_fields(schema["items"], item, [*path, index])

    def _rules(self, schema: dict[str, Any], value: Any, path: list[Any]) -> Iterator[tuple[str, str]]:
        if value is None:
            return
        for rule in schema.get("x-kubernetes-validations", []):
            if not self._evaluate(rule["rule"], value):
                field = format_path(path) + rule.get("fieldPath", "")
                yield field, rule.get("message") or f"failed rule: {rule['rule']}"
        if isinstance(value, dict):
            for key, prop in schema.get("properties", {}).items():
                if key in value and (path or key != "metadata"):
                    yield from self._rules(prop, value[key], [*path, key])
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                yield from self._rules(schema["items"], item, [*path, index])

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


def _apply_defaults(schema: dict[str, Any], value: Any) -> None:
    """Structural defaulting: missing fields with a default get it, nested defaults included."""
    if isinstance(value, dict):
        for key, prop in schema.get("properties", {}).items():
            if key not in value and "default" in prop:
                value[key] = copy.deepcopy(prop["default"])
            if key in value:
                _apply_defaults(prop, value[key])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            _apply_defaults(schema["items"], item)
