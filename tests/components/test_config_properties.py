"""components.config: generated stack configs — every invalid one is refused naming its key and never showing a secret; valid ones pass.

The generator starts from each environment's whole configuration (every key spelled
out, from the models' own defaults) with a planted secret under a secret top-level
key, then breaks one thing: a wrong type, a number out of range, an unknown or
misspelled key at any depth, an empty string or list, a bad enum, null for an object,
a bad DNS name or quantity. In half the examples every top-level key is secret (any
key may be given as `secure:`) and every planted value is the secret. 900 examples a
run (deterministic).

The examples are never filtered with the validator under test: each must be refused,
unless `ACCEPTED` lists it with the reason the value is valid.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from components.config import ConfigError, parse_config
from scripts_import import generate_docs

PLANTED = "planted-secret-7c1f09"
SECRET_KEYS = {"observability"}
SETTINGS = settings(max_examples=900, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
_FREE_FORM = {"labels", "annotations", "env", "extraArgs", "routes", "podLabels", "nodeSelector"}
"""Maps whose keys are the user's (not model fields): no unknown-key mutation inside them."""


def _base(environment: str) -> dict[str, Any]:
    full: dict[str, Any] = parse_config(generate_docs.MINIMAL[environment]).model_dump(by_alias=True, exclude_none=True, mode="json")
    full["observability"]["alerting"]["pager"] = {"type": "pagerduty", "secret": PLANTED}
    return full


BASES = {env: _base(env) for env in ("local", "aws")}


def _annotation(model: type[BaseModel], alias: str) -> Any:
    for name, info in model.model_fields.items():
        if info.alias == alias or name == alias:
            return info.annotation
    return None


def _walk(model: BaseModel, path: tuple[str, ...], annotation: Any = None) -> Iterator[tuple[str, tuple[str, ...], Any]]:
    """("model", path, field annotation) for sub-models and ("scalar", path, annotation) for scalar fields."""
    yield "model", path, annotation if annotation is not None else type(model)
    for name, info in type(model).model_fields.items():
        alias = info.alias or name
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _walk(value, (*path, alias), info.annotation)
        elif isinstance(value, bool | int | float | str) and alias not in _FREE_FORM:
            yield "scalar", (*path, alias), info.annotation


PATHS = {env: list(_walk(parse_config(BASES[env]), ())) for env in BASES}


ACCEPTED: dict[tuple[str, str], str] = {
    ("bad-string", "cluster.name"): "an EKS cluster name may hold capitals and '_' (aws)",
    ("bad-string", "observability.grafana.adminUser"): "Grafana takes any login name",
    ("bad-string", "registry.name"): "a Docker container name may hold '..' (local)",
    ("bad-string", "registry.repositoryPrefix"): "'10.0.0.0/99' is a valid ECR repository path",
}
"""(category, key) whose "bad" value is valid after all: the only examples allowed through."""


def _payload(path: tuple[str, ...], secret: bool = False) -> str:
    """The planted secret under a secret top-level key; a plain marker elsewhere (shown is fine there)."""
    return PLANTED if secret or (path and path[0] in SECRET_KEYS) else "oops"


def _set(config: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _allows(annotation: Any, kind: type) -> bool:
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if annotation is Any or annotation is kind or origin is kind:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_allows(a, kind) for a in args)
    return False


@st.composite
def broken(draw: st.DrawFn) -> tuple[dict[str, Any], str, str, set[str]]:
    """(config, key path that must be named, category, the top-level keys marked secret)."""
    secret = draw(st.booleans())
    case = draw(_broken(secret))
    config = case[0]
    return (*case, set(config) if secret else set(SECRET_KEYS))


