"""Flows between pods and NetworkPolicy semantics: endpoints, flows, the verdict of the policies on
one flow (as the Kubernetes API defines it), the pods of a stack as endpoints, and the in-cluster
addresses each client is configured with."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policies.rules.kubernetes import policy_types

from .addresses import addresses_in, namespaces_of, wired_texts
from .cluster import OPERATOR_POD_PORTS
from .deployed import Deployed
from .objects import pod_references
from .pods import PodGroup, pod_groups
from .selectors import selects
from .workloads import containers, pod_spec

HOST_NETWORK_CLUSTER_PODS = frozenset({"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kindnet", "aws-node"})
"""Cluster pods on the node's network (static control-plane pods, kube-proxy, the CNI): NetworkPolicies do not apply to them."""


_NODE_ADDRESS = {"local": "172.18.0.2", "aws": "10.0.0.10"}
"""A node's (and on kind the API server's) address per environment: the kind Docker network, a VPC subnet."""


_API_SERVER = {"local": ("172.18.0.2", 6443), "aws": ("10.0.0.20", 443)}
"""The API server's address and port as pods reach it behind the `kubernetes` Service."""


INTERNET_ADDRESS = "198.51.100.10"
"""Stands for any address on the internet (TEST-NET-2): where external hosts resolve."""


@dataclass(frozen=True)
class Endpoint:
    """One end of a flow: a group of pods, or an address outside the pod network."""

    name: str
    namespace: str = ""
    labels: Mapping[str, str] | None = None
    """Pod labels; None for an address (a node, the API server, the internet)."""
    address: str = ""
    ports: Mapping[str, int] | None = None
    """Named container ports of the pods."""

    @property
    def pods(self) -> bool:
        return self.labels is not None


@dataclass(frozen=True)
class Flow:
    check: str
    source: Endpoint
    destination: Endpoint
    port: int
    protocol: str = "TCP"
    why: str = ""

    def describe(self) -> str:
        return f"{self.source.name} -> {self.destination.name}:{self.port}/{self.protocol} ({self.why})"


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, endpoint: Endpoint, ns_labels: Mapping[str, Mapping[str, str]]) -> bool:
    block = peer.get("ipBlock")
    if block is not None:
        if endpoint.pods or not endpoint.address:
            return False
        address = ipaddress.ip_address(endpoint.address)
        return address in ipaddress.ip_network(block.get("cidr", ""), strict=False) and not any(
            address in ipaddress.ip_network(e, strict=False) for e in block.get("except") or []
        )
    if not endpoint.pods:
        return False
    if "namespaceSelector" in peer:
        namespace_ok = selects(peer.get("namespaceSelector"), ns_labels.get(endpoint.namespace, {"kubernetes.io/metadata.name": endpoint.namespace}))
    else:
        namespace_ok = endpoint.namespace == policy_namespace
    return namespace_ok and ("podSelector" not in peer or selects(peer.get("podSelector"), endpoint.labels or {}))


def _port_matches(entry: Mapping[str, Any], port: int, protocol: str, destination: Endpoint) -> bool:
    if str(entry.get("protocol") or "TCP") != protocol:
        return False
    wanted = entry.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str) and not wanted.isdigit():
        return (destination.ports or {}).get(wanted) == port
    end = entry.get("endPort")
    return int(wanted) <= port <= int(end) if end is not None else int(wanted) == port


def _rule_allows(rule: Mapping[str, Any], peers_key: str, policy_namespace: str, peer: Endpoint, flow: Flow, ns_labels: Mapping[str, Mapping[str, str]]) -> bool:
    peers = rule.get(peers_key)
    if peers and not any(_peer_matches(p, policy_namespace, peer, ns_labels) for p in peers):
        return False
    ports = rule.get("ports")
    return not ports or any(_port_matches(p, flow.port, flow.protocol, flow.destination) for p in ports)


def _direction(policies: Sequence[Deployed], subject: Endpoint, peer: Endpoint, flow: Flow, direction: str, ns_labels: Mapping[str, Mapping[str, str]]) -> str | None:
    """None if `direction` (Ingress at the destination, Egress at the source) lets the flow through, else why not."""
    if not subject.pods:
        return None
    selecting = [
        p for p in policies
        if p.namespace == subject.namespace
        and selects((p.obj.get("spec") or {}).get("podSelector"), subject.labels or {})
        and direction in policy_types(p.obj.get("spec") or {})
    ]
    if not selecting:
        return None
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for p in selecting:
        if any(_rule_allows(rule or {}, peers_key, p.namespace, peer, flow, ns_labels) for rule in (p.obj.get("spec") or {}).get(rules_key) or []):
            return None
    names = ", ".join(sorted(p.name for p in selecting))
    return f"{direction.lower()} of {subject.namespace} denied (selected by {names}; no rule allows it)"


def verdict(flow: Flow, policies: Sequence[Deployed], ns_labels: Mapping[str, Mapping[str, str]]) -> str | None:
    """None when both ends' policies let `flow` through, else why not."""
    return _direction(policies, flow.source, flow.destination, flow, "Egress", ns_labels) or _direction(
        policies, flow.destination, flow.source, flow, "Ingress", ns_labels
    )


