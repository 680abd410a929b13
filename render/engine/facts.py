"""What the checks know about a stack beyond its objects: prerequisites, cloud roles, release values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


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
