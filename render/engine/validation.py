"""A quick yes for what a JSON Schema accepts: `jsonschema` itself says what is wrong.

Validating the several hundred objects of a render with `jsonschema` walks every field
through its generic machinery (one validator object per schema node and instance, every
keyword looked up), and almost every object is valid: the CRDs alone, checked against the
API server's recursive JSONSchemaProps, were 60 % of the schema layer. `acceptor(validator)`
compiles the validator's schema once into plain closures that answer one question — does
the instance satisfy it? — and the caller asks `jsonschema` for the errors only when the
answer is no:

    accepts = acceptor(validator, resolve)
    errors = [] if accepts(obj) else sorted(validator.iter_errors(obj), key=...)

A yes is exactly `jsonschema`'s yes: each keyword below has `jsonschema`'s meaning for the
validator's draft (types through the validator's own type checker where a draft differs, `$ref`
beside other keywords as the draft says); any keyword the validator implements and this
module does not (`uniqueItems`, `multipleOf`, `const`, `if`, ...) is answered by `jsonschema`
for that node; keywords `jsonschema` ignores (`x-kubernetes-*`, `description`, `format` without
a format checker) are ignored here too. A no may be conservative (an `enum` of mixed number
types): the caller's `jsonschema` run then decides.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

Accept = Callable[[Any], bool]

# Keywords compiled here; every other keyword the validator implements goes to jsonschema.
_COMPILED = frozenset(
    {
        "type", "properties", "patternProperties", "additionalProperties", "items", "required", "enum",
        "allOf", "anyOf", "oneOf", "not", "minLength", "maxLength", "pattern", "minItems", "maxItems",
        "minProperties", "maxProperties", "minimum", "maximum", "$ref", "format",
    }
)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


def _is_integer(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def _is_integer_or_integral_float(value: Any) -> bool:
    return _is_integer(value) or (isinstance(value, float) and value.is_integer())


def _compiles(pattern: Any) -> bool:
    try:
        re.compile(pattern)
    except (re.error, TypeError):
        return False
    return True


_TYPE_TESTS: dict[str, Accept] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "number": _is_number,
}
"""The JSON types every draft's type checker defines alike (`integer` depends on the draft)."""


def _accept_all(instance: Any) -> bool:
    return True


def _reject_all(instance: Any) -> bool:
    return False


