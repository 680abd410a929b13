"""The `policies` layer: the CrossGuard pack on every resource the engine would show it (chart and
ConfigGroup objects as the engine's children of their chart), as `pulumi preview` runs it."""

from __future__ import annotations

from typing import Any

from pulumi_policy import StackValidationPolicy

from ..engine.deployed import Deployed, DeployedStack
from ..engine.facts import stack_registries
from ..engine.harness import RecordedResource, Run, reveal


def policy_resources(run: Run, stack: DeployedStack | None, *, secrets: bool = False) -> tuple[list[Any], list[Any]]:
    """(resources the engine shows the pack, objects only inside v3 releases) as policy Resources.

    A `helm.v4.Chart`'s objects (and a `yaml.v2.ConfigGroup`'s) are resources of their
    own type to the engine, children of the chart, named `<chart>:<namespace>/<name>`
    and using its provider; a `helm.v3.Release`'s objects are not resources at all.
    """
    from policies.evaluate import Resource

    engine = [
        Resource(
            type=r.type, urn=r.urn, name=r.name, props=r.inputs if secrets else reveal(r.inputs), protect=r.protect, parent=r.parent,
            dependencies=r.dependencies, property_dependencies=r.property_dependencies, provider=r.provider,
            ignore_changes=r.ignore_changes, delete_before_replace=r.delete_before_replace,
            additional_secret_outputs=r.additional_secret_outputs,
        )
        for r in run.resources
    ]
    hidden: list[Resource] = []
    by_urn = run.by_urn()
    for d in stack.objects if stack else []:
        if d.origin in ("program", "dropped-hook"):
            continue
        parent = by_urn[d.source]
        urn, name = child_urn(parent, d)
        # Children inherit their chart's provider and `protect`, as the engine gives them.
        resource = Resource(type=d.resource_type, urn=urn, name=name, props=d.obj, parent=parent.urn, provider=parent.provider, protect=parent.protect)
        (engine if d.visible_to_engine else hidden).append(resource)
    return engine, hidden


def child_urn(parent: RecordedResource, d: Deployed) -> tuple[str, str]:
    """(URN, name) the engine gives an object of a chart or ConfigGroup: `<chart>:<namespace>/<name>`."""
    name = f"{parent.name}:{d.namespace}/{d.name}" if d.namespace else f"{parent.name}:{d.name}"
    prefix, project, chain, _ = parent.urn.split("::", 3)
    return f"{prefix}::{project}::{chain}${d.resource_type}::{name}", name


def policy_report(run: Run, pack_config: dict[str, Any] | None = None, stack: DeployedStack | None = None) -> dict[str, Any]:
    """Every policy of the pack on every resource the engine sees (chart objects included) and on the stack.

    `release_objects`: the same policies on the objects inside `helm.v3.Release`s, which
    the engine never shows the pack; reported apart, they do not block.
    """
    from policies import ALL_POLICIES
    from policies.evaluate import evaluate

    # Exactly the pack config the engine gets (README: Policies), nothing added: what the
    # render passes, `pulumi preview --policy-pack-config` passes too.
    config = dict(pack_config or {})
    engine, hidden = policy_resources(run, stack)
    result = evaluate(engine, pack_config=config)
    result["registries"] = allowed_registries(config)
    result["unlisted_registries"] = unlisted_registries(run, result["registries"])
    resource_policies = [p for p in ALL_POLICIES if not isinstance(p, StackValidationPolicy)]
    result["release_objects"] = evaluate(hidden, policies=resource_policies, pack_config=config)["violations"] if hidden else []
    return result


def allowed_registries(pack_config: dict[str, Any] | None) -> list[str]:
    """The registries `kubernetes-container-allowed-registries` allows under `pack_config`."""
    from policies import ALL_POLICIES
    from policies.evaluate import effective

    allowed = next(p for p in ALL_POLICIES if p.name == "kubernetes-container-allowed-registries")
    return list(effective(allowed, pack_config or {})[1]["registries"])


def unlisted_registries(run: Run, allowed: list[str]) -> list[str]:
    """The stack's own registries outside `allowed`: every image pushed there would be refused."""
    return [r for r in stack_registries(run) if not any(r.startswith(a) for a in allowed)]