class Pods:
    """Pod groups as endpoints, with their named ports and what they mount."""

    def __init__(self, objects: Sequence[Deployed], environment: str) -> None:
        self.environment = environment
        self.node = Endpoint("node", address=_NODE_ADDRESS.get(environment, _NODE_ADDRESS["local"]))
        address, self.api_server_port = _API_SERVER.get(environment, _API_SERVER["local"])
        self.api_server = Endpoint("the API server", address=address)
        self.groups = pod_groups(objects, 1, environment)
        self.endpoints = {id(g): self._endpoint(g) for g in self.groups}

    def _endpoint(self, group: PodGroup) -> Endpoint:
        spec = pod_spec(group.owner.obj) or {}
        if spec.get("hostNetwork") or on_host_network(group):
            return self.node
        ports: dict[str, int] = {}
        for _, c in containers(spec):
            for p in c.get("ports") or []:
                if p.get("name") and p.get("containerPort") is not None:
                    ports[str(p["name"])] = int(p["containerPort"])
        if str(group.owner.obj.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
            for name, number in OPERATOR_POD_PORTS.get(group.owner.kind, {}).items():
                ports.setdefault(name, number)
        return Endpoint(f"{group.owner.ref or group.namespace}", group.namespace, dict(group.labels), ports=ports)

    def of(self, group: PodGroup) -> Endpoint:
        return self.endpoints[id(group)]

    def selected(self, namespace: str, selector: Mapping[str, Any] | None) -> list[PodGroup]:
        return [g for g in self.groups if g.namespace == namespace and selector and selects(selector, g.labels)]

    def with_proxy(self) -> list[PodGroup]:
        return [g for g in self.groups if any(c.get("name") == "istio-proxy" for _, c in containers(pod_spec(g.owner.obj) or {}))]


def on_host_network(group: PodGroup) -> bool:
    labels = group.labels
    return group.owner.origin == "cluster" and bool({labels.get("component"), labels.get("k8s-app"), labels.get("app")} & HOST_NETWORK_CLUSTER_PODS)


def service_targets(pods: Pods, service: Deployed, port: Mapping[str, Any]) -> Iterator[tuple[Endpoint, int]]:
    """(endpoint, container port) behind one port of a Service."""
    selector = (service.obj.get("spec") or {}).get("selector")
    target = port.get("targetPort", port.get("port"))
    for group in pods.selected(service.namespace, {"matchLabels": selector} if selector else None):
        endpoint = pods.of(group)
        number = (endpoint.ports or {}).get(str(target)) if isinstance(target, str) and not target.isdigit() else target
        if number is not None:
            yield endpoint, int(number)


def service_port(service: Deployed, wanted: int | str | None) -> Mapping[str, Any] | None:
    ports = (service.obj.get("spec") or {}).get("ports") or []
    for p in ports:
        if wanted is None or p.get("name") == wanted or p.get("port") == wanted:
            return dict(p)
    return None


def cluster_service_target(pods: Pods, service: Deployed) -> tuple[Endpoint, int] | None:
    """Where a cluster-made Service (no selector in the render) sends a port: the kubelet or the API server."""
    if service.name == "kubernetes":
        return pods.api_server, pods.api_server_port
    if service.name.endswith("-kubelet"):
        return pods.node, 10250
    return None


def pod_texts(group: PodGroup, config: Mapping[tuple[str, str, str], Deployed]) -> Iterator[tuple[Deployed, str, str]]:
    """(object, why, text) of every place a pod group's addresses are wired: its own env and
    arguments, and the ConfigMaps and Secrets it mounts or reads."""
    sources = [(group.owner, f"{group.owner.ref} environment and arguments")]
    for kind, name in sorted({(r.kind, r.name) for r in pod_references(pod_spec(group.owner.obj) or {}, group.namespace)}):
        mounted = config.get((kind, group.namespace, name))
        if mounted is not None:
            sources.append((mounted, mounted.ref))
    for d, why in sources:
        for _, text in wired_texts(d):
            yield d, why, text


def url_targets(objects: Sequence[Deployed], pods: Pods) -> Iterator[tuple[PodGroup, str, str, int | str | None, str]]:
    """(client pods, namespace, Service, port, why) of every in-cluster address a client is configured with."""
    config = {(d.kind, d.namespace, d.name): d for d in objects if d.kind in ("ConfigMap", "Secret")}
    namespaces = namespaces_of(objects, pods.environment)
    for group in pods.groups:
        for _, why, text in pod_texts(group, config):
            for name, namespace, port, _ in addresses_in(text, namespaces):
                yield group, namespace, name, port, why
    # Objects whose addresses an operator, not their own pods, connects to.
    callers = {
        "ScaledObject": [g for g in pods.groups if "keda-operator" in (g.labels.get("app"), g.labels.get("app.kubernetes.io/name"))],
        "AnalysisTemplate": [
            g for g in pods.groups
            if g.labels.get("app.kubernetes.io/name") == "argo-rollouts" and g.labels.get("app.kubernetes.io/component") == "rollouts-controller"
        ],
    }
    prometheus = [g for g in pods.groups if g.owner.kind == "Prometheus"]
    for d in objects:
        for group in callers.get(d.kind, []):
            # The places and address syntax the deployability check resolves.
            for _, text in wired_texts(d):
                for name, namespace, port, _ in addresses_in(text, namespaces):
                    yield group, namespace, name, port, d.ref
        if d.kind == "Prometheus":
            for am in ((d.obj.get("spec") or {}).get("alerting") or {}).get("alertmanagers") or []:
                for group in prometheus:
                    yield group, str(am.get("namespace") or d.namespace), str(am.get("name")), am.get("port"), d.ref
