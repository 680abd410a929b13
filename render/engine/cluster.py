"""What a cluster of each environment already runs before the program does: the facts the checks assume.

Kept in one place, each entry with who provides it; a check that needs more of the
cluster than this knows says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

BUILTIN_NAMESPACES: dict[str, frozenset[str]] = {
    "local": frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "local-path-storage"}),
    "aws": frozenset({"default", "kube-system", "kube-public", "kube-node-lease"}),
}
"""Namespaces every cluster of an environment has before the program runs."""


@dataclass(frozen=True)
class ClusterPods:
    """Pods the cluster runs itself."""

    namespace: str
    labels: Mapping[str, str]
    who: str


@dataclass(frozen=True)
class ClusterService:
    """A Service the cluster (or a controller) creates."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    ports: Sequence[str] = field(default_factory=tuple)
    who: str = ""


_CORE_DNS = ClusterPods("kube-system", {"k8s-app": "kube-dns"}, "CoreDNS (kind; the EKS add-on)")
_KUBE_PROXY = ClusterPods("kube-system", {"k8s-app": "kube-proxy"}, "kube-proxy (kind; the EKS add-on)")

CLUSTER_PODS: dict[str, tuple[ClusterPods, ...]] = {
    "local": (
        _CORE_DNS,
        _KUBE_PROXY,
        # kind's control plane runs as static pods on its node.
        ClusterPods("kube-system", {"component": "etcd", "tier": "control-plane"}, "kind's control plane"),
        ClusterPods("kube-system", {"component": "kube-apiserver", "tier": "control-plane"}, "kind's control plane"),
        ClusterPods("kube-system", {"component": "kube-controller-manager", "tier": "control-plane"}, "kind's control plane"),
        ClusterPods("kube-system", {"component": "kube-scheduler", "tier": "control-plane"}, "kind's control plane"),
        ClusterPods("kube-system", {"app": "kindnet", "k8s-app": "kindnet"}, "kind's CNI"),
        ClusterPods("local-path-storage", {"app": "local-path-provisioner"}, "kind's storage provisioner"),
    ),
    # EKS runs etcd, the scheduler and the controller manager out of the cluster's reach.
    "aws": (_CORE_DNS, _KUBE_PROXY, ClusterPods("kube-system", {"k8s-app": "aws-node"}, "the VPC CNI add-on")),
}

CLUSTER_SERVICES: dict[str, tuple[ClusterService, ...]] = {
    env: (
        ClusterService("default", "kubernetes", {"component": "apiserver", "provider": "kubernetes"}, ("https",), "the API server"),
        ClusterService("kube-system", "kube-dns", {"k8s-app": "kube-dns"}, ("dns", "dns-tcp", "metrics"), "kind / the EKS CoreDNS add-on"),
    )
    for env in ("local", "aws")
}

# Labels a workload's own controller sets on its pods at run time (any value).
RUNTIME_POD_LABELS: tuple[tuple[Mapping[str, str], tuple[str, ...], str], ...] = (
    ({"app.kubernetes.io/name": "vault", "component": "server"}, ("vault-active", "vault-sealed", "vault-initialized", "vault-perf-standby", "vault-version"),
     "Vault's Kubernetes service registration"),
)


OPERATOR_POD_PORTS: dict[str, dict[str, int]] = {
    "Prometheus": {"web": 9090, "reloader-web": 8080},
    "Alertmanager": {"web": 9093, "reloader-web": 8080, "mesh-tcp": 9094},
}
"""Named container ports the Prometheus operator gives the pods of each kind it runs."""


def operator_services(args: Sequence[str]) -> list[ClusterService]:
    """Services the Prometheus operator creates from its flags (`--kubelet-service=ns/name`)."""
    found = []
    for arg in args:
        if arg.startswith("--kubelet-service="):
            namespace, _, name = arg.split("=", 1)[1].partition("/")
            found.append(ClusterService(namespace, name, {"app.kubernetes.io/name": "kubelet", "k8s-app": "kubelet"},
                                        ("https-metrics", "http-metrics", "cadvisor"), "the Prometheus operator"))
    return found
