"""PlatformWiring: what a service needs to know about the platform it runs on.

`MicroserviceStack` describes one service (`MicroserviceConfig`); where that service plugs
into the platform — which environment it is, which gateway routes to it, which mesh and
monitoring it lives in, which registries and Vault it may use — is the platform's, and the
same for every service of a program. One object carries it:

    wiring = PlatformWiring(environment="aws", zone_spread=True, allowed_registries=[registry_url])
    api = MicroserviceStack("api", MicroserviceConfig(...), wiring)

`GitopsPlatform.wiring` is the platform's own, for services declared in the platform's
program. Every field is checked when the object is made, naming the field and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi

from .model import DNS_LABEL, TRUST_DOMAIN
from .security.vault_access import VaultAccess


@dataclass(frozen=True)
class PlatformWiring:
    """Where a service plugs into the platform (the defaults are the `local` stack's)."""

    environment: str = "local"
    """The `environment` label of every object (a DNS label; the stack's name on the platform)."""
    gateway: str = "istio-ingress/main"
    """`<namespace>/<name>` of the Istio Gateway that routes exposed services."""
    trust_domain: str = "cluster.local"
    """The mesh's trust domain: the prefix of the identities AuthorizationPolicies name."""
    monitoring_namespace: str = "monitoring"
    """Where Prometheus runs: the namespace allowed to scrape the service."""
    zone_spread: bool = False
    """Spread replicas over availability zones too (aws), not only over nodes."""
    allowed_registries: Sequence[str] = ()
    """Registry prefixes images must come from (each ending in `/`); checked before anything is
    created. Empty: not checked here (the policy pack and Gatekeeper still are)."""
    egress_gateway: str | None = None
    """Namespace of the mesh's egress gateway, when one runs: declared egress on 80/443 goes through it."""
    vault: VaultAccess | None = None
    """How the platform's Vault is reached (default: `VaultAccess()`, HA with the platform CA)
    when a service declares `secrets`."""
    vault_ready: Sequence[pulumi.Resource] = field(default=())
    """What a service's Vault role Job and SecretProviderClass wait for: the platform's Vault
    bootstrap Job and the Secrets Store CSI driver (its CRDs)."""

    def __post_init__(self) -> None:
        problems = []
        if not DNS_LABEL.match(self.environment):
            problems.append(f"environment {self.environment!r} is not a DNS label (e.g. local, aws, staging)")
        namespace, _, name = self.gateway.partition("/")
        if not (DNS_LABEL.match(namespace) and DNS_LABEL.match(name)):
            problems.append(f"gateway {self.gateway!r} is not <namespace>/<name> of an Istio Gateway (e.g. istio-ingress/main)")
        if not TRUST_DOMAIN.match(self.trust_domain):
            problems.append(f"trust_domain {self.trust_domain!r} is not a domain (e.g. cluster.local, the mesh's meshConfig.trustDomain)")
        if not DNS_LABEL.match(self.monitoring_namespace):
            problems.append(f"monitoring_namespace {self.monitoring_namespace!r} is not a namespace name")
        if self.egress_gateway is not None and not DNS_LABEL.match(self.egress_gateway):
            problems.append(f"egress_gateway {self.egress_gateway!r} is not a namespace name (e.g. istio-egress), or None without one")
        if isinstance(self.allowed_registries, str):
            problems.append("allowed_registries is one string: give a list of prefixes, e.g. ['localhost:5001/']")
        else:
            bad = [r for r in self.allowed_registries if not r.endswith("/") or r.strip() != r or r == "/"]
            if bad:
                problems.append(f"allowed_registries {bad} must each be a registry prefix ending in '/' (e.g. localhost:5001/ or 123.dkr.ecr.eu-west-1.amazonaws.com/)")
        if problems:
            raise ValueError("PlatformWiring: " + "; ".join(problems))
