"""NetworkPolicies: the shapes every namespace of the platform shares.

Every namespace that runs workloads starts from `default-deny` (no ingress, no egress)
and gets back exactly the flows its pods need. App namespaces get theirs from
`SecurityStack` (`app_namespace_policies`); each platform component declares what its
own namespace needs as a `NamespaceIsolation` (plain data, so the declaration lives
with the component that knows its ports), and `SecurityStack` turns the declarations
into NetworkPolicies (`isolation_policies`). The offline render proves every flow the
platform depends on (scrapes, webhooks, DNS, sidecars to istiod, service URLs in the
configuration) is allowed by these policies (`render/network.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

KUBE_DNS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
API_SERVER_PORTS = (443, 6443)
"""The API server's port behind the `kubernetes` Service: 443 on EKS, 6443 on kind.
NetworkPolicies see the address after the Service's translation."""
ANY_NAMESPACE = "*"
REASON_ANNOTATION = "gitops-platform.io/reason"


def namespace_peer(namespace: str) -> dict[str, Any]:
    """Every pod of `namespace` (`*`: of every namespace)."""
    if namespace == ANY_NAMESPACE:
        return {"namespaceSelector": {}}
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def tcp(ports: Sequence[int]) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


@dataclass(frozen=True)
class Peer:
    """Pods of another namespace (`*` for every namespace), on some ports (none: every port)."""

    namespace: str
    ports: tuple[int, ...] = ()
    reason: str = ""

    def rule(self, direction: str) -> dict[str, Any]:
        rule: dict[str, Any] = {direction: [namespace_peer(self.namespace)]}
        if self.ports:
            rule["ports"] = tcp(self.ports)
        return rule


@dataclass(frozen=True)
class NamespaceIsolation:
    """What the pods of one platform namespace must be able to do, and nothing more.

    Besides what is declared, every isolated namespace may resolve names (kube-dns), talk
    among its own pods, be scraped from the monitoring namespace and reach the API server.
    """

    namespace: str
    api_server_ports: tuple[int, ...] = ()
    """Container ports the API server calls (admission webhooks, aggregated APIs). The API
    server is not a pod, so these ports accept any source; the webhook's TLS and the API
    server's client certificate are what authenticate the call."""
    public_ports: tuple[int, ...] = ()
    """Container ports open to any source (the ingress gateway's listeners)."""
    callers: tuple[Peer, ...] = ()
    """Other namespaces that call into this one."""
    calls: tuple[Peer, ...] = ()
    """Other namespaces this one calls."""
    external: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Egress to any address, by reason (e.g. {"vulnerability database downloads": (443,)})."""
    namespace_input: Any = field(default=None, compare=False)
    """The namespace's name as an Output of the resource that creates it (the policies wait
    for it); None when the namespace comes with a Helm release the caller orders after."""

    def with_callers(self, *peers: Peer) -> NamespaceIsolation:
        return replace(self, callers=(*self.callers, *peers))

    def with_calls(self, *peers: Peer) -> NamespaceIsolation:
        return replace(self, calls=(*self.calls, *peers))


def default_deny() -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def allow_dns() -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [KUBE_DNS], "ports": DNS_PORTS}]}


def isolation_policies(
    isolation: NamespaceIsolation, monitoring_namespace: str, api_server_cidrs: Sequence[str]
) -> dict[str, tuple[dict[str, Any], str]]:
    """NetworkPolicy name -> (spec, reason) for one platform namespace."""
    same: dict[str, Any] = {"podSelector": {}}
    policies: dict[str, tuple[dict[str, Any], str]] = {
        "default-deny": (default_deny(), "nothing in or out unless a policy below allows it"),
        "allow-dns": (allow_dns(), "name resolution through kube-dns"),
        "allow-same-namespace": (
            {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{"from": [same]}], "egress": [{"to": [same]}]},
            "the components of one chart talk to each other",
        ),
        "allow-kube-apiserver": (
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": cidr}} for cidr in api_server_cidrs], "ports": tcp(API_SERVER_PORTS)}],
            },
            "operators and controllers watch the Kubernetes API",
        ),
    }
    if isolation.namespace != monitoring_namespace:
        policies["allow-monitoring"] = (
            {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [namespace_peer(monitoring_namespace)]}]},
            "Prometheus scrapes metrics",
        )
    if isolation.api_server_ports:
        policies["allow-api-server-calls"] = (
            {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"ports": tcp(isolation.api_server_ports)}]},
            "the API server calls admission webhooks and aggregated APIs here",
        )
    if isolation.public_ports:
        policies["allow-public"] = (
            {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"ports": tcp(isolation.public_ports)}]},
            "listeners open to clients outside the cluster",
        )
    if isolation.callers:
        policies["allow-callers"] = (
            {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [p.rule("from") for p in isolation.callers]},
            "; ".join(p.reason for p in isolation.callers if p.reason),
        )
    if isolation.calls:
        policies["allow-calls"] = (
            {"podSelector": {}, "policyTypes": ["Egress"], "egress": [p.rule("to") for p in isolation.calls]},
            "; ".join(p.reason for p in isolation.calls if p.reason),
        )
    if isolation.external:
        ports = sorted({port for group in isolation.external.values() for port in group})
        policies["allow-external"] = (
            {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp(ports)}]},
            "; ".join(f"{reason} ({', '.join(map(str, group))})" for reason, group in sorted(isolation.external.items())),
        )
    return policies


def app_namespace_policies(monitoring_namespace: str, ingress_namespace: str, istiod_namespace: str, tracing_port: int | None) -> dict[str, dict[str, Any]]:
    """Default deny in both directions, and the few flows every meshed app needs."""
    policies = {
        "default-deny": default_deny(),
        "allow-dns": allow_dns(),
        # Sidecars fetch config and certificates from istiod.
        "allow-istiod": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [namespace_peer(istiod_namespace)], "ports": tcp([15012])}],
        },
        "allow-ingress-gateway": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [namespace_peer(ingress_namespace)]}]},
        "allow-monitoring": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [namespace_peer(monitoring_namespace)]}]},
    }
    if tracing_port is not None:
        # Sidecars report spans to the tracing collector.
        policies["allow-tracing"] = {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [namespace_peer(monitoring_namespace)], "ports": tcp([tracing_port])}],
        }
    return policies
