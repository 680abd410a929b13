"""Footprint and image inventory: what the stack's pods request and run, from the rendered pod specs.

Every object the stack deploys (program and charts, see `deployed.py`) that runs pods
counts: requests × replicas, DaemonSets × nodes. Pods that operators create from a
custom resource count from that resource (Prometheus and Alertmanager: `spec.resources`
× `spec.replicas`; Trivy's scan jobs: the operator's concurrency limit × the scan job
requests in its ConfigMap). Hook Jobs and other Jobs run to completion and are listed
apart (`transient`). A container without cpu and memory requests is listed in
`unrequested`, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.config import AwsPlatformConfig, PlatformConfig

from ..engine.deployed import Deployed
from ..engine.workloads import containers, pod_requests, pod_spec, replicas, resource_requests

_TRANSIENT = ("Job", "CronJob")


def node_count(config: PlatformConfig) -> int:
    """Nodes a DaemonSet runs on: kind's nodes, or the node group's desired size."""
    if isinstance(config, AwsPlatformConfig):
        return config.cluster.node_group.desired_size
    return 1 + config.cluster.workers if config.cluster.mode == "kind" else 1


@dataclass(frozen=True)
class Workload:
    component: str
    name: str
    cpu_millicores: float
    memory_mib: float


def _operator_pods(d: Deployed, objects: Sequence[Deployed]) -> tuple[int, Mapping[str, Any]] | None:
    """(pods, resources) an operator runs for a custom resource, or None."""
    spec = d.obj.get("spec") or {}
    if d.kind in ("Prometheus", "Alertmanager") and str(d.obj.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
        return int(spec.get("replicas") or 1), spec.get("resources") or {}
    return None


def _trivy_scan_jobs(objects: Sequence[Deployed]) -> list[tuple[Deployed, int, dict[str, Any]]]:
    """Trivy operator Deployments: (operator, concurrent scan jobs, scan job resources from its ConfigMap)."""
    found = []
    config = {(d.namespace, d.name): d.obj.get("data") or {} for d in objects if d.kind == "ConfigMap"}
    for d in objects:
        if d.kind != "Deployment":
            continue
        for _, c in containers(pod_spec(d.obj) or {}):
            env = {e.get("name"): e.get("value") for e in c.get("env") or []}
            if "OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT" in env:
                data = config.get((d.namespace, "trivy-operator-trivy-config"), {})
                resources = {
                    "requests": {k.rsplit(".", 1)[1]: v for k, v in data.items() if k.startswith("trivy.resources.requests.")}
                }
                found.append((d, int(env["OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT"] or 0), resources))
    return found


def footprint(objects: Sequence[Deployed], *, nodes: int, component_of: Callable[[str], str]) -> dict[str, Any]:
    """Requested CPU/memory of every pod the stack's `objects` keep running."""
    counted: list[Workload] = []
    unrequested: list[dict[str, str]] = []
    transient: list[dict[str, Any]] = []
    for d in objects:
        if d.origin == "dropped-hook":
            continue
        name = f"{d.kind} {d.namespace + '/' if d.namespace else ''}{d.name}"
        spec = pod_spec(d.obj)
        if spec is not None:
            cpu, mem, missing = pod_requests(spec)
            unrequested += [{"urn": d.source, "workload": name, "container": c} for c in missing]
            if d.kind in _TRANSIENT:
                transient.append({"workload": name, "cpu_millicores": round(cpu), "memory_mib": round(mem), "hook": d.origin == "hook"})
                continue
            count = replicas(d.obj, nodes)
            counted.append(Workload(component_of(d.source), name, cpu * count, mem * count))
            continue
        operated = _operator_pods(d, objects)
        if operated is not None:
            count, resources = operated
            got = resource_requests(resources)
            if got is None:
                unrequested.append({"urn": d.source, "workload": name, "container": d.kind.lower()})
                continue
            counted.append(Workload(component_of(d.source), name, got[0] * count, got[1] * count))
    for operator, count, resources in _trivy_scan_jobs(objects):
        got = resource_requests(resources)
        name = f"scan jobs of Deployment {operator.namespace}/{operator.name}"
        if got is None:
            unrequested.append({"urn": operator.source, "workload": name, "container": "trivy"})
        elif count:
            counted.append(Workload(component_of(operator.source), name, got[0] * count, got[1] * count))
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
        "unrequested": unrequested,
        "transient": transient,
        "nodes": nodes,
    }


