"""Footprint: the CPU and memory the platform's workloads request, from what the program declares.

Two sources: Kubernetes workload objects the program renders (requests × replicas,
DaemonSets × nodes), and Helm releases, whose workloads are described in
`CHART_WORKLOADS` (where each workload's resources and replicas live in the chart's
values). A workload whose requests the program does not set explicitly is listed in
`unknown` with the reason — never guessed, never taken from chart defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .config import AwsPlatformConfig, PlatformConfig
from .quantity import cpu_millicores, memory_mib

@dataclass(frozen=True)
class ChartWorkload:
    """Where one workload of a chart keeps its resources and replica count in values."""

    name: str
    resources: str
    """Dotted path of the workload's ResourceRequirements in values."""
    replicas: str | int | None = None
    """Dotted path of the replica count, a fixed count, or None for one pod per node (DaemonSet)."""
    enabled: str | None = None
    """Dotted path of the switch that turns the workload on, if it has one."""
    enabled_by_default: bool = True


# Charts whose workloads the footprint can count. Each path must exist in the pinned
# chart's values.yaml (a test checks them against the upstream bundle). A chart added
# to the platform adds its row here.
CHART_WORKLOADS: dict[str, tuple[ChartWorkload, ...]] = {
    "base": (),  # CRDs and cluster-wide config only
    "istiod": (ChartWorkload("istiod", "resources", "replicaCount"),),
    "gateway": (ChartWorkload("gateway", "resources", "replicaCount"),),
    "gatekeeper": (
        ChartWorkload("controller-manager", "controllerManager.resources", "replicas"),
        ChartWorkload("audit", "audit.resources", 1),
    ),
    "trivy-operator": (
        ChartWorkload("operator", "resources", "operator.replicas"),
        # Scan jobs come and go; at most scanJobsConcurrentLimit run at once.
        ChartWorkload("scan-jobs", "trivy.resources", "operator.scanJobsConcurrentLimit"),
    ),
    "falco": (
        ChartWorkload("falco", "resources", None),
        ChartWorkload("falcosidekick", "falcosidekick.resources", "falcosidekick.replicaCount", enabled="falcosidekick.enabled", enabled_by_default=False),
    ),
    "keda": (
        ChartWorkload("operator", "resources.operator", "operator.replicaCount"),
        ChartWorkload("metrics-server", "resources.metricServer", "metricsServer.replicaCount"),
        ChartWorkload("webhooks", "resources.webhooks", "webhooks.replicaCount"),
    ),
    "vertical-pod-autoscaler": (
        ChartWorkload("recommender", "recommender.resources", "recommender.replicas", enabled="recommender.enabled"),
        ChartWorkload("updater", "updater.resources", "updater.replicas", enabled="updater.enabled"),
        ChartWorkload("admission-controller", "admissionController.resources", "admissionController.replicas", enabled="admissionController.enabled"),
    ),
    "cluster-autoscaler": (ChartWorkload("cluster-autoscaler", "resources", "replicaCount"),),
    "kube-prometheus-stack": (
        ChartWorkload("prometheus", "prometheus.prometheusSpec.resources", "prometheus.prometheusSpec.replicas"),
        ChartWorkload("alertmanager", "alertmanager.alertmanagerSpec.resources", "alertmanager.alertmanagerSpec.replicas"),
        ChartWorkload("operator", "prometheusOperator.resources", 1),
        ChartWorkload("grafana", "grafana.resources", "grafana.replicas"),
        # Grafana's two sidecars (dashboards, datasources).
        ChartWorkload("grafana-sidecars", "grafana.sidecar.resources", 2),
        ChartWorkload("kube-state-metrics", "kube-state-metrics.resources", 1),
        ChartWorkload("node-exporter", "prometheus-node-exporter.resources", None),
    ),
    "loki": (
        ChartWorkload("single-binary", "singleBinary.resources", "singleBinary.replicas"),
        ChartWorkload("write", "write.resources", "write.replicas"),
        ChartWorkload("read", "read.resources", "read.replicas"),
        ChartWorkload("backend", "backend.resources", "backend.replicas"),
    ),
    "promtail": (ChartWorkload("promtail", "resources", None),),
    "jaeger": (ChartWorkload("jaeger", "jaeger.resources", "jaeger.replicas"),),
    "vault": (
        ChartWorkload("server-ha", "server.resources", "server.ha.replicas", enabled="server.ha.enabled", enabled_by_default=False),
        ChartWorkload("server-dev", "server.resources", 1, enabled="server.dev.enabled", enabled_by_default=False),
        ChartWorkload("injector", "injector.resources", "injector.replicas"),
        ChartWorkload("csi-provider", "csi.resources", None, enabled="csi.enabled", enabled_by_default=False),
    ),
}

_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


def node_count(config: PlatformConfig) -> int:
    """Nodes a DaemonSet runs on: kind's nodes, or the node group's desired size."""
    if isinstance(config, AwsPlatformConfig):
        return config.cluster.node_group.desired_size
    return 1 + config.cluster.workers if config.cluster.mode == "kind" else 1


