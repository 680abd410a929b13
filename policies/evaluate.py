"""Evaluate the pack's policies outside the engine, the way `pulumi preview --policy-pack` does.

The offline render and the tests hand in resources as the engine would (type, URN,
inputs, options, parent, dependencies); this runs the real `pulumi_policy` policy
objects on each resource and once on the stack, with the pack configuration applied
exactly as Pulumi reads it:

    {"all": "advisory",                                    # every policy's level
     "kubernetes-container-limits": "disabled",            # one policy's level
     "kubernetes-container-allowed-registries": {          # level and parameters
         "enforcementLevel": "mandatory", "registries": ["localhost:5001/"]}}
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import ALL_POLICIES
from .normalize import plain
from .rules.common import RESOURCE_TYPES


@dataclass(frozen=True)
class Resource:
    """One resource as the engine shows it to policies."""

    type: str
    urn: str
    name: str
    props: Mapping[str, Any]
    protect: bool = False
    parent: str = ""
    dependencies: Sequence[str] = ()
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    provider: str = ""
    ignore_changes: Sequence[str] = ()
    delete_before_replace: bool = False
    additional_secret_outputs: Sequence[str] = ()


class PolicyConfigError(ValueError):
    """The pack configuration names an unknown policy or sets a bad value."""


_LEVELS = {level.value: level for level in EnforcementLevel}


def _level(value: Any, where: str) -> EnforcementLevel:
    try:
        return _LEVELS[value]
    except KeyError:
        raise PolicyConfigError(f"{where}: enforcement level {value!r} is not one of {sorted(_LEVELS)}") from None


def effective(policy: Policy, pack_config: Mapping[str, Any]) -> tuple[EnforcementLevel, dict[str, Any]]:
    """The policy's enforcement level and configuration under `pack_config`."""
    level = policy.enforcement_level or EnforcementLevel.ADVISORY
    everyone = pack_config.get("all")
    if isinstance(everyone, str):
        level = _level(everyone, "all")
    elif isinstance(everyone, Mapping) and "enforcementLevel" in everyone:
        level = _level(everyone["enforcementLevel"], "all")
    schema = policy.config_schema
    properties = dict(schema.properties) if schema else {}
    config = {k: v["default"] for k, v in properties.items() if isinstance(v, Mapping) and "default" in v}
    entry = pack_config.get(policy.name)
    if isinstance(entry, str):
        level = _level(entry, policy.name)
    elif isinstance(entry, Mapping):
        if "enforcementLevel" in entry:
            level = _level(entry["enforcementLevel"], policy.name)
        config.update({k: v for k, v in entry.items() if k != "enforcementLevel"})
    if level == EnforcementLevel.REMEDIATE and not getattr(policy, "has_remediation", lambda: False)():
        # As the pack's server does: a policy without a remediation reports as mandatory.
        level = EnforcementLevel.MANDATORY
    unknown = set(config) - set(properties)
    if unknown:
        raise PolicyConfigError(f"{policy.name}: unknown config keys {sorted(unknown)}; allowed: {sorted(properties) or 'none'}")
    if properties:
        object_schema = {"type": "object", "properties": properties, "required": list((schema.required if schema else None) or [])}
        errors = sorted(jsonschema.Draft7Validator(object_schema).iter_errors(config), key=str)
        if errors:
            raise PolicyConfigError(f"{policy.name}: {errors[0].message}")
    return level, config


def check_pack_config(pack_config: Mapping[str, Any], policies: Iterable[Policy] = ALL_POLICIES) -> None:
    """Reject configuration for policies the pack does not have (a typo would silently do nothing)."""
    names = {p.name for p in policies}
    unknown = sorted(set(pack_config) - names - {"all"})
    if unknown:
        raise PolicyConfigError(f"policy config names unknown policies {unknown}")


def validate_pack_config(pack_config: Mapping[str, Any], policies: Iterable[Policy] = ALL_POLICIES) -> None:
    """Everything `evaluate` would refuse in `pack_config` (unknown policies, levels, parameters),
    without evaluating anything: the render checks it before the program runs."""
    pack = list(policies)
    check_pack_config(pack_config, pack)
    for policy in pack:
        effective(policy, pack_config)


def _run(result: Any) -> None:
    if inspect.isawaitable(result):
        asyncio.run(_await(result))


async def _await(result: Any) -> None:
    await result


def evaluate(
    resources: Sequence[Resource],
    *,
    policies: Sequence[Policy] = ALL_POLICIES,
    pack_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`{"evaluated", "policies", "violations": [{policy, enforcement, severity, urn, message}]}`."""
    pack_config = dict(pack_config or {})
    check_pack_config(pack_config, policies)
    by_urn = {r.urn: r for r in resources}
    violations: list[dict[str, Any]] = []

    def reporter(policy: Policy, level: EnforcementLevel, default_urn: str) -> ReportViolation:
        def report(message: str, urn: str | None = None) -> None:
            violations.append(
                {
                    "policy": policy.name,
                    "enforcement": level.value,
                    "severity": policy.severity.value if policy.severity else None,
                    "urn": urn or default_urn,
                    "message": message,
                }
            )

        return report

    def options(r: Resource) -> PolicyResourceOptions:
        return PolicyResourceOptions(
            protect=r.protect,
            ignore_changes=list(r.ignore_changes),
            delete_before_replace=r.delete_before_replace,
            aliases=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            additional_secret_outputs=list(r.additional_secret_outputs),
            parent=r.parent or None,
        )

    def provider(r: Resource) -> PolicyProviderResource | None:
        p = by_urn.get(r.provider)
        return PolicyProviderResource(p.type, dict(p.props), p.urn, p.name) if p else None

    # Normalized once: every rule then reads the same plain props at no further cost.
    props = {r.urn: plain(r.props) for r in resources}
    # Built once per resource too (no rule changes them): 50 rules x 700 resources otherwise.
    resource_options = {r.urn: options(r) for r in resources}
    providers = {r.urn: provider(r) for r in resources}
    graph: dict[str, PolicyResource] = {
        r.urn: PolicyResource(r.type, props[r.urn], r.urn, r.name, resource_options[r.urn], providers[r.urn], None, [], {}) for r in resources
    }
    for r in resources:
        node = graph[r.urn]
        node.parent = graph.get(r.parent)
        node.dependencies = [graph[d] for d in r.dependencies if d in graph]
        node.property_dependencies = {k: [graph[d] for d in v if d in graph] for k, v in r.property_dependencies.items()}

    for policy in policies:
        level, config = effective(policy, pack_config)
        if level == EnforcementLevel.DISABLED:
            continue
        if isinstance(policy, ResourceValidationPolicy):
            types = RESOURCE_TYPES.get(policy.name)
            for r in resources:
                if types is not None and r.type not in types:
                    continue  # the policy's first test: it returns without a word
                args = ResourceValidationArgs(r.type, props[r.urn], r.urn, r.name, resource_options[r.urn], providers[r.urn], config)
                _run(policy.validate(args, reporter(policy, level, r.urn)))
        elif isinstance(policy, StackValidationPolicy):
            _run(policy.validate(StackValidationArgs(list(graph.values()), config), reporter(policy, level, "")))
    return {"evaluated": len(resources), "policies": len(policies), "violations": violations}


def mandatory(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The violations that block an update."""
    return [v for v in result["violations"] if v["enforcement"] == EnforcementLevel.MANDATORY.value]
