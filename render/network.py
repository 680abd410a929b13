"""Every flow the platform depends on, against the NetworkPolicies it deploys.

The flows come from the objects themselves, not from a list kept beside them:

- `dns`: every pod resolves names through CoreDNS, on UDP and on TCP (a truncated answer
  is asked again over TCP);
- `scrape`: Prometheus reaches every target of every ServiceMonitor and PodMonitor (a
  host-network target, such as the kubelet or node-exporter, is a node address);
- `api-server`: the API server reaches every admission webhook and aggregated API;
- `api-client`: every pod whose ServiceAccount a RoleBinding or ClusterRoleBinding grants
  rights (controllers, operators, Jobs that use the API) reaches the API server, unless it
  mounts no token;
- `istiod`: every Envoy (sidecar or gateway) reaches istiod; `tracing`: every Envoy
  reaches the tracing collector named in the mesh config;
- `gateway`: the ingress gateway reaches every Service a VirtualService routes to;
- `url`: a pod reaches every in-cluster Service named by a URL in its environment, its
  arguments or a ConfigMap/Secret it mounts (KEDA's operator: the Prometheus a
  ScaledObject queries; Argo Rollouts' controller: the Prometheus an AnalysisTemplate
  queries; Prometheus: the Alertmanagers it alerts);
- `external`: a pod reaches every public host named by a URL in the same places (the
  internet stands as one address, 198.51.100.10). Under the mesh's `REGISTRY_ONLY` an
  injected pod's external host also needs a ServiceEntry visible in its namespace for the
  host and port (`check: egress` errors): otherwise its sidecar drops the call.

Each flow is judged the way the Kubernetes NetworkPolicy API defines it: a pod selected
by no policy of a direction is open in that direction; a selected pod accepts only what
some rule of a selecting policy allows (peers by pod and namespace selector, `ipBlock`
for addresses outside the pod network, ports by number, name or range). Pod-to-pod flows
must be allowed by selectors: whether an `ipBlock` matches pod addresses is up to the
network plugin, so the check does not count on it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from policies.rules.kubernetes import denies_by_default, policy_types

from .consistency import PodGroup, cluster_services, pod_groups, watched_namespaces
from .deployability import addresses_in, external_addresses_in, namespaces_of, wired_texts
from .deployed import Deployed
from .injection import is_injected
from .references import pod_references
from .selectors import namespace_labels, selects
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


# --- NetworkPolicy semantics -------------------------------------------------------------


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


# --- the flows the platform depends on ---------------------------------------------------


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
        if spec.get("hostNetwork") or _host_network_cluster_pod(group):
            return self.node
        ports: dict[str, int] = {}
        for _, c in containers(spec):
            for p in c.get("ports") or []:
                if p.get("name") and p.get("containerPort") is not None:
                    ports[str(p["name"])] = int(p["containerPort"])
        if group.owner.kind in ("Prometheus", "Alertmanager"):
            ports.setdefault("web", 9090 if group.owner.kind == "Prometheus" else 9093)
        return Endpoint(f"{group.owner.ref or group.namespace}", group.namespace, dict(group.labels), ports=ports)

    def of(self, group: PodGroup) -> Endpoint:
        return self.endpoints[id(group)]

    def selected(self, namespace: str, selector: Mapping[str, Any] | None) -> list[PodGroup]:
        return [g for g in self.groups if g.namespace == namespace and selector and selects(selector, g.labels)]

    def with_proxy(self) -> list[PodGroup]:
        return [g for g in self.groups if any(c.get("name") == "istio-proxy" for _, c in containers(pod_spec(g.owner.obj) or {}))]


def _host_network_cluster_pod(group: PodGroup) -> bool:
    labels = group.labels
    return group.owner.origin == "cluster" and bool({labels.get("component"), labels.get("k8s-app"), labels.get("app")} & HOST_NETWORK_CLUSTER_PODS)


def _service_targets(pods: Pods, service: Deployed, port: Mapping[str, Any]) -> Iterator[tuple[Endpoint, int]]:
    """(endpoint, container port) behind one port of a Service."""
    selector = (service.obj.get("spec") or {}).get("selector")
    target = port.get("targetPort", port.get("port"))
    for group in pods.selected(service.namespace, {"matchLabels": selector} if selector else None):
        endpoint = pods.of(group)
        number = (endpoint.ports or {}).get(str(target)) if isinstance(target, str) and not target.isdigit() else target
        if number is not None:
            yield endpoint, int(number)


def _service_port(service: Deployed, wanted: int | str | None) -> Mapping[str, Any] | None:
    ports = (service.obj.get("spec") or {}).get("ports") or []
    for p in ports:
        if wanted is None or p.get("name") == wanted or p.get("port") == wanted:
            return dict(p)
    return None


def _cluster_service_target(pods: Pods, service: Deployed) -> tuple[Endpoint, int] | None:
    """Where a cluster-made Service (no selector in the render) sends a port: the kubelet or the API server."""
    if service.name == "kubernetes":
        return pods.api_server, pods.api_server_port
    if service.name.endswith("-kubelet"):
        return pods.node, 10250
    return None


def _scrape_flows(objects: Sequence[Deployed], pods: Pods) -> Iterator[Flow]:
    prometheus = [g for g in pods.groups if g.owner.kind == "Prometheus"]
    namespaces = {d.name for d in objects if d.kind == "Namespace"} | {d.namespace for d in objects if d.namespace}
    services = [d for d in objects if d.kind == "Service"]
    made = cluster_services(objects, pods.environment)
    for monitor in objects:
        if monitor.kind not in ("ServiceMonitor", "PodMonitor") or not str(monitor.obj.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
            continue
        spec = monitor.obj.get("spec") or {}
        watched = watched_namespaces(monitor, namespaces)
        targets: list[tuple[Endpoint, int]] = []
        if monitor.kind == "ServiceMonitor":
            for service in [*services, *made]:
                if service.namespace not in watched or not selects(spec.get("selector"), (service.obj.get("metadata") or {}).get("labels") or {}):
                    continue
                for endpoint in spec.get("endpoints") or []:
                    service_port = _service_port(service, endpoint.get("port") or endpoint.get("targetPort"))
                    if service_port is None:
                        continue
                    if service.origin == "cluster" and not (service.obj.get("spec") or {}).get("selector"):
                        found = _cluster_service_target(pods, service)
                        targets += [found] if found else []
                    else:
                        targets += list(_service_targets(pods, service, service_port))
        else:
            for group in pods.groups:
                if group.namespace in watched and selects(spec.get("selector"), group.labels):
                    endpoint = pods.of(group)
                    for entry in spec.get("podMetricsEndpoints") or []:
                        number = (endpoint.ports or {}).get(str(entry.get("port")))
                        if number is not None:
                            targets.append((endpoint, number))
        for source in prometheus:
            for destination, port in targets:
                yield Flow("scrape", pods.of(source), destination, port, why=f"{monitor.ref}")


def _api_server_flows(objects: Sequence[Deployed], pods: Pods) -> Iterator[Flow]:
    services = {(d.namespace, d.name): d for d in objects if d.kind == "Service"}
    for d in objects:
        refs: list[Mapping[str, Any]] = []
        if d.kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            refs = [(w.get("clientConfig") or {}).get("service") or {} for w in d.obj.get("webhooks") or []]
        elif d.kind == "APIService":
            refs = [(d.obj.get("spec") or {}).get("service") or {}]
        for ref in refs:
            service = services.get((str(ref.get("namespace")), str(ref.get("name"))))
            port = _service_port(service, int(ref.get("port") or 443)) if service else None
            if service is None or port is None:
                continue
            for destination, number in _service_targets(pods, service, port):
                yield Flow("api-server", pods.api_server, destination, number, why=d.ref)


def _api_client_flows(objects: Sequence[Deployed], pods: Pods) -> Iterator[Flow]:
    """A pod calls the API server when its ServiceAccount is granted rights: what it was given them for."""
    granted: dict[tuple[str, str], str] = {}
    for binding in objects:
        if binding.kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        for subject in binding.obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                granted.setdefault((str(subject.get("namespace") or binding.namespace), str(subject.get("name"))), binding.ref)
    for group in pods.groups:
        spec = pod_spec(group.owner.obj) or {}
        account = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
        why = granted.get((group.namespace, account))
        source = pods.of(group)
        if why is None or spec.get("automountServiceAccountToken") is False or source is pods.node or group.owner.origin == "cluster":
            continue
        yield Flow("api-client", source, pods.api_server, pods.api_server_port, why=f"ServiceAccount {account}: {why}")


def _dns_flows(pods: Pods) -> Iterator[Flow]:
    dns = [g for g in pods.groups if g.namespace == "kube-system" and g.labels.get("k8s-app") == "kube-dns"]
    for group in pods.groups:
        source = pods.of(group)
        if source.pods and group not in dns:
            for d in dns:
                coredns = Endpoint("CoreDNS", "kube-system", dict(d.labels), ports={"dns": 53, "dns-tcp": 53})
                yield Flow("dns", source, coredns, 53, "UDP", "name resolution")
                # A truncated answer (many records, DNSSEC) is asked again over TCP.
                yield Flow("dns", source, coredns, 53, "TCP", "name resolution (answers over 512 bytes retry on TCP)")


def _mesh_config(objects: Sequence[Deployed]) -> Mapping[str, Any]:
    for d in objects:
        if d.kind == "ConfigMap" and d.name == "istio" and d.namespace == "istio-system":
            loaded = yaml.safe_load(str((d.obj.get("data") or {}).get("mesh") or "")) or {}
            return loaded if isinstance(loaded, Mapping) else {}
    return {}


def _mesh_flows(objects: Sequence[Deployed], pods: Pods) -> Iterator[Flow]:
    services = {(d.namespace, d.name): d for d in objects if d.kind == "Service"}
    proxies = pods.with_proxy()
    istiod = services.get(("istio-system", "istiod"))
    xds = _service_port(istiod, 15012) if istiod else None
    collectors: list[tuple[Deployed, Mapping[str, Any]]] = []
    for provider in _mesh_config(objects).get("extensionProviders") or []:
        for kind in ("opentelemetry", "zipkin"):
            settings = provider.get(kind) or {}
            name, _, namespace = str(settings.get("service", "")).partition(".")
            service = services.get((namespace.split(".")[0], name))
            port = _service_port(service, settings.get("port")) if service else None
            if service is not None and port is not None:
                collectors.append((service, port))
    for group in proxies:
        source = pods.of(group)
        if xds is not None and istiod is not None:
            for destination, number in _service_targets(pods, istiod, xds):
                yield Flow("istiod", source, destination, number, why="Envoy fetches config and certificates")
        for service, port in collectors:
            for destination, number in _service_targets(pods, service, port):
                yield Flow("tracing", source, destination, number, why="Envoy reports spans")


def _gateway_flows(objects: Sequence[Deployed], pods: Pods) -> Iterator[Flow]:
    services = {(d.namespace, d.name): d for d in objects if d.kind == "Service"}
    gateways = [g for g in pods.groups if g.labels.get("istio") == "ingressgateway"]
    for vs in objects:
        if vs.kind != "VirtualService" or not str(vs.obj.get("apiVersion", "")).startswith("networking.istio.io/"):
            continue
        spec = vs.obj.get("spec") or {}
        if all(g == "mesh" for g in spec.get("gateways") or ["mesh"]):
            continue
        for route in spec.get("http") or []:
            for item in route.get("route") or []:
                destination = item.get("destination") or {}
                host = str(destination.get("host", ""))
                name, _, rest = host.partition(".")
                service = services.get((rest.split(".")[0] if rest else vs.namespace, name))
                port = _service_port(service, (destination.get("port") or {}).get("number")) if service else None
                if service is None or port is None:
                    continue
                for target, number in _service_targets(pods, service, port):
                    for gateway in gateways:
                        yield Flow("gateway", pods.of(gateway), target, number, why=vs.ref)


def _pod_texts(group: PodGroup, config: Mapping[tuple[str, str, str], Deployed]) -> Iterator[tuple[Deployed, str, str]]:
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


def _external_calls(objects: Sequence[Deployed], pods: Pods) -> Iterator[tuple[PodGroup, Flow]]:
    """Pods' calls to hosts outside the cluster, found in the same places as in-cluster URLs."""
    config = {(d.kind, d.namespace, d.name): d for d in objects if d.kind in ("ConfigMap", "Secret")}
    namespaces = namespaces_of(objects, pods.environment)
    for group in pods.groups:
        for _, why, text in _pod_texts(group, config):
            for host, port, _ in external_addresses_in(text, namespaces):
                yield group, Flow("external", pods.of(group), Endpoint(host, address=INTERNET_ADDRESS), port, why=why)


