"""The gitops-platform CrossGuard policy pack, importable.

    from policies import ALL_POLICIES

`__main__.py` assembles these into the PolicyPack that `pulumi preview --policy-pack
policies` runs; the offline render and the tests evaluate the very same objects.
`policies.rego` (the Gatekeeper Rego, which `SecurityStack` installs) imports without
the policy SDK: the pack's names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

PACK_NAME = "gitops-platform"

__all__ = ["ALL_POLICIES", "PACK_NAME"]


def __getattr__(name: str) -> Any:
    if name == "ALL_POLICIES":
        from .rules import aws, helm, kubernetes, mesh

        policies = [*kubernetes.POLICIES, *mesh.POLICIES, *helm.POLICIES, *aws.POLICIES]
        globals()["ALL_POLICIES"] = policies
        return policies
    raise AttributeError(f"module 'policies' has no attribute {name!r}")


if TYPE_CHECKING:
    from pulumi_policy import Policy

    ALL_POLICIES: list[Policy]
