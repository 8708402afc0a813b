"""The CRD validator keeps to the API server on what the Bot CRD's schema uses beyond plain
fields: maps (`additionalProperties`) and `x-kubernetes-list-type`; small CRDs pin each case.
"""

from __future__ import annotations

from typing import Any

from tests.support.crd_validation import CrdValidator


def validator_for(spec: dict[str, Any]) -> CrdValidator:
    """A CRD whose objects have `spec` as given."""
    schema = {"type": "object", "properties": {"spec": spec}}
    crd = {"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": schema}}]}}
    return CrdValidator(crd)


def obj(spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.dev/v1", "kind": "Thing", "metadata": {"name": "a"}, "spec": spec}


def test_an_unknown_field_is_an_error() -> None:
    strict = validator_for({"type": "object", "properties": {"size": {"type": "integer"}}})
    assert strict.errors(obj({"size": 1, "extra": 2})) == [("spec.extra", 'unknown field "extra"')]


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