def _covers(pattern: str, host: str) -> bool:
    return pattern == host or (pattern.startswith("*.") and host.endswith(pattern[1:]))


def registry_errors(
    objects: Sequence[Deployed], calls: Sequence[tuple[PodGroup, Flow]], ns_labels: Mapping[str, Mapping[str, str]]
) -> list[dict[str, str]]:
    """Under `outboundTrafficPolicy: REGISTRY_ONLY`, an injected pod's external call (`calls`,
    from `_external_calls`) needs a ServiceEntry visible in its namespace for the host and port;
    otherwise its sidecar drops it."""
    if ((_mesh_config(objects).get("outboundTrafficPolicy") or {}).get("mode")) != "REGISTRY_ONLY":
        return []
    entries = [d for d in objects if d.kind == "ServiceEntry"]

    def visible(entry: Deployed, namespace: str) -> bool:
        export = (entry.obj.get("spec") or {}).get("exportTo") or ["*"]
        return "*" in export or namespace in export or ("." in export and entry.namespace == namespace)

    def declared(namespace: str, host: str, port: int) -> bool:
        for entry in entries:
            spec = entry.obj.get("spec") or {}
            if visible(entry, namespace) and any(_covers(h, host) for h in spec.get("hosts") or []) and any(
                int(p.get("number", 0)) == port for p in spec.get("ports") or []
            ):
                return True
        return False

    errors = []
    for group, flow in calls:
        if not is_injected(group.owner, ns_labels):
            continue
        if not declared(flow.source.namespace, flow.destination.name, flow.port):
            errors.append({
                "check": "egress", "object": flow.describe(), "urn": group.owner.source,
                "message": f"{flow.source.name} calls {flow.destination.name}:{flow.port}, which its sidecar refuses under "
                f"outboundTrafficPolicy REGISTRY_ONLY: declare it in the service's egress "
                f"(MicroserviceConfig.egress: [{{host: {flow.destination.name}, port: {flow.port}}}]) or add a ServiceEntry visible in {flow.source.namespace}",
            })
    return errors


