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

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policies.rules.kubernetes import denies_by_default

from ..engine.addresses import external_addresses_in, namespaces_of
from ..engine.deployed import Deployed
from ..engine.flows import INTERNET_ADDRESS, Endpoint, Flow, Pods, cluster_service_target, pod_texts, service_port, service_targets, url_targets, verdict
from ..engine.injection import is_injected
from ..engine.objects import mesh_config
from ..engine.pods import PodGroup, cluster_services, watched_namespaces
from ..engine.selectors import namespace_labels, selects
from ..engine.workloads import pod_spec

# --- NetworkPolicy semantics -------------------------------------------------------------


# --- the flows the platform depends on ---------------------------------------------------


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
                    scraped = service_port(service, endpoint.get("port") or endpoint.get("targetPort"))
                    if scraped is None:
                        continue
                    if service.origin == "cluster" and not (service.obj.get("spec") or {}).get("selector"):
                        found = cluster_service_target(pods, service)
                        targets += [found] if found else []
                    else:
                        targets += list(service_targets(pods, service, scraped))
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
            port = service_port(service, int(ref.get("port") or 443)) if service else None
            if service is None or port is None:
                continue
            for destination, number in service_targets(pods, service, port):
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


def _mesh_flows(objects: Sequence[Deployed], pods: Pods) -> Iterator[Flow]:
    services = {(d.namespace, d.name): d for d in objects if d.kind == "Service"}
    proxies = pods.with_proxy()
    istiod = services.get(("istio-system", "istiod"))
    xds = service_port(istiod, 15012) if istiod else None
    collectors: list[tuple[Deployed, Mapping[str, Any]]] = []
    for provider in (mesh_config(objects) or {}).get("extensionProviders") or []:
        for kind in ("opentelemetry", "zipkin"):
            settings = provider.get(kind) or {}
            name, _, namespace = str(settings.get("service", "")).partition(".")
            service = services.get((namespace.split(".")[0], name))
            port = service_port(service, settings.get("port")) if service else None
            if service is not None and port is not None:
                collectors.append((service, port))
    for group in proxies:
        source = pods.of(group)
        if xds is not None and istiod is not None:
            for destination, number in service_targets(pods, istiod, xds):
                yield Flow("istiod", source, destination, number, why="Envoy fetches config and certificates")
        for service, port in collectors:
            for destination, number in service_targets(pods, service, port):
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
                port = service_port(service, (destination.get("port") or {}).get("number")) if service else None
                if service is None or port is None:
                    continue
                for target, number in service_targets(pods, service, port):
                    for gateway in gateways:
                        yield Flow("gateway", pods.of(gateway), target, number, why=vs.ref)


def _external_calls(objects: Sequence[Deployed], pods: Pods) -> Iterator[tuple[PodGroup, Flow]]:
    """Pods' calls to hosts outside the cluster, found in the same places as in-cluster URLs."""
    config = {(d.kind, d.namespace, d.name): d for d in objects if d.kind in ("ConfigMap", "Secret")}
    namespaces = namespaces_of(objects, pods.environment)
    for group in pods.groups:
        for _, why, text in pod_texts(group, config):
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
    if (((mesh_config(objects) or {}).get("outboundTrafficPolicy") or {}).get("mode")) != "REGISTRY_ONLY":
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


def _url_flows(objects: Sequence[Deployed], pods: Pods) -> Iterator[Flow]:
    services = {(d.namespace, d.name): d for d in objects if d.kind == "Service"}
    for source, namespace, name, port, why in url_targets(objects, pods):
        service = services.get((namespace, name))
        called = service_port(service, port) if service else None
        if service is None or called is None:
            continue  # deployability.addresses reports it; paths traces the rest
        for destination, number in service_targets(pods, service, called):
            if destination != pods.of(source):
                yield Flow("url", pods.of(source), destination, number, why=why)


def network_report(objects: Sequence[Deployed], environment: str = "local") -> dict[str, Any]:
    """`{"flows", "checks", "list", "errors", "open_namespaces"}`: how many flows of each check, every
    flow (its check, ends, port and whether the NetworkPolicies allow it), those they block, and
    the namespaces with pods that do not deny by default in both directions."""
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
    listed = []
    for flow in flows.values():
        checks[flow.check] = checks.get(flow.check, 0) + 1
        reason = verdict(flow, policies, ns_labels)
        if reason is not None:
            blocked.append({"check": flow.check, "object": flow.describe(), "urn": "", "message": reason})
        listed.append({
            "check": flow.check, "from": flow.source.name, "from_namespace": flow.source.namespace, "to": flow.destination.name,
            "to_namespace": flow.destination.namespace, "port": flow.port, "protocol": flow.protocol, "allowed": reason is None,
        })
    with_pods = {g.namespace for g in pods.groups if pods.of(g).pods and g.owner.origin != "cluster"}
    by_namespace: dict[str, list[Mapping[str, Any]]] = {}
    for p in policies:
        by_namespace.setdefault(p.namespace, []).append(p.obj.get("spec") or {})
    open_namespaces = sorted(ns for ns in with_pods if denies_by_default(by_namespace.get(ns, [])) != {"Ingress", "Egress"})
    errors = sorted(blocked + registry_errors(objects, external, ns_labels), key=lambda b: (b["check"], b["object"]))
    listed.sort(key=lambda f: (f["check"], f["from_namespace"], f["from"], f["to_namespace"], f["to"], f["port"], f["protocol"]))
    return {"flows": len(flows), "checks": dict(sorted(checks.items())), "list": listed, "errors": errors, "open_namespaces": open_namespaces}


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
        targets = list(service_targets(pods, service, port))
        owners = [g.owner for g in pods.selected(service.namespace, {"matchLabels": service.obj["spec"]["selector"]})]
        if not targets or not owners or not all(is_injected(o, ns_labels) for o in owners):
            continue
        for namespace in sources:
            probe = Endpoint("a plaintext probe", namespace, dict(labels))
            if all(verdict(Flow("mtls", probe, target, number), policies, ns_labels) is None for target, number in targets):
                probes.setdefault(namespace, []).append((service.namespace, service.name, int(port["port"])))
                break
    return probes
