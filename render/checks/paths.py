"""Every path a request takes, traced hop by hop to the process that answers.

One mechanism, `Tracer`, follows a request from where it enters:

- a URL at the mesh gateway (each host a VirtualService binds to the ingress Gateway):
  host port -> kind's port mapping -> NodePort (or the cloud load balancer) -> Service
  port -> target port -> the gateway pod's listener (a Gateway server on that Service
  port, with the URL's protocol and host) -> TLS (the server's Secret, issued for the
  host) -> the VirtualService route -> the destination Service port -> target port -> the
  container port that answers, with the NetworkPolicies between gateway and pod;
- a documented `kubectl port-forward svc/...` (`PORT_FORWARDS`): Service port -> target
  port -> container port, with the scheme that port speaks;
- every address an in-cluster client is configured with (the `url` flows of the network
  layer): Service port -> target port -> container port.

Between the caller's pods and the destination's, the mesh must let them talk: a caller
without a sidecar cannot reach pods whose PeerAuthentication is STRICT, and a sidecar
told to speak mTLS (a DestinationRule's `ISTIO_MUTUAL`) cannot reach pods without one.

It fails on the first hop that breaks, naming it and the fix. Besides the traces:
`ports` — every port of every Service resolves in every pod group it selects (a named
`targetPort` no container declares leaves the Service without endpoints for it; a numeric
one that nothing answers is listed as `unanswered`, and is an error when a path uses it);
`probes` — every probe targets a port the container answers on.

What answers on a port: a declared container port; a port a process's own flags bind
(`--*-address=:N`, `--*port=N`; not on loopback); the Istio proxy's ports in an injected pod; a gateway's
listeners; and `LISTENERS`, ports a pinned image listens on without declaring them, each
with its source.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from components.charts import runtime_repository

from ..engine.addresses import service_of_host
from ..engine.cluster import OPERATOR_POD_PORTS
from ..engine.deployed import Deployed
from ..engine.flows import Flow, Pods, url_targets, verdict
from ..engine.objects import certificate_secrets
from ..engine.pods import MESH_ROOT_NAMESPACE, PodGroup
from ..engine.selectors import namespace_labels, selects
from ..engine.workloads import containers, pod_spec, probe_ports

PROXY_PORTS: dict[int, str] = {
    15020: "pilot-agent (merged Prometheus metrics, probe rewrites)",
    15021: "pilot-agent (health)",
    15090: "Envoy (Prometheus stats)",
}
"""Ports the Istio proxy of an injected pod (or a gateway) answers on."""

LISTENERS: dict[str, dict[int, str]] = {
    "ghcr.io/kedacore/keda": {8081: "controller-runtime health probes (default --health-probe-bind-address :8081)"},
    "ghcr.io/kedacore/keda-admission-webhooks": {8081: "controller-runtime health probes"},
    "docker.io/istio/install-cni": {8000: "the CNI agent's readiness server (fixed port)"},
    "docker.io/hashicorp/vault-csi-provider": {8080: "health server (default -health-addr :8080)"},
    "docker.io/jaegertracing/jaeger": {
        14250: "Jaeger v2 all-in-one's jaeger receiver (gRPC)", 14268: "Jaeger v2 all-in-one's jaeger receiver (Thrift HTTP)",
    },
}
"""Image repository (glob) -> ports its pinned version listens on without declaring them -> what listens."""

@dataclass(frozen=True)
class PortForward:
    """A UI the docs reach with `kubectl -n <namespace> port-forward svc/<service> <local>[:<port>]`."""

    namespace: str
    service: str
    port: int
    local: int
    schemes: Mapping[str, str]
    """The scheme the UI speaks, per environment."""

    def command(self) -> str:
        ports = str(self.port) if self.local == self.port else f"{self.local}:{self.port}"
        return f"kubectl -n {self.namespace} port-forward svc/{self.service} {ports}"


_HTTP = {"local": "http", "aws": "http"}
PORT_FORWARDS: tuple[PortForward, ...] = (
    PortForward("monitoring", "kps-grafana", 80, 3000, _HTTP),
    PortForward("monitoring", "kps-prometheus", 9090, 9090, _HTTP),
    PortForward("monitoring", "kps-alertmanager", 9093, 9093, _HTTP),
    PortForward("monitoring", "jaeger", 16686, 16686, _HTTP),
    PortForward("istio-system", "kiali", 20001, 20001, _HTTP),
    # Dev mode on local serves plain HTTP; HA Vault on aws serves TLS from the platform CA.
    PortForward("vault", "vault-ui", 8200, 8200, {"local": "http", "aws": "https"}),
)
"""The documented port-forwards (the docs' UI tables show exactly these; a test keeps them so)."""

_BIND = re.compile(r"^--?[a-z0-9.-]*(?:addr|address|port)=(?:(?P<host>[^:\s]*):)?(?P<port>\d{1,5})$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]"})