def url_targets(objects: Sequence[Deployed], pods: Pods) -> Iterator[tuple[PodGroup, str, str, int | str | None, str]]:
    """(client pods, namespace, Service, port, why) of every in-cluster address a client is configured with."""
    config = {(d.kind, d.namespace, d.name): d for d in objects if d.kind in ("ConfigMap", "Secret")}
    namespaces = namespaces_of(objects, pods.environment)
    for group in pods.groups:
        for _, why, text in _pod_texts(group, config):
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


def _url_flows(objects: Sequence[Deployed], pods: Pods) -> Iterator[Flow]:
    services = {(d.namespace, d.name): d for d in objects if d.kind == "Service"}
    for source, namespace, name, port, why in url_targets(objects, pods):
        service = services.get((namespace, name))
        service_port = _service_port(service, port) if service else None
        if service is None or service_port is None:
            continue  # deployability.addresses reports it; paths traces the rest
        for destination, number in _service_targets(pods, service, service_port):
            if destination != pods.of(source):
                yield Flow("url", pods.of(source), destination, number, why=why)


def network_report(objects: Sequence[Deployed], environment: str = "local") -> dict[str, Any]:
    """`{"flows", "checks", "errors", "open_namespaces"}`: how many flows of each check, those the
    NetworkPolicies block, and the namespaces with pods that do not deny by default in both directions."""
    pods = Pods(objects, environment)
    policies = [d for d in objects if d.kind == "NetworkPolicy" and d.origin != "dropped-hook"]
    ns_labels = namespace_labels(objects)
    external = list(_external_calls(objects, pods))
    flows = {
        (f.check, f.source.name, f.source.namespace, f.destination.name, f.destination.namespace, f.port, f.protocol): f
        for f in [
            *_dns_flows(pods), *_scrape_flows(objects, pods), *_api_server_flows(objects, pods), *_api_client_flows(objects, pods),
            *_mesh_flows(objects, pods), *_gateway_flows(objects, pods), *_url_flows(objects, pods),
            *(flow for _, flow in external),
        ]
    }
    blocked = []
    checks: dict[str, int] = {}
    for flow in flows.values():
        checks[flow.check] = checks.get(flow.check, 0) + 1
        reason = verdict(flow, policies, ns_labels)
        if reason is not None:
            blocked.append({"check": flow.check, "object": flow.describe(), "urn": "", "message": reason})
    with_pods = {g.namespace for g in pods.groups if pods.of(g).pods and g.owner.origin != "cluster"}
    by_namespace: dict[str, list[Mapping[str, Any]]] = {}
    for p in policies:
        by_namespace.setdefault(p.namespace, []).append(p.obj.get("spec") or {})
    open_namespaces = sorted(ns for ns in with_pods if denies_by_default(by_namespace.get(ns, [])) != {"Ingress", "Egress"})
    errors = sorted(blocked + registry_errors(objects, external, ns_labels), key=lambda b: (b["check"], b["object"]))
    return {"flows": len(flows), "checks": dict(sorted(checks.items())), "errors": errors, "open_namespaces": open_namespaces}


