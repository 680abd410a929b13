"""The gitops-platform CrossGuard policy pack, importable.

    from policies import ALL_POLICIES

`__main__.py` assembles these into the PolicyPack that `pulumi preview --policy-pack
policies` runs; the offline render and the tests evaluate the very same objects.
"""

from __future__ import annotations

from .rules import aws, helm, kubernetes, mesh

PACK_NAME = "gitops-platform"

ALL_POLICIES = [*kubernetes.POLICIES, *mesh.POLICIES, *helm.POLICIES, *aws.POLICIES]

__all__ = ["ALL_POLICIES", "PACK_NAME"]