def _get(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec") or {}
    if obj["kind"] == "Pod":
        return spec
    if obj["kind"] == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec") or {}


def _replicas(obj: Mapping[str, Any], nodes: int) -> int:
    spec = obj.get("spec") or {}
    kind = obj["kind"]
    if kind == "DaemonSet":
        return nodes
    if kind == "Job":
        return int(spec.get("parallelism") or 1)
    if kind in ("CronJob", "Pod"):
        return 1
    return int(spec["replicas"]) if spec.get("replicas") is not None else 1


def _requests(resources: Any) -> tuple[float, float] | None:
    requests = (resources or {}).get("requests") or {}
    if "cpu" not in requests or "memory" not in requests:
        return None
    return cpu_millicores(requests["cpu"]), memory_mib(requests["memory"])


def pod_requests(pod_spec: Mapping[str, Any]) -> tuple[float, float, list[str]]:
    """(cpu m, memory MiB, containers without cpu+memory requests) the scheduler reserves for one pod.

    Regular containers and restartable (sidecar) init containers add up; a plain init
    container only matters when it asks for more than that sum.
    """
    missing: list[str] = []
    cpu = mem = 0.0
    init_cpu = init_mem = 0.0
    for container in pod_spec.get("initContainers") or []:
        got = _requests(container.get("resources"))
        if got is None:
            missing.append(container.get("name", "?"))
            continue
        if container.get("restartPolicy") == "Always":
            cpu, mem = cpu + got[0], mem + got[1]
        else:
            init_cpu, init_mem = max(init_cpu, got[0]), max(init_mem, got[1])
    for container in pod_spec.get("containers") or []:
        got = _requests(container.get("resources"))
        if got is None:
            missing.append(container.get("name", "?"))
            continue
        cpu, mem = cpu + got[0], mem + got[1]
    return max(cpu, init_cpu), max(mem, init_mem), missing


@dataclass(frozen=True)
class Workload:
    component: str
    name: str
    cpu_millicores: float
    memory_mib: float


def footprint(
    objects: Sequence[tuple[str, Mapping[str, Any]]],
    releases: Sequence[Mapping[str, Any]],
    *,
    nodes: int,
    component_of: Callable[[str], str],
) -> dict[str, Any]:
    """Requested CPU/memory of `objects` ((urn, manifest) pairs) and Helm `releases` (report entries)."""
    counted: list[Workload] = []
    unknown: list[dict[str, str]] = []
    for urn, obj in objects:
        if obj.get("kind") not in _WORKLOAD_KINDS:
            continue
        name = f"{obj['kind']}/{(obj.get('metadata') or {}).get('name', '?')}"
        cpu, mem, missing = pod_requests(_pod_spec(obj))
        if missing:
            unknown.append({"urn": urn, "workload": name, "reason": f"containers without cpu+memory requests: {', '.join(missing)}"})
            continue
        count = _replicas(obj, nodes)
        counted.append(Workload(component_of(urn), name, cpu * count, mem * count))
    for release in releases:
        described = CHART_WORKLOADS.get(release["chart"])
        if described is None:
            unknown.append({"urn": release["urn"], "workload": f"{release['chart']} (all workloads)", "reason": f"chart {release['chart']} has no row in footprint.CHART_WORKLOADS"})
            continue
        values = release.get("values") or {}
        for workload in described:
            on = _get(values, workload.enabled) if workload.enabled else None
            if not (workload.enabled_by_default if on is None else bool(on)):
                continue
            name = f"{release['name']}/{workload.name}"
            if isinstance(workload.replicas, str) and _get(values, workload.replicas) == 0:
                continue  # scaled to zero in this profile (e.g. Loki's targets of the other mode)
            got = _requests(_get(values, workload.resources))
            if got is None:
                unknown.append({"urn": release["urn"], "workload": name, "reason": f"values do not set {workload.resources}.requests cpu and memory"})
                continue
            if workload.replicas is None:
                count = nodes
            elif isinstance(workload.replicas, int):
                count = workload.replicas
            else:
                found = _get(values, workload.replicas)
                count = 1 if found is None else int(found)
            if count == 0:
                continue
            counted.append(Workload(component_of(release["urn"]), name, got[0] * count, got[1] * count))
    by_component: dict[str, dict[str, float]] = {}
    for w in counted:
        entry = by_component.setdefault(w.component, {"cpu_millicores": 0, "memory_mib": 0})
        entry["cpu_millicores"] += w.cpu_millicores
        entry["memory_mib"] += w.memory_mib
    return {
        "cpu_millicores": round(sum(w.cpu_millicores for w in counted)),
        "memory_mib": round(sum(w.memory_mib for w in counted)),
        "by_component": {k: {m: round(v) for m, v in e.items()} for k, e in sorted(by_component.items())},
        "workloads": [{"component": w.component, "workload": w.name, "cpu_millicores": round(w.cpu_millicores), "memory_mib": round(w.memory_mib)} for w in counted],
        "unknown": unknown,
        "nodes": nodes,
    }