def container_listens(container: Mapping[str, Any]) -> dict[int, str]:
    """Ports one container answers on, with why: declared, bound by its flags, or a known listener."""
    found: dict[int, str] = {}
    for p in container.get("ports") or []:
        if p.get("containerPort") is not None:
            found[int(p["containerPort"])] = f"declared port {p.get('name') or p['containerPort']}"
    for arg in [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]:
        match = _BIND.match(arg)
        if match and match.group("host") not in _LOOPBACK:  # a loopback bind is unreachable from outside the pod
            found.setdefault(int(match.group("port")), f"bound by {arg}")
    repository = runtime_repository(str(container.get("image", "")))
    for pattern, ports in LISTENERS.items():
        if fnmatch.fnmatchcase(repository, pattern):
            for port, why in ports.items():
                found.setdefault(port, why)
    if container.get("name") == "istio-proxy":
        for port, why in PROXY_PORTS.items():
            found.setdefault(port, why)
    return found


def _named_ports(spec: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    return {
        str(p["name"]): (int(p["containerPort"]), str(p.get("protocol") or "TCP"))
        for _, c in containers(spec) for p in c.get("ports") or [] if p.get("name") and p.get("containerPort") is not None
    }


@dataclass
class Trace:
    """One path: where it enters, each hop passed, and the first one that breaks (if any)."""

    entry: str
    hops: list[str] = field(default_factory=list)
    error: str | None = None
    urn: str = ""

    def fail(self, message: str, urn: str = "") -> Trace:
        self.error, self.urn = message, urn or self.urn
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "hops": self.hops, **({"error": self.error} if self.error else {})}


