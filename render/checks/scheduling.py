"""The scheduler, offline, on the nodes the stack creates: will each pod find a node?

Nodes come from the stack's config: kind's nodes (the control plane, tainted only when
workers exist, plus `workers`), or the EKS node group (its instance types, spread over
the configured zones). For each pod template (sidecars injected):

- `placement`: its `nodeSelector` and required node affinity match a node, whose
  `NoSchedule`/`NoExecute` taints it tolerates;
- `spread`: required pod anti-affinity on the hostname (zone) leaves room for the
  replicas asked; a `DoNotSchedule` topology spread names a key the eligible nodes carry
  (a node without the key is not a place at all);
- `storage`: every PersistentVolumeClaim (and StatefulSet claim template) names a
  StorageClass that exists (or there is a default one), within its size limits;
- `capacity`: one pod's requests fit one node's allocatable.

What it cannot know without a cluster: the actual free capacity (other pods, daemons
the provider adds), kind's host resources (taken to be the laptop budget, 2 CPUs and
4 GiB), instance types outside `INSTANCE_TYPES` (reported as unchecked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.config import AwsPlatformConfig, PlatformConfig
from components.quantity import memory_mib

from ..engine.deployed import Deployed
from ..engine.selectors import selects
from ..engine.workloads import pod_metadata, pod_requests, pod_spec, replicas


@dataclass(frozen=True)
class Node:
    name: str
    labels: Mapping[str, str]
    taints: Sequence[Mapping[str, str]] = ()
    cpu_millicores: float | None = None
    memory_mib: float | None = None


@dataclass(frozen=True)
class StorageClass:
    name: str
    default: bool
    min_gib: float = 0
    max_gib: float = float("inf")


@dataclass
class ClusterShape:
    nodes: list[Node]
    storage_classes: list[StorageClass]
    notes: list[str] = field(default_factory=list)


# vCPUs and GiB of the instance types a node group typically uses.
INSTANCE_TYPES: dict[str, tuple[int, int]] = {
    f"{family}.{size}": (cpus, gib * memory_factor)
    for family, memory_factor in (("m5", 4), ("m6i", 4), ("m7i", 4), ("m6a", 4), ("c6i", 2), ("c7i", 2), ("r6i", 8), ("t3", 4))
    for size, cpus, gib in (("large", 2, 2), ("xlarge", 4, 4), ("2xlarge", 8, 8), ("4xlarge", 16, 16))
}
LAPTOP_BUDGET = (2000.0, 4096.0)
"""kind's allocatable, taken as the local profile's budget (the host's resources are unknown offline)."""


def eks_allocatable(cpus: int, gib: int, max_pods: int = 29) -> tuple[float, float]:
    """EKS's allocatable after kube-reserved and the eviction threshold (its bootstrap formula)."""
    reserved_cpu = 60 + (10 if cpus > 1 else 0) + 5 * max(0, min(cpus, 4) - 2) + 2.5 * max(0, cpus - 4)
    reserved_memory = 255 + 11 * max_pods + 100
    return cpus * 1000 - reserved_cpu, gib * 1024 - reserved_memory


def cluster_shape(config: PlatformConfig) -> ClusterShape:
    linux = {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    if isinstance(config, AwsPlatformConfig):
        group = config.cluster.node_group
        zones = [f"{config.region}{chr(ord('a') + i)}" for i in range(config.cluster.availability_zones)]
        nodes, notes = [], []
        for i in range(max(group.desired_size, len(zones))):
            instance = group.instance_types[i % len(group.instance_types)]
            size = INSTANCE_TYPES.get(instance)
            if size is None:
                notes.append(f"instance type {instance} is not in the capacity table: node capacity unchecked")
            cpu, memory = eks_allocatable(*size) if size else (None, None)
            nodes.append(Node(f"node-{i}", {**linux, "kubernetes.io/hostname": f"node-{i}", "topology.kubernetes.io/zone": zones[i % len(zones)],
                                            "node.kubernetes.io/instance-type": instance, "eks.amazonaws.com/capacityType": group.capacity_type}, (), cpu, memory))
        return ClusterShape(nodes, [StorageClass("gp3", True, 1, 16384)], notes)
    workers = config.cluster.workers if config.cluster.mode == "kind" else 0
    control_taints = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}] if workers else []
    name = config.cluster.name
    nodes = [Node(f"{name}-control-plane", {**linux, "kubernetes.io/hostname": f"{name}-control-plane", "node-role.kubernetes.io/control-plane": "",
                                             "ingress-ready": "true"}, control_taints, *LAPTOP_BUDGET)]
    nodes += [Node(f"{name}-worker{i or ''}", {**linux, "kubernetes.io/hostname": f"{name}-worker{i or ''}"}, (), *LAPTOP_BUDGET) for i in range(workers)]
    notes = ["kind: the node's allocatable is the host's; checked against the local budget of 2 CPUs and 4 GiB"]
    return ClusterShape(nodes, [StorageClass("standard", True)], notes)