def plaintext_probes(objects: Sequence[Deployed], labels: Mapping[str, str], environment: str = "local") -> dict[str, list[tuple[str, str, int]]]:
    """Where a pod labelled `labels`, without a sidecar, can call each Service of a namespace
    with sidecar injection in plaintext with the NetworkPolicies letting it through, so that
    only the sidecars' mTLS can refuse it: `{probe namespace: [(namespace, Service, port)]}`.
    The probe namespace of a Service is the first, by name, without injection from which the
    flow reaches all its (injected) pods on its first TCP port. A Service no such namespace
    reaches is left out: its NetworkPolicies already refuse every un-injected caller."""
    pods = Pods(objects, environment)
    policies = [d for d in objects if d.kind == "NetworkPolicy" and d.origin != "dropped-hook"]
    ns_labels = namespace_labels(objects)
    sources = sorted(ns for ns, found in ns_labels.items() if found.get("istio-injection") != "enabled")
    probes: dict[str, list[tuple[str, str, int]]] = {}
    meshed = [
        d for d in objects
        if d.kind == "Service" and (d.obj.get("spec") or {}).get("selector") and ns_labels.get(d.namespace, {}).get("istio-injection") == "enabled"
    ]
    for service in sorted(meshed, key=lambda d: (d.namespace, d.name)):
        port = next((p for p in (service.obj.get("spec") or {}).get("ports") or [] if str(p.get("protocol") or "TCP") == "TCP"), None)
        if port is None:
            continue
        targets = list(_service_targets(pods, service, port))
        owners = [g.owner for g in pods.selected(service.namespace, {"matchLabels": service.obj["spec"]["selector"]})]
        if not targets or not owners or not all(is_injected(o, ns_labels) for o in owners):
            continue
        for namespace in sources:
            probe = Endpoint("a plaintext probe", namespace, dict(labels))
            if all(verdict(Flow("mtls", probe, target, number), policies, ns_labels) is None for target, number in targets):
                probes.setdefault(namespace, []).append((service.namespace, service.name, int(port["port"])))
                break
    return probes