class Tracer:
    """Follows requests through the objects of a stack (as admitted: sidecars injected)."""

    def __init__(self, objects: Sequence[Deployed], environment: str, local_ports: Mapping[int, int] | None = None):
        self.objects = objects
        self.environment = environment
        self.local_ports = dict(local_ports) if local_ports is not None else None
        """kind's port mapping: host port -> node port (None: not a kind cluster)."""
        self.pods = Pods(objects, environment)
        self.policies = [d for d in objects if d.kind == "NetworkPolicy" and d.origin != "dropped-hook"]
        self.ns_labels = namespace_labels(objects)
        self.services = {(d.namespace, d.name): d for d in objects if d.kind == "Service"}
        self.gateways = [d for d in objects if d.kind == "Gateway" and str(d.obj.get("apiVersion", "")).startswith("networking.istio.io/")]
        self.issued = certificate_secrets(objects)

    # --- one Service port to the process behind it ---------------------------------------------

    def selected(self, service: Deployed) -> list[PodGroup]:
        selector = (service.obj.get("spec") or {}).get("selector")
        return self.pods.selected(service.namespace, {"matchLabels": selector}) if selector else []

    def answers(self, group: PodGroup, target: Any, service_port: int) -> tuple[int | None, str]:
        """(container port, why) for a target port in one pod group; (None, why not) when nothing answers."""
        spec = pod_spec(group.owner.obj) or {}
        operated = OPERATOR_POD_PORTS.get(group.owner.kind) if str(group.owner.obj.get("apiVersion", "")).startswith("monitoring.coreos.com/") else None
        if operated is not None:
            if target in operated or (str(target).isdigit() and int(target) in operated.values()):
                return (operated[target] if target in operated else int(target)), f"the operator's {group.owner.kind.lower()} container"
            return None, f"the operator gives {group.owner.ref}'s pods ports {', '.join(f'{k} ({v})' for k, v in operated.items())}, not {target}"
        if isinstance(target, str) and not target.isdigit():
            named = _named_ports(spec)
            if target not in named:
                return None, f"targetPort {target!r} names no port of {group.owner.ref} (it declares {', '.join(sorted(named)) or 'none'})"
            return named[target][0], f"named port {target}"
        number = int(target)
        for _, c in containers(spec):
            listens = container_listens(c)
            if number in listens:
                return number, f"container {c.get('name')}: {listens[number]}"
        if self._gateway_listens(group, service_port):
            return number, "a Gateway server on this Service port"
        selecting = [g.ref for g in self.gateways if selects({"matchLabels": (g.obj.get("spec") or {}).get("selector") or {}}, group.labels)]
        if selecting:
            return None, f"no Gateway server selecting {group.owner.ref} ({', '.join(selecting)}) listens on Service port {service_port}: add a server for it"
        if group.owner.origin == "cluster":
            return number, f"{group.owner.name} (the cluster's own pod)"
        return None, f"nothing in {group.owner.ref} answers on port {number} (no container declares it)"

    def _gateway_listens(self, group: PodGroup, service_port: int) -> bool:
        return any(
            selects({"matchLabels": (g.obj.get("spec") or {}).get("selector") or {}}, group.labels)
            and any(int((s.get("port") or {}).get("number") or 0) == service_port for s in (g.obj.get("spec") or {}).get("servers") or [])
            for g in self.gateways
        )

    # --- the mesh between two pods -------------------------------------------------------------

    @staticmethod
    def has_proxy(group: PodGroup) -> bool:
        return any(c.get("name") == "istio-proxy" for _, c in containers(pod_spec(group.owner.obj) or {}))

    def mtls_mode(self, group: PodGroup) -> str:
        """The PeerAuthentication mode a pod group's sidecar enforces: its workload's, its namespace's, the mesh's; PERMISSIVE by default."""
        best: tuple[int, str] = (0, "PERMISSIVE")
        for d in self.objects:
            if d.kind != "PeerAuthentication" or not str(d.obj.get("apiVersion", "")).startswith("security.istio.io/"):
                continue
            spec = d.obj.get("spec") or {}
            mode = str((spec.get("mtls") or {}).get("mode") or "")
            selector = (spec.get("selector") or {}).get("matchLabels")
            if not mode or mode == "UNSET":
                continue
            if d.namespace == group.namespace and selector and selects({"matchLabels": selector}, group.labels):
                rank = 3
            elif d.namespace == group.namespace and not selector:
                rank = 2
            elif d.namespace == MESH_ROOT_NAMESPACE and not selector:
                rank = 1
            else:
                continue
            best = max(best, (rank, mode))
        return best[1]

    def _mesh_problem(self, source: PodGroup, destination: PodGroup, service: Deployed) -> str | None:
        """Why the two ends' sidecars (or lack of one) cannot talk, else None."""
        if self.has_proxy(destination) and not self.has_proxy(source) and self.mtls_mode(destination) == "STRICT":
            return (f"{source.owner.ref} has no sidecar and {destination.owner.ref} accepts only mTLS (PeerAuthentication STRICT): "
                    "inject the caller, or relax the destination's mode")
        if self.has_proxy(source) and not self.has_proxy(destination):
            for rule in self.objects:
                spec = rule.obj.get("spec") or {}
                if rule.kind == "DestinationRule" and ((spec.get("trafficPolicy") or {}).get("tls") or {}).get("mode") == "ISTIO_MUTUAL" \
                        and service_of_host(str(spec.get("host", "")), rule.namespace) == (service.namespace, service.name):
                    return (f"{rule.ref} makes {source.owner.ref}'s sidecar speak mTLS to {destination.owner.ref}, which has no sidecar "
                            "to answer it: inject the destination")
        return None

    def service_hops(self, trace: Trace, service: Deployed, wanted: int | str, source: PodGroup | None = None) -> list[tuple[PodGroup, int]]:
        """Append the hops from `service` port `wanted` to the containers that answer; [] after failing `trace`.
        With `source`, the mesh between the caller's pods and each destination is checked too."""
        ports = (service.obj.get("spec") or {}).get("ports") or []
        port = next((p for p in ports if wanted in (p.get("port"), p.get("name"))), None)
        if port is None:
            trace.fail(f"{service.ref} has no port {wanted} (it has {', '.join(str(p.get('port')) for p in ports) or 'none'}): "
                       "use one of its ports or add it", service.source)
            return []
        trace.hops.append(f"{service.ref} port {port.get('port')}" + (f" ({port.get('name')})" if port.get("name") else ""))
        groups = self.selected(service)
        if not groups:
            trace.fail(f"{service.ref} selects no pods: match the labels of the workload it fronts", service.source)
            return []
        reached = []
        target = port.get("targetPort", port.get("port"))
        for group in groups:
            number, why = self.answers(group, target, int(port.get("port") or 0))
            if number is None:
                trace.fail(f"{service.ref} port {port.get('port')}: {why}: point targetPort at a port the container serves", service.source)
                return []
            problem = self._mesh_problem(source, group, service) if source is not None else None
            if problem:
                trace.fail(problem, service.source)
                return []
            trace.hops.append(f"{group.owner.ref} port {number} ({why})")
            reached.append((group, number))
        return reached

    # --- entry points ----------------------------------------------------------------------------

    def port_forward(self, forward: PortForward) -> Trace:
        scheme = forward.schemes.get(self.environment, "http")
        trace = Trace(f"{forward.command()} -> {scheme}://localhost:{forward.local}")
        service = self.services.get((forward.namespace, forward.service))
        if service is None:
            return trace.fail(f"Service {forward.namespace}/{forward.service} does not exist: the documented port-forward fails")
        for group, number in self.service_hops(trace, service, forward.port):
            spoken = self._protocol(group, number)
            if spoken and spoken != scheme:
                return trace.fail(f"{group.owner.ref} port {number} speaks {spoken}, not {scheme}: document {spoken}://", service.source)
        return trace

    def _protocol(self, group: PodGroup, number: int) -> str | None:
        for _, c in containers(pod_spec(group.owner.obj) or {}):
            for p in c.get("ports") or []:
                if p.get("containerPort") == number:
                    declared = str(p.get("appProtocol") or p.get("name") or "").lower()
                    return "https" if declared.startswith("https") else "http" if declared.startswith("http") else None
        return None

    def gateway_url(self, host: str, scheme: str = "https") -> Trace:
        """Trace `scheme://host[:port]` from the user's machine to the pod that answers."""
        ingress = next((s for s in self.services.values() if (s.obj.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")
                        and self._gateway_pods(s)), None)
        trace = Trace(f"{scheme}://{host}")
        if ingress is None:
            return trace.fail("no NodePort or LoadBalancer Service fronts a gateway: nothing receives traffic from outside")
        spec = ingress.obj.get("spec") or {}
        service_port = 443 if scheme == "https" else 80
        port = next((p for p in spec.get("ports") or [] if p.get("port") == service_port), None)
        if port is None:
            return trace.fail(f"{ingress.ref} has no port {service_port} for {scheme}", ingress.source)
        if self.local_ports is not None and spec.get("type") == "NodePort":
            host_port = next((h for h, n in self.local_ports.items() if n == port.get("nodePort")), None)
            if host_port is None:
                return trace.fail(f"kind maps no host port to NodePort {port.get('nodePort')} of {ingress.ref}: "
                                  "cluster.ingress's node ports and the gateway's must agree", ingress.source)
            trace.entry = f"{scheme}://{host}:{host_port}"
            trace.hops.append(f"127.0.0.1:{host_port} -> kind node port {port.get('nodePort')}")
        else:
            trace.hops.append(f"{spec.get('type')} {ingress.ref} port {service_port}")
        reached = self.service_hops(trace, ingress, service_port)
        if not reached:
            return trace
        gateway, server = self._server(reached[0][0], service_port, host)
        if gateway is None or server is None:
            return trace.fail(f"no Gateway server selecting {reached[0][0].owner.ref} listens on port {service_port} for host {host}: "
                              "add the host to a server of the ingress Gateway", ingress.source)
        protocol = str((server.get("port") or {}).get("protocol", "")).upper()
        trace.hops.append(f"{gateway.ref} server {(server.get('port') or {}).get('name')} ({protocol}, hosts {', '.join(server.get('hosts') or [])})")
        if scheme == "https" and protocol != "HTTPS":
            return trace.fail(f"{gateway.ref} serves {protocol} on port {service_port}, not HTTPS: give the server tls (mode SIMPLE) and a credentialName", gateway.source)
        if scheme == "http" and (server.get("tls") or {}).get("httpsRedirect"):
            trace.hops.append("redirected to https")
            return trace
        if scheme == "https" and not self._tls(trace, gateway, server, host):
            return trace
        self._route(trace, gateway, host, reached[0][0])
        return trace

    def _gateway_pods(self, service: Deployed) -> bool:
        return any(self._gateway_listens(g, int(p.get("port") or 0)) for g in self.selected(service) for p in (service.obj.get("spec") or {}).get("ports") or [])

    def _server(self, pods: PodGroup, service_port: int, host: str) -> tuple[Deployed | None, Mapping[str, Any] | None]:
        for g in self.gateways:
            spec = g.obj.get("spec") or {}
            if not selects({"matchLabels": spec.get("selector") or {}}, pods.labels):
                continue
            for server in spec.get("servers") or []:
                if int((server.get("port") or {}).get("number") or 0) == service_port and any(_host_matches(h, host) for h in server.get("hosts") or []):
                    return g, server
        return None, None

    def _tls(self, trace: Trace, gateway: Deployed, server: Mapping[str, Any], host: str) -> bool:
        credential = str((server.get("tls") or {}).get("credentialName") or "")
        if not credential:
            trace.fail(f"{gateway.ref} server {(server.get('port') or {}).get('name')} has no credentialName: the gateway has no certificate to serve", gateway.source)
            return False
        certificate = self.issued.get((gateway.namespace, credential))
        if certificate is None:
            trace.hops.append(f"TLS with Secret {gateway.namespace}/{credential} (not issued by a Certificate of the stack: its names are not checked)")
            return True
        spec = certificate.obj.get("spec") or {}
        names = [str(n) for n in (spec.get("dnsNames") or []) + ([spec["commonName"]] if spec.get("commonName") else [])]
        if not any((_host_matches(n, host) and n.count(".") == host.count(".")) or n == host for n in names):
            trace.fail(f"{certificate.ref} (Secret {credential}) is issued for {', '.join(names) or 'no names'}, not {host}: "
                       "clients refuse the certificate; add the host to its dnsNames", certificate.source)
            return False
        trace.hops.append(f"TLS ends at the gateway: {certificate.ref} covers {host}")
        return True

    def _route(self, trace: Trace, gateway: Deployed, host: str, gateway_pods: PodGroup) -> None:
        bound = f"{gateway.namespace}/{gateway.name}"
        for vs in self.objects:
            if vs.kind != "VirtualService" or not str(vs.obj.get("apiVersion", "")).startswith("networking.istio.io/"):
                continue
            spec = vs.obj.get("spec") or {}
            gateways = [g if "/" in g else f"{vs.namespace}/{g}" for g in spec.get("gateways") or []]
            if bound not in gateways or not any(_host_matches(h, host) for h in spec.get("hosts") or []):
                continue
            trace.urn = vs.source
            trace.hops.append(f"{vs.ref} routes {host}")
            for route in spec.get("http") or []:
                for item in route.get("route") or []:
                    if item.get("weight", 100) == 0:
                        continue
                    destination = item.get("destination") or {}
                    named = service_of_host(str(destination.get("host", "")), vs.namespace)
                    service = self.services.get(named) if named else None
                    if service is None:
                        trace.fail(f"{vs.ref} routes to {destination.get('host')}, which is no Service of the stack: Envoy answers 503", vs.source)
                        return
                    wanted = (destination.get("port") or {}).get("number") or ((service.obj.get("spec") or {}).get("ports") or [{}])[0].get("port")
                    for group, number in self.service_hops(trace, service, wanted, gateway_pods):
                        flow = Flow("gateway", self.pods.of(gateway_pods), self.pods.of(group), number, why=vs.ref)
                        reason = verdict(flow, self.policies, self.ns_labels)
                        if reason:
                            trace.fail(f"the gateway cannot reach {group.owner.ref} on port {number}: {reason}", vs.source)
                            return
                    if trace.error:
                        return
            return
        trace.fail(f"no VirtualService bound to Gateway {bound} serves host {host}: the gateway answers 404", gateway.source)

    # --- the whole stack -----------------------------------------------------------------------

    def gateway_hosts(self) -> list[str]:
        """Hosts of every VirtualService bound to a Gateway of the stack (the URLs users open)."""
        hosts = set()
        bound = {f"{g.namespace}/{g.name}" for g in self.gateways}
        for vs in self.objects:
            if vs.kind == "VirtualService" and str(vs.obj.get("apiVersion", "")).startswith("networking.istio.io/"):
                spec = vs.obj.get("spec") or {}
                if any((g if "/" in g else f"{vs.namespace}/{g}") in bound for g in spec.get("gateways") or []):
                    hosts |= {h for h in spec.get("hosts") or [] if "." in h and not h.endswith(".svc.cluster.local") and "*" not in h}
        return sorted(hosts)


def _host_matches(pattern: str, host: str) -> bool:
    return pattern == "*" or pattern == host or (pattern.startswith("*.") and host.endswith(pattern[1:]))


def check_probes(objects: Iterable[Deployed]) -> Iterator[dict[str, str]]:
    """Every numeric probe port is one the container answers on (named ones: `consistency.probes`)."""
    for d in objects:
        spec = pod_spec(d.obj)
        if spec is None or d.origin == "dropped-hook":
            continue
        for _, c in containers(spec):
            listens = container_listens(c)
            for probe, port in probe_ports(c):
                if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
                    if int(port) not in listens:
                        yield {"check": "probes", "object": d.ref, "urn": d.source,
                               "message": f"container {c.get('name')} {probe} probes port {port}, which it neither declares nor binds "
                                          f"(it answers on {', '.join(map(str, sorted(listens))) or 'nothing known'}): probe a port it serves, or declare it"}


def check_service_ports(tracer: Tracer) -> tuple[list[dict[str, str]], list[str]]:
    """(errors for named target ports that resolve nowhere, `unanswered` numeric ports nothing declares)."""
    errors, unanswered = [], []
    for service in tracer.services.values():
        if service.origin == "dropped-hook":
            continue
        for port in (service.obj.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            for group in tracer.selected(service):
                number, why = tracer.answers(group, target, int(port.get("port") or 0))
                if number is not None:
                    continue
                if isinstance(target, str) and not target.isdigit():
                    errors.append({"check": "service-ports", "object": service.ref, "urn": service.source,
                                   "message": f"port {port.get('name') or port.get('port')}: {why}: the Service gets no endpoints for it; name a declared port"})
                else:
                    unanswered.append(f"{service.ref} port {port.get('port')}: {why}")
    return errors, sorted(set(unanswered))


def paths_report(objects: Sequence[Deployed], environment: str, local_ports: Mapping[int, int] | None = None) -> dict[str, Any]:
    """The render's `paths` section: every entry point traced, in-cluster client paths, Service ports and probes.

    `local_ports`: kind's host port -> node port mapping (None: not a kind cluster).
    """
    live = [d for d in objects if d.origin != "dropped-hook"]
    tracer = Tracer(live, environment, local_ports)
    traces = [tracer.gateway_url(host) for host in tracer.gateway_hosts()]
    if environment == "local":
        traces += [tracer.gateway_url(host, "http") for host in tracer.gateway_hosts()[:1]]
    traces += [tracer.port_forward(f) for f in PORT_FORWARDS if (f.namespace, f.service) in tracer.services]
    clients: dict[tuple[str, str, str, Any], Trace] = {}
    for group, namespace, name, port, why in url_targets(live, tracer.pods):
        service = tracer.services.get((namespace, name))
        if service is None or (group.owner.ref, namespace, name, port) in clients:
            continue  # deployability.addresses reports an address with no Service
        if port is None:
            port = next(iter((service.obj.get("spec") or {}).get("ports") or [{}])).get("port")
        trace = Trace(f"{group.owner.ref} -> {name}.{namespace}:{port} ({why})", urn=group.owner.source)
        tracer.service_hops(trace, service, port, group)
        clients[(group.owner.ref, namespace, name, port)] = trace
    service_errors, unanswered = check_service_ports(tracer)
    errors = [
        {"check": "entry", "object": t.entry, "urn": t.urn, "message": t.error} for t in traces if t.error
    ] + [
        {"check": "client", "object": t.entry, "urn": t.urn, "message": t.error} for t in clients.values() if t.error
    ] + service_errors + list(check_probes(live))
    return {
        "entries": [t.as_dict() for t in traces],
        "clients": len(clients),
        "errors": errors,
        "unanswered": unanswered,
    }


def local_port_mapping(kind_config: str) -> dict[int, int]:
    """Host port -> node port of a kind `Cluster` document's control-plane `extraPortMappings`."""
    document = yaml.safe_load(kind_config) or {}
    return {
        int(m["hostPort"]): int(m["containerPort"])
        for node in document.get("nodes") or [] for m in node.get("extraPortMappings") or []
    }