def _required_terms(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    return list(required.get("nodeSelectorTerms") or [])


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    expressions = term.get("matchExpressions") or []
    selector = {"matchExpressions": [
        {**e, "operator": {"Gt": "Exists", "Lt": "Exists"}.get(e.get("operator", ""), e.get("operator"))} for e in expressions
    ]}
    return selects(selector, labels)


def _tolerates(spec: Mapping[str, Any], taint: Mapping[str, str]) -> bool:
    for toleration in spec.get("tolerations") or []:
        if toleration.get("operator") == "Exists" and not toleration.get("key"):
            return True
        if toleration.get("key") != taint.get("key"):
            continue
        if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists" or toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def eligible_nodes(spec: Mapping[str, Any], nodes: Sequence[Node]) -> list[Node]:
    selector = spec.get("nodeSelector") or {}
    terms = _required_terms(spec)
    return [
        n for n in nodes
        if all(n.labels.get(k) == v for k, v in selector.items())
        and (not terms or any(_term_matches(t, n.labels) for t in terms))
        and all(_tolerates(spec, t) for t in n.taints if t.get("effect") in ("NoSchedule", "NoExecute"))
    ]


def _finding(check: str, d: Deployed, message: str) -> dict[str, str]:
    return {"check": check, "object": d.ref, "urn": d.source, "message": message}


def _spread_findings(d: Deployed, spec: Mapping[str, Any], eligible: Sequence[Node], count: int) -> list[dict[str, str]]:
    findings = []
    own = pod_metadata(d.obj).get("labels") or {}
    anti = ((spec.get("affinity") or {}).get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []
    for term in anti:
        key = term.get("topologyKey")
        if not selects(term.get("labelSelector"), own):
            continue
        domains = {n.labels.get(key) for n in eligible if key in n.labels}
        if count > len(domains):
            findings.append(_finding("spread", d, f"required anti-affinity on {key} allows one pod per domain, but {count} replicas meet {len(domains)}: "
                                                  "relax it to preferred, or add nodes/zones"))
    for constraint in spec.get("topologySpreadConstraints") or []:
        key = constraint.get("topologyKey")
        if constraint.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule" and not any(key in n.labels for n in eligible):
            findings.append(_finding("spread", d, f"DoNotSchedule topology spread on {key}, which no eligible node carries: its pods never schedule; "
                                                  "use ScheduleAnyway or a key the nodes have"))
    return findings


def _claims(d: Deployed) -> list[Mapping[str, Any]]:
    if d.kind == "PersistentVolumeClaim":
        return [d.obj]
    if d.kind == "StatefulSet":
        return list((d.obj.get("spec") or {}).get("volumeClaimTemplates") or [])
    if d.kind == "Prometheus" and str(d.obj.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
        template = (((d.obj.get("spec") or {}).get("storage") or {}).get("volumeClaimTemplate")) or None
        return [template] if template else []
    return []


def _storage_findings(d: Deployed, classes: Sequence[StorageClass]) -> list[dict[str, str]]:
    findings = []
    for claim in _claims(d):
        spec = claim.get("spec") or {}
        name = spec.get("storageClassName")
        chosen = next((c for c in classes if c.name == name), None) if name else next((c for c in classes if c.default), None)
        if chosen is None:
            wanted = f"StorageClass {name}" if name else "a default StorageClass"
            findings.append(_finding("storage", d, f"claim {(claim.get('metadata') or {}).get('name', '')} needs {wanted}, which the cluster does not have "
                                                   f"(it has {', '.join(c.name for c in classes)})"))
            continue
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if size is not None:
            gib = memory_mib(size) / 1024
            if gib < chosen.min_gib or gib > chosen.max_gib:
                findings.append(_finding("storage", d, f"claim asks {size}; {chosen.name} volumes are {chosen.min_gib:g}-{chosen.max_gib:g} GiB"))
    return findings


def scheduling_report(objects: Sequence[Deployed], config: PlatformConfig) -> dict[str, Any]:
    """The render's `scheduling` section, over the objects as admitted."""
    shape = cluster_shape(config)
    errors: list[dict[str, str]] = []
    checked = 0
    for d in objects:
        if d.origin == "dropped-hook":
            continue
        errors += _storage_findings(d, shape.storage_classes)
        spec = pod_spec(d.obj)
        if spec is None:
            continue
        checked += 1
        eligible = eligible_nodes(spec, shape.nodes)
        if not eligible:
            errors.append(_finding("placement", d, f"no node matches its nodeSelector {spec.get('nodeSelector') or {}}, required node affinity and "
                                                   f"tolerations (nodes: {', '.join(n.name for n in shape.nodes)})"))
            continue
        count = replicas(d.obj, len(eligible))
        if d.kind != "DaemonSet":
            errors += _spread_findings(d, spec, eligible, count)
        cpu, memory, _ = pod_requests(spec)
        fits = [n for n in eligible if n.cpu_millicores is None or (cpu <= n.cpu_millicores and memory <= (n.memory_mib or 0))]
        if not fits:
            biggest = max(eligible, key=lambda n: n.cpu_millicores or 0)
            errors.append(_finding("capacity", d, f"one pod requests {cpu:.0f}m CPU and {memory:.0f}Mi, more than a node's allocatable "
                                                  f"({biggest.cpu_millicores:.0f}m, {biggest.memory_mib:.0f}Mi): lower its requests or use bigger nodes"))
    return {"nodes": [{"name": n.name, "labels": dict(n.labels), "cpu_millicores": n.cpu_millicores, "memory_mib": n.memory_mib} for n in shape.nodes],
            "storage_classes": [c.name for c in shape.storage_classes], "checked": checked, "errors": errors, "unchecked": shape.notes}