class _Compiler:
    def __init__(self, validator: Any, resolve: Callable[[str], Any]) -> None:
        self.validator = validator
        self.resolve = resolve
        self.keywords = frozenset(validator.VALIDATORS)
        # Drafts 3 to 7: `$ref` replaces its sibling keywords (2019-09 on: it applies beside them).
        self.ref_alone = not {"$dynamicRef", "$recursiveRef"} & self.keywords
        # Drafts 3 and 4: exclusiveMinimum/Maximum are booleans that change minimum/maximum.
        self.boolean_bounds = "exclusiveMinimum" not in self.keywords
        # Draft 6 on: 1.0 is an integer.
        self.float_integers = bool(validator.TYPE_CHECKER.is_type(1.0, "integer"))
        self.by_id: dict[int, Accept] = {}
        self.by_ref: dict[str, Accept] = {}
        self.kept: list[Any] = []  # the nodes compiled, so that their ids stay theirs

    def compile(self, node: Any) -> Accept:
        if node is True or node == {}:
            return _accept_all
        if node is False:
            return _reject_all
        if not isinstance(node, dict):
            return self._by_jsonschema(node)
        found = self.by_id.get(id(node))
        if found is None:
            self.kept.append(node)
            found = self.by_id[id(node)] = self._lazy(node)
        return found

    def _lazy(self, node: Mapping[str, Any]) -> Accept:
        # Compiled on first use: an object reaches a small part of its kind's schema (a pod
        # template, say, uses few of the hundreds of fields a container may have).
        compiled: list[Accept] = []

        def accept(instance: Any) -> bool:
            if not compiled:
                compiled.append(self._node(node))
            return compiled[0](instance)

        return accept

    def _by_jsonschema(self, node: Any) -> Accept:
        sub = self.validator.evolve(schema=node)
        return lambda instance: bool(sub.is_valid(instance))

    def _node(self, node: Mapping[str, Any]) -> Accept:
        if "$ref" in node and self.ref_alone:
            return self._by_jsonschema(node)
        if "format" in node and self.validator.format_checker is not None:
            return self._by_jsonschema(node)
        if any(k in self.keywords and k not in _COMPILED for k in node):
            return self._by_jsonschema(node)
        if "items" in node and not isinstance(node["items"], dict | bool):
            return self._by_jsonschema(node)  # draft 4's list of item schemas
        if not all(_compiles(p) for p in [node.get("pattern", ""), *(node.get("patternProperties") or {})]):
            return self._by_jsonschema(node)  # a pattern Python's re refuses: jsonschema's own behaviour
        checks = [c for c in (self._type(node), *self._objects(node), *self._arrays(node), *self._scalars(node), *self._applicators(node)) if c]
        if not checks:
            return _accept_all
        if len(checks) == 1:
            return checks[0]

        def every(instance: Any) -> bool:
            return all(check(instance) for check in checks)

        return every

    def _type(self, node: Mapping[str, Any]) -> Accept | None:
        types = node.get("type")
        if types is None:
            return None
        wanted = [types] if isinstance(types, str) else list(types)
        tests = [self._type_test(t) for t in wanted]
        if len(tests) == 1:
            return tests[0]
        return lambda instance: any(test(instance) for test in tests)

    def _type_test(self, name: str) -> Accept:
        if name == "integer":
            return _is_integer_or_integral_float if self.float_integers else _is_integer
        if name in _TYPE_TESTS:
            return _TYPE_TESTS[name]
        checker = self.validator.TYPE_CHECKER
        return lambda v: bool(checker.is_type(v, name))  # raises UnknownType as jsonschema does

    def _objects(self, node: Mapping[str, Any]) -> list[Accept]:
        checks: list[Accept] = []
        properties = {k: self.compile(v) for k, v in (node.get("properties") or {}).items()}
        patterns = [(re.compile(p), self.compile(v)) for p, v in (node.get("patternProperties") or {}).items()]
        extra = node.get("additionalProperties", True)
        extra_check = None if extra is True else self.compile(extra)
        required = list(node.get("required") or ())
        low, high = node.get("minProperties"), node.get("maxProperties")
        if properties or patterns or extra_check is not None or required or low is not None or high is not None:
            items = list(properties.items())

            def members(instance: Any) -> bool:
                if not isinstance(instance, dict):
                    return True
                for key, check in items:
                    if key in instance and not check(instance[key]):
                        return False
                for pattern, check in patterns:
                    if not all(check(value) for key, value in instance.items() if pattern.search(key)):
                        return False
                if extra_check is not None:
                    for key, value in instance.items():
                        if key not in properties and not any(p.search(key) for p, _ in patterns) and not extra_check(value):
                            return False
                if required and not all(key in instance for key in required):
                    return False
                return (low is None or len(instance) >= low) and (high is None or len(instance) <= high)

            checks.append(members)
        return checks

    def _arrays(self, node: Mapping[str, Any]) -> list[Accept]:
        item = self.compile(node["items"]) if "items" in node else None
        low, high = node.get("minItems"), node.get("maxItems")
        if item is None and low is None and high is None:
            return []

        def elements(instance: Any) -> bool:
            if not isinstance(instance, list):
                return True
            if (low is not None and len(instance) < low) or (high is not None and len(instance) > high):
                return False
            return item is None or all(item(v) for v in instance)

        return [elements]

    def _scalars(self, node: Mapping[str, Any]) -> list[Accept]:
        checks: list[Accept] = []
        if "enum" in node:
            options = [(type(e), e) for e in node["enum"] if type(e) in (str, int, float, bool, type(None))]
            # Conservative: a value of another type than its equal option (1 and 1.0) is a no here.
            checks.append(lambda v: any(type(v) is kind and v == option for kind, option in options))
        low_len, high_len, pattern = node.get("minLength"), node.get("maxLength"), node.get("pattern")
        if low_len is not None or high_len is not None or pattern is not None:
            compiled = re.compile(pattern) if pattern is not None else None

            def text(v: Any) -> bool:
                if not isinstance(v, str):
                    return True
                if (low_len is not None and len(v) < low_len) or (high_len is not None and len(v) > high_len):
                    return False
                return compiled is None or compiled.search(v) is not None

            checks.append(text)
        low, high = node.get("minimum"), node.get("maximum")
        if low is not None or high is not None:
            if self.boolean_bounds and (node.get("exclusiveMinimum") or node.get("exclusiveMaximum")):
                checks.append(self._by_jsonschema(node))
            else:

                def bounds(v: Any) -> bool:
                    if not _is_number(v):
                        return True
                    return (low is None or v >= low) and (high is None or v <= high)

                checks.append(bounds)
        return checks

    def _applicators(self, node: Mapping[str, Any]) -> list[Accept]:
        checks: list[Accept] = []
        if "allOf" in node:
            every = [self.compile(s) for s in node["allOf"]]
            checks.append(lambda v: all(c(v) for c in every))
        if "anyOf" in node:
            some = [self.compile(s) for s in node["anyOf"]]
            checks.append(lambda v: any(c(v) for c in some))
        if "oneOf" in node:
            alternatives = [self.compile(s) for s in node["oneOf"]]
            checks.append(lambda v: sum(1 for c in alternatives if c(v)) == 1)
        if "not" in node:
            negated = self.compile(node["not"])
            checks.append(lambda v: not negated(v))
        if "$ref" in node:
            checks.append(self._ref(str(node["$ref"])))
        return checks

    def _ref(self, ref: str) -> Accept:
        if ref not in self.by_ref:
            target = self.resolve(ref)
            if target is None:
                self.by_ref[ref] = self._by_jsonschema({"$ref": ref})
            else:
                compiled: list[Accept] = []
                # Recursive definitions reach themselves: the entry exists before the body compiles.
                self.by_ref[ref] = lambda v: compiled[0](v)
                compiled.append(self.compile(target))
        return self.by_ref[ref]


def acceptor(validator: Any, resolve: Callable[[str], Any] | None = None) -> Accept:
    """`accepts(instance)`: True exactly when `validator` finds no error in it (False: ask `validator`).

    `resolve(ref)`: the schema a `$ref` names (None: `jsonschema` resolves that node itself).
    """
    return _Compiler(validator, resolve or (lambda ref: None)).compile(validator.schema)
