"""Things that must match each other, across everything the stack deploys.

- `services`: a Service's selector selects the pods of some workload in its namespace.
- `subsets`: each `DestinationRule` subset's labels select pods behind its host.
- `workloads`: an Istio Gateway's selector, and the `selector.matchLabels` of a policy
  (AuthorizationPolicy, PeerAuthentication, RequestAuthentication, Telemetry, Sidecar),
  selects pods — in its namespace, or anywhere from the mesh's root namespace; one that
  selects none applies to nothing, silently.
- `principals`: an `AuthorizationPolicy` principal (`<td>/ns/<ns>/sa/<sa>`) names a
  ServiceAccount that exists and that some pod runs as.
- `targets`: an HPA's, KEDA ScaledObject's or VPA's target workload exists.
- `probes`: a probe's named port is a port its container declares.
- `monitors`: a ServiceMonitor (PodMonitor) selects a Service (pod) in the namespaces it
  watches, on a port that Service declares, and a Prometheus selects the monitor; a
  Prometheus loads every PrometheusRule (its ruleSelector).
- `disruption`: a PodDisruptionBudget allows at least one voluntary eviction at the
  replica count the stack asks for (an HPA's minimum when one scales the workload).

Pods that operators create count with the labels the operator gives them (Prometheus
and Alertmanager).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from ..engine.cluster import CLUSTER_PODS
from ..engine.deployed import Deployed
from ..engine.pods import MESH_ROOT_NAMESPACE, PodGroup, cluster_services, pod_groups, watched_namespaces
from ..engine.selectors import selects
from ..engine.workloads import containers, pod_spec, probe_ports


def _finding(check: str, d: Deployed, message: str) -> dict[str, str]:
    return {"check": check, "object": d.ref, "urn": d.source, "message": message}


def check_services(objects: Sequence[Deployed], groups: Sequence[PodGroup]) -> Iterator[dict[str, str]]:
    for d in objects:
        selector = (d.obj.get("spec") or {}).get("selector") if d.kind == "Service" else None
        if not selector:
            continue
        if not any(g.namespace == d.namespace and selects({"matchLabels": selector}, g.labels) for g in groups):
            yield _finding("services", d, f"selector {selector} selects no pods in {d.namespace}: match the labels of the workload it fronts")


def _host_service(host: str, namespace: str) -> tuple[str, str]:
    parts = host.split(".")
    return (parts[0], namespace) if len(parts) == 1 else (parts[0], parts[1])


def check_subsets(objects: Sequence[Deployed], groups: Sequence[PodGroup]) -> Iterator[dict[str, str]]:
    services = {(d.namespace, d.name): d for d in objects if d.kind == "Service"}
    for d in objects:
        if d.kind != "DestinationRule":
            continue
        spec = d.obj.get("spec") or {}
        name, ns = _host_service(str(spec.get("host", "")), d.namespace)
        service = services.get((ns, name))
        selector = ((service.obj.get("spec") or {}).get("selector") or {}) if service else {}
        for subset in spec.get("subsets") or []:
            wanted = {**selector, **(subset.get("labels") or {})}
            if not any(g.namespace == ns and selects({"matchLabels": wanted}, g.labels) for g in groups):
                yield _finding("subsets", d, f"subset {subset.get('name')} ({subset.get('labels')}) selects no pods of {ns}/{name}: label the workload's pods with them")


_ISTIO_POLICIES = {
    "security.istio.io": ("AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication"),
    "telemetry.istio.io": ("Telemetry",),
    "networking.istio.io": ("Sidecar", "Gateway"),
}


def check_workload_selectors(objects: Sequence[Deployed], groups: Sequence[PodGroup]) -> Iterator[dict[str, str]]:
    for d in objects:
        group = str(d.obj.get("apiVersion", "")).rpartition("/")[0]
        if d.kind not in _ISTIO_POLICIES.get(group, ()):
            continue
        spec = d.obj.get("spec") or {}
        # A Gateway's selector is a plain label map matched in every namespace.
        labels = spec.get("selector") if d.kind == "Gateway" else (spec.get("selector") or {}).get("matchLabels")
        if not labels:
            continue
        anywhere = d.kind == "Gateway" or d.namespace == MESH_ROOT_NAMESPACE
        if not any((anywhere or g.namespace == d.namespace) and selects({"matchLabels": labels}, g.labels) for g in groups):
            scope = "any namespace" if anywhere else d.namespace
            yield _finding("workloads", d, f"selector {labels} selects no pods in {scope}, so it applies to nothing: match the labels of the workload it is for")


def check_principals(objects: Sequence[Deployed], groups: Sequence[PodGroup]) -> Iterator[dict[str, str]]:
    accounts = {(d.namespace, d.name) for d in objects if d.kind == "ServiceAccount"}
    running = {(g.namespace, g.service_account) for g in groups}
    for d in objects:
        if d.kind != "AuthorizationPolicy":
            continue
        for rule in (d.obj.get("spec") or {}).get("rules") or []:
            for source in rule.get("from") or []:
                for principal in (source.get("source") or {}).get("principals") or []:
                    parts = str(principal).split("/")
                    if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa" or "*" in principal:
                        continue
                    ns, account = parts[2], parts[4]
                    if (ns, account) not in accounts and account != "default":
                        yield _finding("principals", d, f"principal {principal} names ServiceAccount {ns}/{account}, which does not exist")
                    elif (ns, account) not in running:
                        yield _finding("principals", d, f"principal {principal}: no pod runs as ServiceAccount {ns}/{account}, so the rule admits nobody")


def check_targets(objects: Sequence[Deployed]) -> Iterator[dict[str, str]]:
    present = {(d.kind, d.namespace, d.name) for d in objects}
    for d in objects:
        spec = d.obj.get("spec") or {}
        if d.kind == "HorizontalPodAutoscaler" or (d.kind == "ScaledObject" and str(d.obj.get("apiVersion", "")).startswith("keda.sh/")):
            ref = spec.get("scaleTargetRef") or {}
        elif d.kind == "VerticalPodAutoscaler":
            ref = spec.get("targetRef") or {}
        else:
            continue
        kind = str(ref.get("kind") or "Deployment")
        if (kind, d.namespace, str(ref.get("name"))) not in present:
            yield _finding("targets", d, f"targets {kind} {d.namespace}/{ref.get('name')}, which the stack does not create")


def check_probes(objects: Sequence[Deployed]) -> Iterator[dict[str, str]]:
    for d in objects:
        for _, c in containers(pod_spec(d.obj) or {}):
            declared = {p.get("name") for p in c.get("ports") or [] if p.get("name")}
            for probe, port in probe_ports(c):
                if isinstance(port, str) and not port.isdigit() and port not in declared:
                    yield _finding("probes", d, f"container {c.get('name')} {probe} uses port {port!r}, which the container does not declare: name a declared port")


def check_monitors(objects: Sequence[Deployed], groups: Sequence[PodGroup], environment: str = "local") -> Iterator[dict[str, str]]:
    namespaces = {d.name for d in objects if d.kind == "Namespace"} | {d.namespace for d in objects if d.namespace}
    services = [d for d in objects if d.kind == "Service"] + cluster_services(objects, environment)
    prometheuses = [d for d in objects if d.kind == "Prometheus" and str(d.obj.get("apiVersion", "")).startswith("monitoring.coreos.com/")]
    for d in objects:
        if d.kind not in ("ServiceMonitor", "PodMonitor", "PrometheusRule") or not str(d.obj.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
            continue
        if d.kind == "PrometheusRule":
            if prometheuses and not any(_prometheus_selects(p, d) for p in prometheuses):
                yield _finding("monitors", d, "no Prometheus loads it (its ruleSelector and ruleNamespaceSelector): label it as the Prometheus selects, or its alerts never fire")
            continue
        spec = d.obj.get("spec") or {}
        watched = watched_namespaces(d, namespaces)
        if d.kind == "ServiceMonitor":
            matched = [s for s in services if s.namespace in watched and selects(spec.get("selector"), (s.obj.get("metadata") or {}).get("labels") or {})]
            if not matched:
                yield _finding("monitors", d, f"selects no Service in {', '.join(sorted(watched))}: match the labels of the Service to scrape")
            for endpoint in spec.get("endpoints") or []:
                port = endpoint.get("port")
                if port and matched and not any(port in {p.get("name") for p in (s.obj.get("spec") or {}).get("ports") or []} for s in matched):
                    yield _finding("monitors", d, f"endpoint port {port!r} is not a port name of the Services it selects")
        elif not any(g.namespace in watched and selects(spec.get("selector"), g.labels) for g in groups):
            yield _finding("monitors", d, f"selects no pods in {', '.join(sorted(watched))}: match the labels of the pods to scrape")
        if prometheuses and not any(_prometheus_selects(p, d) for p in prometheuses):
            yield _finding("monitors", d, "no Prometheus selects it (its serviceMonitorSelector / podMonitorSelector and namespace selector)")


def _prometheus_selects(prometheus: Deployed, monitor: Deployed) -> bool:
    spec = prometheus.obj.get("spec") or {}
    prefix = {"ServiceMonitor": "serviceMonitor", "PodMonitor": "podMonitor", "PrometheusRule": "rule"}[monitor.kind]
    selector = spec.get(f"{prefix}Selector")
    namespace_selector = spec.get(f"{prefix}NamespaceSelector")
    if selector is None:
        return False  # the operator selects no monitors when the selector is unset
    if namespace_selector is None and monitor.namespace != prometheus.namespace:
        return False  # unset: only the Prometheus' own namespace
    labels = (monitor.obj.get("metadata") or {}).get("labels") or {}
    return selects(selector, labels)


def _scaled_minimum(objects: Sequence[Deployed], workload: Deployed) -> int | None:
    for d in objects:
        if d.kind == "HorizontalPodAutoscaler" and d.namespace == workload.namespace:
            ref = (d.obj.get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("name") == workload.name and ref.get("kind", "Deployment") == workload.kind:
                return int((d.obj.get("spec") or {}).get("minReplicas") or 1)
    return None


def check_disruption(objects: Sequence[Deployed], groups: Sequence[PodGroup]) -> Iterator[dict[str, str]]:
    for d in objects:
        if d.kind != "PodDisruptionBudget":
            continue
        spec = d.obj.get("spec") or {}
        backing = [g for g in groups if g.namespace == d.namespace and selects(spec.get("selector"), g.labels)]
        if not backing:
            yield _finding("disruption", d, "selects no pods: match the labels of the workload it protects")
            continue
        count = sum(_scaled_minimum(objects, g.owner) or g.replicas for g in backing)
        if "maxUnavailable" in spec:
            allowed = _amount(spec["maxUnavailable"], count, up=False)
        else:
            allowed = count - _amount(spec.get("minAvailable", 1), count, up=True)
        if allowed < 1:
            yield _finding("disruption", d, f"allows no voluntary eviction at {count} replica(s): node drains and upgrades block; lower minAvailable or run more replicas")


def _amount(value: Any, total: int, *, up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        share = float(value[:-1]) / 100 * total
        return math.ceil(share) if up else math.floor(share)
    return int(value)


def consistency_report(objects: Sequence[Deployed], nodes: int = 1, environment: str = "local") -> dict[str, Any]:
    """The render's `consistency` section, over `objects` as admitted (sidecars injected)."""
    live = [d for d in objects if d.origin != "dropped-hook"]
    groups = pod_groups(live, nodes, environment)
    errors = [
        *check_services(live, groups), *check_workload_selectors(live, groups), *check_subsets(live, groups), *check_principals(live, groups), *check_targets(live),
        *check_probes(live), *check_monitors(live, groups, environment), *check_disruption(live, [g for g in groups if g.owner.origin != "cluster"]),
    ]
    cluster = [{"namespace": p.namespace, "labels": dict(p.labels), "run_by": p.who} for p in CLUSTER_PODS.get(environment, ())]
    return {"checked": len(live), "errors": errors, "cluster_pods": cluster}
