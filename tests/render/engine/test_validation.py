"""render.engine.validation: the quick yes says yes exactly where jsonschema finds no error — per keyword, per draft, on every object of both renders and on mutations of them."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from render.checks.schema import object_validator
from render.engine.validation import acceptor

DRAFTS = [jsonschema.Draft4Validator, jsonschema.Draft202012Validator]

# (schema, instances): each instance checked under both drafts against jsonschema's own verdict.
CASES: list[tuple[dict[str, Any], list[Any]]] = [
    ({"type": "object"}, [{}, [], "a", None, 1]),
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", None]),
    ({"type": "number"}, [1, 1.5, True, "1"]),
    ({"type": ["string", "null"]}, ["a", None, 1, False]),
    ({"type": "boolean"}, [True, 0, "true"]),
    ({"type": "array", "items": {"type": "string"}}, [[], ["a"], ["a", 1], "a", {"0": 1}]),
    ({"properties": {"a": {"type": "integer"}}, "required": ["a"]}, [{"a": 1}, {"a": "x"}, {}, {"b": 1}, [], "x"]),
    ({"properties": {"a": {}}, "additionalProperties": False}, [{"a": 1}, {"a": 1, "b": 2}, {}]),
    ({"properties": {"a": {}}, "additionalProperties": {"type": "string"}}, [{"b": "x"}, {"b": 1}, {"a": 1}]),
    ({"patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False}, [{"x-a": 1}, {"x-a": "1"}, {"y": 1}, {"ax-": 1}]),
    ({"enum": ["a", "b", None]}, ["a", "c", None, 0]),
    ({"enum": [1, True]}, [1, True, False, 0]),
    ({"minLength": 2, "maxLength": 3, "pattern": "^a"}, ["ab", "a", "abcd", "ba", 7]),
    ({"minItems": 1, "maxItems": 2}, [[], [1], [1, 2, 3], "ab"]),
    ({"minProperties": 1, "maxProperties": 1}, [{}, {"a": 1}, {"a": 1, "b": 2}, []]),
    ({"minimum": 1, "maximum": 3}, [0, 1, 3, 3.5, True, "5"]),
    ({"allOf": [{"type": "integer"}, {"minimum": 2}]}, [1, 2, "2"]),
    ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, [1, "a", None]),
    ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, [-1, 1, 1.5, "a"]),
    ({"not": {"type": "string"}}, ["a", 1]),
    ({"format": "int32", "type": "integer"}, [1, 2**40]),  # format is not asserted without a format checker
    ({"x-kubernetes-preserve-unknown-fields": True, "description": "ignored"}, [{}, 1]),
    # Keywords answered by jsonschema for their node.
    ({"uniqueItems": True}, [[1, 2], [1, 1], [1, True]]),
    ({"multipleOf": 3}, [9, 10, 9.0]),
    ({"minimum": 1, "exclusiveMinimum": True}, [1, 2]),
    ({"properties": {"a": {"uniqueItems": True, "type": "array"}}}, [{"a": [1, 1]}, {"a": [1, 2]}]),
]


@pytest.mark.parametrize("draft", DRAFTS, ids=lambda d: d.__name__)
@pytest.mark.parametrize(("schema", "instances"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_each_keyword_accepts_exactly_what_jsonschema_accepts(draft, schema, instances):
    validator = draft(schema)
    accepts = acceptor(validator)
    for instance in instances:
        assert accepts(instance) == validator.is_valid(instance), (schema, instance)


def test_a_no_may_be_conservative_but_a_yes_is_never_wrong():
    validator = jsonschema.Draft202012Validator({"enum": [1.0]})
    accepts = acceptor(validator)

    assert validator.is_valid(1) and not accepts(1)  # 1 equals 1.0 for jsonschema; the caller's jsonschema run says so
    assert accepts(1.0) and not accepts(2.0)


def test_drafts_differ_where_jsonschema_says_they_do():
    ref_with_sibling = {"$defs": {"s": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/s", "maxLength": 1}}}
    for draft in DRAFTS:
        validator = draft(ref_with_sibling)
        accepts = acceptor(validator)
        for instance in ({"a": "x"}, {"a": "xy"}, {"a": 1}):
            assert accepts(instance) == validator.is_valid(instance), (draft.__name__, instance)
    numeric_exclusive = jsonschema.Draft202012Validator({"exclusiveMinimum": 1})
    assert [acceptor(numeric_exclusive)(v) for v in (1, 2)] == [False, True]
    # Boolean schemas (draft 6 on), at the root and inside.
    assert acceptor(jsonschema.Draft202012Validator(True))(None)
    assert not acceptor(jsonschema.Draft202012Validator(False))(None)
    assert not acceptor(jsonschema.Draft202012Validator({"items": False}))([1]) and acceptor(jsonschema.Draft202012Validator({"items": False}))([])


def test_a_recursive_definition_resolves_through_the_callers_resolver():
    tree = {"type": "object", "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}
    validator = jsonschema.Draft202012Validator({"$defs": {"tree": tree}, "$ref": "#/$defs/tree"})
    resolved = []

    def resolve(ref):
        resolved.append(ref)
        return tree if ref == "#/$defs/tree" else None

    accepts = acceptor(validator, resolve)
    deep = {"value": 1, "children": [{"value": 2, "children": [{"value": 3, "children": []}]}]}
    assert accepts(deep) and validator.is_valid(deep)
    broken = copy.deepcopy(deep)
    broken["children"][0]["children"][0]["value"] = "3"
    assert not accepts(broken) and not validator.is_valid(broken)
    assert resolved == ["#/$defs/tree"]  # resolved once, however deep the instance


def test_a_pattern_pythons_re_refuses_behaves_as_in_jsonschema():
    validator = jsonschema.Draft4Validator({"properties": {"a": {"type": "string", "pattern": "a(?i)b"}}})
    accepts = acceptor(validator)

    assert accepts({}) and validator.is_valid({})
    with pytest.raises(re.error):
        validator.is_valid({"a": "ab"})
    with pytest.raises(re.error):
        accepts({"a": "ab"})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, 2.5]) | st.sampled_from(["", "a", "ab", "x-a", "abc"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "x-a", "c"]), inner, max_size=3),
    max_leaves=8,
)

MIXED = {
    "type": "object",
    "properties": {
        "a": {"type": ["integer", "string"], "minimum": 0, "maxLength": 2},
        "b": {"type": "array", "items": {"anyOf": [{"type": "boolean"}, {"type": "object", "additionalProperties": False}]}, "maxItems": 2},
        "c": {"oneOf": [{"type": "number"}, {"enum": ["a", "ab"]}]},
    },
    "patternProperties": {"^x-": {"not": {"type": "null"}}},
    "additionalProperties": {"type": ["array", "object", "null"]},
    "required": ["a"],
}


@settings(max_examples=300, deadline=None)
@given(instance=JSON)
def test_random_instances_get_jsonschemas_verdict(instance):
    for draft in DRAFTS:
        validator = draft(MIXED)
        assert acceptor(validator)(instance) == validator.is_valid(instance)


@pytest.fixture(scope="module")
def stack_objects(rendered):
    """(object, validator, quick yes) of every object of both renders that has a quick yes."""
    found = []
    for stack in ("local", "aws"):
        objects = [d.obj for d in rendered(stack)[2].objects if d.origin != "dropped-hook"]
        crds = {(o["spec"]["group"], o["spec"]["names"]["kind"]): o for o in objects if o.get("kind") == "CustomResourceDefinition"}
        for obj in objects:
            validator, accepts, _ = object_validator(obj, {}, crds)
            if accepts is not None:
                found.append((obj, validator, accepts))
    return found


def test_every_object_of_both_renders_gets_jsonschemas_verdict(stack_objects):
    kinds = {obj["kind"] for obj, _, _ in stack_objects}
    assert len(stack_objects) > 1000 and {"CustomResourceDefinition", "Deployment", "PrometheusRule"} <= kinds
    for obj, validator, accepts in stack_objects:
        assert accepts(obj) == validator.is_valid(obj), f"{obj['kind']} {obj['metadata'].get('name')}"


@pytest.fixture(scope="module")
def small_objects(stack_objects):
    """The objects of few fields: mutations of a 5 MB CRD would mostly land in its schema's free text."""
    return [entry for entry in stack_objects if len(json.dumps(entry[0])) < 4000]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_objects_get_jsonschemas_verdict(small_objects, data):
    obj, validator, accepts = data.draw(st.sampled_from(small_objects))
    mutated = copy.deepcopy(obj)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(mutated)[1:]))
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = data.draw(JSON)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["unknownField", "name", "spec", "x"]))] = data.draw(JSON)
    expected = validator.is_valid(mutated)
    assert accepts(mutated) == expected
