"""The CRD validator keeps to the API server where other projects' CRDs need more than ours.

Argo CD's and Prometheus Operator's CRDs use `x-kubernetes-preserve-unknown-fields`,
`x-kubernetes-int-or-string` and maps of objects; these small CRDs pin how each is admitted, so
that a check passing against a vendored CRD means what the API server would say.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.crd_validation import CrdValidator


def validator_for(spec: dict[str, Any]) -> CrdValidator:
    """A CRD whose objects have `spec` as given."""
    schema = {"type": "object", "properties": {"spec": spec}}
    crd = {"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": schema}}]}}
    return CrdValidator(crd)


def obj(spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.dev/v1", "kind": "Thing", "metadata": {"name": "a"}, "spec": spec}


PRESERVING = validator_for(
    {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "declared": {"type": "object", "properties": {"size": {"type": "integer"}}},
            "freeform": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
)


def test_preserve_unknown_fields_keeps_unknown_fields_at_its_level() -> None:
    assert PRESERVING.errors(obj({"extra": {"anything": [1, "two"]}, "declared": {"size": 1}})) == []


def test_preserve_unknown_fields_does_not_reach_into_declared_fields() -> None:
    """As the API server prunes: a declared object below a preserving one is structural again."""
    errors = PRESERVING.errors(obj({"declared": {"size": 1, "colour": "red"}}))
    assert errors == [("spec.declared.colour", 'unknown field "colour"')]


def test_preserve_unknown_fields_without_properties_takes_anything() -> None:
    assert PRESERVING.errors(obj({"freeform": {"a": {"b": {"c": [True]}}}})) == []


def test_without_preserve_unknown_fields_an_unknown_field_is_an_error() -> None:
    strict = validator_for({"type": "object", "properties": {"size": {"type": "integer"}}})
    assert strict.errors(obj({"size": 1, "extra": 2})) == [("spec.extra", 'unknown field "extra"')]


INT_OR_STRING = {"x-kubernetes-int-or-string": True}
ANY_OF_INT_OR_STRING = {**INT_OR_STRING, "anyOf": [{"type": "integer"}, {"type": "string"}]}


@pytest.mark.parametrize("schema", [INT_OR_STRING, ANY_OF_INT_OR_STRING], ids=["bare", "anyOf"])
@pytest.mark.parametrize("value", [8080, "http", 0, ""])
def test_int_or_string_takes_an_integer_or_a_string(schema: dict[str, Any], value: Any) -> None:
    port = validator_for({"type": "object", "properties": {"port": schema}})
    assert port.errors(obj({"port": value})) == []


@pytest.mark.parametrize("schema", [INT_OR_STRING, ANY_OF_INT_OR_STRING], ids=["bare", "anyOf"])
@pytest.mark.parametrize("value", [True, 1.5, [80], {"port": 80}])
def test_int_or_string_refuses_anything_else_once(schema: dict[str, Any], value: Any) -> None:
    port = validator_for({"type": "object", "properties": {"port": schema}})
    [(path, _)] = port.errors(obj({"port": value}))
    assert path == "spec.port"


MAP_OF_OBJECTS = validator_for(
    {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {
                "weight": {"type": "integer", "default": 1},
                "limit": {"type": "integer"},
            },
            "x-kubernetes-validations": [
                {"rule": "!has(self.limit) || self.limit >= self.weight", "message": "limit below weight"}
            ],
        },
    }
)


def test_a_maps_values_are_defaulted_and_checked_for_unknown_fields() -> None:
    defaulted, errors = MAP_OF_OBJECTS.admit(obj({"a": {}, "b": {"weight": 2, "wieght": 3}}))
    assert defaulted["spec"] == {"a": {"weight": 1}, "b": {"weight": 2, "wieght": 3}}
    assert errors == [("spec.b.wieght", 'unknown field "wieght"')]


def test_a_maps_values_are_held_to_their_rules() -> None:
    assert MAP_OF_OBJECTS.errors(obj({"a": {"limit": 5}})) == []
    assert MAP_OF_OBJECTS.errors(obj({"a": {"weight": 3, "limit": 2}})) == [("spec.a", "limit below weight")]


LISTS = validator_for(
    {
        "type": "object",
        "properties": {
            "groups": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
                },
            },
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "lines": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string"}},
        },
    }
)


def test_a_map_list_holds_each_key_once() -> None:
    assert LISTS.errors(obj({"groups": [{"name": "a", "n": 1}, {"name": "b", "n": 1}]})) == []
    errors = LISTS.errors(obj({"groups": [{"name": "a", "n": 1}, {"name": "b"}, {"name": "a", "n": 2}]}))
    assert errors == [("spec.groups[2]", "Duplicate value: {'name': 'a'}")]


def test_a_set_list_holds_each_item_once_and_an_atomic_list_anything() -> None:
    assert LISTS.errors(obj({"tags": ["a", "b"], "lines": ["x", "x"]})) == []
    assert LISTS.errors(obj({"tags": ["a", "b", "a"]})) == [("spec.tags[2]", "Duplicate value: 'a'")]