@st.composite
def _broken(draw: st.DrawFn, secret: bool) -> tuple[dict[str, Any], str, str]:
    environment = draw(st.sampled_from(sorted(BASES)))
    config = copy.deepcopy(BASES[environment])
    kind, path, annotation = draw(st.sampled_from(PATHS[environment]))
    dotted = ".".join(path)
    if kind == "model":
        category = draw(st.sampled_from(["unknown-key", "misspelled-key", "null-object"]))
        if category == "unknown-key" or not path:
            target = config
            for key in path:
                target = target[key]
            key = draw(st.sampled_from(["zz", "replicaz", "enabledd", "x-y"]))
            target[key] = draw(st.sampled_from([1, "x", _payload(path, secret), {"a": 1}]))
            return config, ".".join((*path, key)), "unknown-key"
        if category == "misspelled-key":
            target = config
            for key in path[:-1]:
                target = target[key]
            target[path[-1] + "z"] = target.pop(path[-1])
            return config, ".".join((*path[:-1], path[-1] + "z")), category
        if _allows(annotation, type(None)):
            return config, dotted, "skip"
        _set(config, path, None)
        return config, dotted, category
    category = draw(st.sampled_from(["wrong-type", "list-for-scalar", "bool-for-number", "empty", "out-of-range", "bad-string"]))
    if category in ("wrong-type", "list-for-scalar"):
        _set(config, path, {"bad": _payload(path, secret)} if category == "wrong-type" else [_payload(path, secret)])
        return config, dotted, category
    if category == "bool-for-number":
        if not (_allows(annotation, int) or _allows(annotation, float)) or _allows(annotation, bool):
            return config, dotted, "skip"
        _set(config, path, draw(st.booleans()))
        return config, dotted, category
    if category == "out-of-range":
        if not _allows(annotation, int) or _allows(annotation, bool):
            return config, dotted, "skip"
        _set(config, path, draw(st.sampled_from([-1, -1000, 10**9])))
    elif category == "bad-string":
        # Not a DNS name, CIDR, quantity, URL, image or enum value.
        if (not _allows(annotation, str) and typing.get_origin(annotation) is not typing.Literal) or path[-1] == "secret":
            return config, dotted, "skip"
        _set(config, path, draw(st.sampled_from(["Not A Name!", "-1Gi", "10.0.0.0/99", "a..b", "UPPER_case"])))
    else:
        if not _allows(annotation, str) or path[-1] == "secret":
            return config, dotted, "skip"
        _set(config, path, "")
    return config, dotted, category


def _check(config: dict[str, Any], path: str, category: str, secret_keys: set[str]) -> None:
    if category == "skip":
        return
    if (category, path) in ACCEPTED:
        parse_config(config, secret_keys=secret_keys)  # valid after all: ACCEPTED says why
        return
    with pytest.raises(ConfigError) as caught:
        parse_config(config, secret_keys=secret_keys)
    message = str(caught.value)
    assert f"gitops-platform:{path}" in message or any(f"gitops-platform:{path}".startswith(p.path) for p in caught.value.problems), (category, path, message)
    assert PLANTED not in message, (category, path, message)


def test_generated_invalid_configs_are_refused_naming_the_key_and_hiding_secrets():
    checked: dict[str, int] = {}

    @SETTINGS
    @given(broken())
    def run(case: tuple[dict[str, Any], str, str, set[str]]) -> None:
        _check(*case)
        checked[case[2]] = checked.get(case[2], 0) + 1

    run()
    refused = sum(n for category, n in checked.items() if category != "skip")
    assert refused >= 500, checked
    assert {"wrong-type", "unknown-key", "misspelled-key", "null-object", "empty", "bool-for-number", "out-of-range", "bad-string"} <= set(checked)


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(st.sampled_from(sorted(BASES)), st.integers(min_value=0, max_value=3), st.sampled_from([1, 2, 3]))
def test_generated_valid_variations_are_accepted(environment, workers, replicas):
    config = copy.deepcopy(BASES[environment])
    if environment == "local":
        config["cluster"]["workers"] = workers
    config["security"]["gatekeeper"]["replicas"] = replicas
    config["observability"]["prometheus"]["replicas"] = replicas

    assert parse_config(config, secret_keys=SECRET_KEYS).environment == environment


def test_the_base_configs_are_valid():
    for environment, config in BASES.items():
        assert parse_config(copy.deepcopy(config), secret_keys=SECRET_KEYS).environment == environment
