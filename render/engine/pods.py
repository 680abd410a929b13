"""The pods a stack runs: each object's pod group (namespace, labels, ServiceAccount, count), the
cluster's own pods, and the Services the cluster and the Prometheus operator create."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .cluster import CLUSTER_PODS, CLUSTER_SERVICES, RUNTIME_POD_LABELS, operator_services
from .deployed import Deployed
from .workloads import containers, pod_metadata, pod_spec, replicas


@dataclass(frozen=True)
class PodGroup:
    """The pods one object makes: their namespace, labels, service account and count."""

    owner: Deployed
    namespace: str
    labels: Mapping[str, str]
    service_account: str
    replicas: int


def pod_groups(objects: Iterable[Deployed], nodes: int = 1, environment: str = "local") -> list[PodGroup]:
    """The pods of `objects` (operator-made ones included) and those the cluster runs itself."""
    groups = [PodGroup(_cluster_owner(p.namespace, p.who), p.namespace, p.labels, "", 1) for p in CLUSTER_PODS.get(environment, ())]
    for d in objects:
        if d.origin == "dropped-hook":
            continue
        spec = pod_spec(d.obj)
        if spec is not None:
            account = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
            groups.append(PodGroup(d, d.namespace, _with_runtime_labels(pod_metadata(d.obj).get("labels") or {}), account, replicas(d.obj, nodes)))
        elif d.kind in ("Prometheus", "Alertmanager") and str(d.obj.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
            spec = d.obj.get("spec") or {}
            app = d.kind.lower()
            labels = {
                "app.kubernetes.io/name": app, "app.kubernetes.io/instance": d.name, "app.kubernetes.io/managed-by": "prometheus-operator",
                "operator.prometheus.io/name": d.name, app: d.name, **((spec.get("podMetadata") or {}).get("labels") or {}),
            }
            groups.append(PodGroup(d, d.namespace, labels, str(spec.get("serviceAccountName") or "default"), int(spec.get("replicas") or 1)))
    return groups


def _cluster_owner(namespace: str, who: str) -> Deployed:
    return Deployed({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": who, "namespace": namespace}}, "", "cluster")


class _AnyValue(str):
    """A label value a controller sets at run time: equal to whatever a selector asks."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    def __ne__(self, other: object) -> bool:
        return not isinstance(other, str)

    __hash__ = str.__hash__


def _with_runtime_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    for match, keys, _ in RUNTIME_POD_LABELS:
        if all(labels.get(k) == v for k, v in match.items()):
            return {**labels, **{k: _AnyValue("*") for k in keys}}
    return labels


MESH_ROOT_NAMESPACE = "istio-system"


def watched_namespaces(monitor: Deployed, namespaces: Iterable[str]) -> list[str]:
    selector = (monitor.obj.get("spec") or {}).get("namespaceSelector") or {}
    if selector.get("any"):
        return list(namespaces)
    return list(selector.get("matchNames") or [monitor.namespace])


def cluster_services(objects: Sequence[Deployed], environment: str) -> list[Deployed]:
    """Services the cluster and the Prometheus operator create, as objects."""
    made = list(CLUSTER_SERVICES.get(environment, ()))
    for d in objects:
        for _, c in containers(pod_spec(d.obj) or {}):
            made += operator_services([str(a) for a in c.get("args") or []])
    return [
        Deployed({"apiVersion": "v1", "kind": "Service", "metadata": {"name": s.name, "namespace": s.namespace, "labels": dict(s.labels)},
                  "spec": {"ports": [{"name": p} for p in s.ports]}}, "", "cluster")
        for s in made
    ]
