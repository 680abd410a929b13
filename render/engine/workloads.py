"""Pod templates inside Kubernetes objects: where they are, how many pods they make, what they run.

Shared by the footprint, the image inventory, admission and the deployability checks,
so every check reads a Deployment, a CronJob or a bare Pod the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from components.quantity import cpu_millicores, memory_mib

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "Rollout")


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec an object runs (None for objects that run no pods)."""
    kind = obj.get("kind")
    if kind not in WORKLOAD_KINDS:
        return None
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec") or {}


def pod_metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """Labels and annotations of the pods an object makes."""
    if obj.get("kind") == "Pod":
        return obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("metadata") or {}


def replicas(obj: Mapping[str, Any], nodes: int) -> int:
    """Pods an object keeps running: replicas, one per node for a DaemonSet, parallelism for a Job."""
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "DaemonSet":
        return nodes
    if kind == "Job":
        return int(spec.get("parallelism") or 1)
    if kind in ("CronJob", "Pod"):
        return 1
    return int(spec["replicas"]) if spec.get("replicas") is not None else 1


def probe_ports(container: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(probe, port) of each liveness, readiness and startup probe that targets a port (named or numeric)."""
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        handler = container.get(probe) or {}
        for kind in ("httpGet", "tcpSocket", "grpc"):
            if kind in handler:
                yield probe, (handler[kind] or {}).get("port")


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """("initContainers" | "containers" | "ephemeralContainers", container) for every container of a pod spec."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, Mapping):
                yield field, container


def resource_requests(resources: Any) -> tuple[float, float] | None:
    requests = (resources or {}).get("requests") or {}
    if "cpu" not in requests or "memory" not in requests:
        return None
    return cpu_millicores(requests["cpu"]), memory_mib(requests["memory"])


def pod_requests(spec: Mapping[str, Any]) -> tuple[float, float, list[str]]:
    """(cpu m, memory MiB, containers without cpu+memory requests) the scheduler reserves for one pod.

    Regular containers and restartable (sidecar) init containers add up; a plain init
    container only matters when it asks for more than that sum.
    """
    missing: list[str] = []
    cpu = mem = 0.0
    init_cpu = init_mem = 0.0
    for field, container in containers(spec):
        if field == "ephemeralContainers":
            continue
        got = resource_requests(container.get("resources"))
        if got is None:
            missing.append(str(container.get("name", "?")))
            continue
        if field == "initContainers" and container.get("restartPolicy") != "Always":
            init_cpu, init_mem = max(init_cpu, got[0]), max(init_mem, got[1])
        else:
            cpu, mem = cpu + got[0], mem + got[1]
    return max(cpu, init_cpu), max(mem, init_mem), missing
