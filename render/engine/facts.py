"""What the checks know about a stack beyond its objects: prerequisites, cloud roles, release values."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.config import PlatformConfig

from .charts import ChartSet
from .deployed import DeployedStack
from .harness import Run


@dataclass(frozen=True)
class Prerequisite:
    """An object the user provides before `pulumi up` (the report and README say how)."""

    kind: str
    namespace: str
    name: str
    key: str
    """The stack config key that names it."""
    how: str


@dataclass(frozen=True)
class CloudRole:
    """An IAM role of the stack that pods assume through their ServiceAccount (IRSA)."""

    name: str
    urn: str
    arn: str
    subjects: tuple[str, ...]
    """`system:serviceaccount:<namespace>:<name>` its trust policy lets assume it."""
    bound_elsewhere: bool = False
    """An EKS add-on binds it to its own ServiceAccount (`serviceAccountRoleArn`): not among the objects."""


@dataclass
class Facts:
    """What the checks know about the stack beyond its objects."""

    environment: str
    prerequisites: Sequence[Prerequisite] = ()
    release_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Release URN -> values the program passes (scanned for wired-in addresses)."""
    cloud_roles: Sequence[CloudRole] = ()
    """The stack's IRSA roles, checked against the ServiceAccounts that carry them."""


def stack_registries(run: Run) -> list[str]:
    """Image prefixes of the stack's own registry (its pack config must allow them: README, Policies)."""
    prefixes = set()
    for r in run.resources:
        if r.type == "aws:ecr/repository:Repository" and r.outputs.get("repositoryUrl"):
            prefixes.add(str(r.outputs["repositoryUrl"]).split("/", 1)[0] + "/")
        if r.type == "docker:index/container:Container" and "gitops-platform:index:LocalRegistry$" in r.urn:
            prefixes.update(f"localhost:{p['external']}/" for p in r.inputs.get("ports") or [] if p.get("external"))
    return sorted(prefixes)


@dataclass(frozen=True)
class StackContext:
    """What the object layers know about a stack beyond its objects."""

    config: PlatformConfig
    facts: Facts
    deployed: DeployedStack
    """The objects as the stack deploys them, its charts and what did not render."""
    releases: Sequence[Mapping[str, Any]]
    """The report's `helm_releases` (their values are schema-checked)."""
    chart_set: ChartSet
    registries: Sequence[str]
    """The stack's own registries (images built there are not in images.lock)."""
    component_of: Callable[[str], str]
