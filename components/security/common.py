"""What the security tools share: their namespaces' neighbours, name checks, small defaults."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from ..model import DNS_LABEL

INGRESS_NAMESPACE = "istio-ingress"
ISTIO_NAMESPACE = "istio-system"

TINY_RESOURCES = {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
"""Requests/limits of the smallest helper pods (local profiles)."""


def dns_labels(value: list[str], what: str) -> list[str]:
    """`value` if every item is a DNS-1123 label; otherwise a ValueError naming the bad ones as `what`."""
    bad = [n for n in value if not DNS_LABEL.match(n)]
    if bad:
        raise ValueError(f"not {what}: {', '.join(bad)} (DNS-1123 labels)")
    return value


def with_upstream(registry_prefixes: Sequence[pulumi.Input[str]], upstream: Sequence[str]) -> pulumi.Output[list[str]]:
    """The stack's registry prefixes (Outputs on aws) plus the configured upstream ones, sorted."""
    return pulumi.Output.all(*registry_prefixes).apply(lambda own: sorted(set(own) | set(upstream)))
