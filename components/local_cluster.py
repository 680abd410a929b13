"""LocalCluster: the `local` stack's Kubernetes cluster — kind, or an existing context.

    cluster = LocalCluster("local", LocalClusterConfig(), trusted_registries={...})
    app = k8s.core.v1.Namespace("apps", opts=pulumi.ResourceOptions(provider=cluster.provider))
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import Field, field_validator, model_validator

from ._extras import optional_module
from .images import KIND_NODE_IMAGES, KIND_RELEASE, node_image_version
from .model import KeyProblem, Model

if TYPE_CHECKING:
    import pulumi_command as command
else:
    command = optional_module("pulumi_command", "LocalCluster")

KUBERNETES_VERSION = "1.35"
"""The Kubernetes minor version both stacks target (kind node image here, EKS version on aws)."""

DEFAULT_NODE_IMAGE = KIND_NODE_IMAGES[0]
"""The first node image images.lock lists for the pinned kind release."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DIGEST_PINNED = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")


class IngressPortsConfig(Model):
    """How the mesh ingress gateway is reached from the host through kind's port mapping.

    The gateway Service is a NodePort on `httpNodePort`/`httpsNodePort`; kind maps them to
    `httpHostPort`/`httpsHostPort` on the host's loopback only. kind never gives a
    LoadBalancer Service an address, so nothing waits for one on `local`.
    """

    http_host_port: int = Field(8080, ge=1, le=65535, description="Host port for plain HTTP (redirects to HTTPS). Unprivileged by default so no root is needed.")
    https_host_port: int = Field(8443, ge=1, le=65535, description="Host port for HTTPS at the gateway.")
    http_node_port: int = Field(30080, ge=30000, le=32767, description="NodePort of the gateway's HTTP port (Kubernetes NodePort range).")
    https_node_port: int = Field(30443, ge=30000, le=32767, description="NodePort of the gateway's HTTPS port.")

    @model_validator(mode="after")
    def _distinct(self) -> IngressPortsConfig:
        if self.http_host_port == self.https_host_port:
            raise KeyProblem("httpsHostPort", "must differ from httpHostPort", self.https_host_port)
        if self.http_node_port == self.https_node_port:
            raise KeyProblem("httpsNodePort", "must differ from httpNodePort", self.https_node_port)
        return self


class LocalClusterConfig(Model):
    """`gitops-platform:cluster` on the `local` stack."""

    mode: Literal["kind", "existing"] = Field(
        "kind",
        description="`kind`: the program creates the cluster with the kind CLI and deletes it on destroy. "
        "`existing`: use the kubeconfig context named by `context`; nothing is created or deleted.",
    )
    name: str = Field(
        "gitops-platform",
        min_length=1,
        max_length=40,
        description="kind cluster name (DNS-1123 label). Its nodes are the Docker containers `<name>-control-plane`, ...",
    )
    node_image: str = Field(
        DEFAULT_NODE_IMAGE,
        description=f"kind node image, pinned by digest (Kubernetes {KUBERNETES_VERSION}, built for kind {KIND_RELEASE}.x).",
    )
    workers: int = Field(0, ge=0, le=5, description="Worker nodes beside the control plane (0 keeps the laptop footprint small).")
    ingress: IngressPortsConfig = Field(default_factory=IngressPortsConfig, description="Host ports for the mesh ingress gateway.")
    context: str | None = Field(None, min_length=1, description="`existing` mode: the kubeconfig context to use (required there).")
    kubeconfig_path: str | None = Field(
        None,
        min_length=1,
        description="`existing` mode: kubeconfig file; default `$KUBECONFIG` or `~/.kube/config`.",
    )

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError("must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending alphanumeric")
        return value

    @field_validator("node_image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if not _DIGEST_PINNED.match(value):
            raise ValueError("pin the node image by digest: 'kindest/node:vX.Y.Z@sha256:<64 hex>' from your kind release's notes")
        if value not in KIND_NODE_IMAGES:
            published = ", ".join(f"v{node_image_version(i)}" for i in KIND_NODE_IMAGES)
            raise ValueError(f"is not a node image kind {KIND_RELEASE} publishes (images.lock lists {published}): use one of them, "
                             "or add the image and digest from the kind release's notes to images.lock")
        return value

    @model_validator(mode="after")
    def _mode_keys(self) -> LocalClusterConfig:
        if self.mode == "existing" and self.context is None:
            raise KeyProblem("context", "required when mode is `existing`: name the kubeconfig context to deploy to")
        if self.mode == "kind":
            for key, value in (("context", self.context), ("kubeconfigPath", self.kubeconfig_path)):
                if value is not None:
                    raise KeyProblem(key, "only used when mode is `existing`; remove it or set mode: existing", value)
        return self

    def host_ports(self) -> set[int]:
        """Host ports the kind node publishes (for conflict checks with other host ports)."""
        return {self.ingress.http_host_port, self.ingress.https_host_port} if self.mode == "kind" else set()


class LocalCluster(pulumi.ComponentResource):
    """A kind cluster created and deleted through the kind CLI, or an existing kubeconfig context.

    `trusted_registries` maps an image host (what pods pull, e.g. `localhost:5001`) to the
    endpoint the kind nodes reach it at (e.g. `http://kind-registry:5000`): each node gets a
    containerd `hosts.toml` for it, so images pushed from the laptop pull in the cluster.
    """

    provider: k8s.Provider
    """The Kubernetes provider every in-cluster resource of the stack uses."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig of the cluster (secret)."""
    cluster_name: pulumi.Output[str]
    """kind cluster name, or the context name in `existing` mode."""
    docker_network: pulumi.Output[str]
    """Docker network the kind nodes are on (known once the cluster exists); empty in `existing` mode."""

    def __init__(
        self,
        name: str,
        config: LocalClusterConfig,
        *,
        trusted_registries: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gitops-platform:index:LocalCluster", name, None, opts)
        if config.mode == "kind":
            cluster_document = kind_cluster_config(config)
            create = command.local.Command(
                f"{name}-kind",
                create=_create_script(config, trusted_registries or {}),
                delete=f"kind delete cluster --name {shlex.quote(config.name)}",
                stdin=cluster_document,
                interpreter=["/bin/bash", "-c"],
                # Any change to the node layout means a new cluster. Delete first: kind
                # cannot create a second cluster under the same name.
                triggers=[cluster_document, *(f"{h}={e}" for h, e in sorted((trusted_registries or {}).items()))],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    additional_secret_outputs=["stdout"],
                    delete_before_replace=True,
                ),
            )
            self.kubeconfig = pulumi.Output.secret(create.stdout)
            self.cluster_name = pulumi.Output.from_input(config.name)
            # The `kind` network exists once kind has created the cluster.
            self.docker_network = create.id.apply(lambda _: "kind")
            # The provider is replaced only when the cluster is (a new create id), never when
            # the kubeconfig text changes, so in-cluster resources are not all replaced by a
            # refreshed credential. deleteUnreachable lets `pulumi destroy`/`refresh` finish
            # after someone ran `kind delete cluster` by hand.
            self.provider = k8s.Provider(
                f"{name}-k8s",
                kubeconfig=self.kubeconfig,
                cluster_identifier=create.id,
                delete_unreachable=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
        else:
            path = _kubeconfig_path(config.kubeconfig_path)
            self.kubeconfig = pulumi.Output.secret(path.read_text())
            self.cluster_name = pulumi.Output.from_input(config.context or "")
            self.docker_network = pulumi.Output.from_input("")
            self.provider = k8s.Provider(
                f"{name}-k8s",
                kubeconfig=self.kubeconfig,
                context=config.context,
                cluster_identifier=f"context:{config.context}",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "cluster_name": self.cluster_name,
                "docker_network": self.docker_network,
            }
        )


CONTROL_PLANE_METRICS = {"kube-controller-manager": 10257, "kube-scheduler": 10259, "etcd": 2381, "kube-proxy": 10249}
"""The control plane's metrics ports that Prometheus scrapes on the node (kube-prometheus-stack's defaults)."""


def _arg_list(args: dict[str, str]) -> list[dict[str, str]]:
    """kubeadm v1beta4's form of `extraArgs`."""
    return [{"name": k, "value": v} for k, v in args.items()]


def _kubeadm_metrics_patches() -> list[str]:
    """kubeadm binds the controller manager's, the scheduler's and etcd's metrics, and kube-proxy
    its own, to 127.0.0.1: Prometheus (a pod) could never scrape them and their targets would
    stay down. These patches bind them to the node's addresses, which on kind are on the kind
    Docker network only (no port is published). One ClusterConfiguration patch per kubeadm
    API version kind may generate (v1beta3 up to Kubernetes 1.35, v1beta4 from 1.36, where
    `extraArgs` is a list); kind applies a patch only to the document of its apiVersion. The
    v1beta4 list replaces kind's own, so it repeats kind's `enable-hostpath-provisioner`."""
    args = {
        "controllerManager": {"bind-address": "0.0.0.0", "enable-hostpath-provisioner": "true"},
        "scheduler": {"bind-address": "0.0.0.0"},
    }
    etcd = {"listen-metrics-urls": f"http://0.0.0.0:{CONTROL_PLANE_METRICS['etcd']}"}

    def cluster_configuration(version: str, form: Callable[[dict[str, str]], Any]) -> dict[str, Any]:
        return {"apiVersion": f"kubeadm.k8s.io/{version}", "kind": "ClusterConfiguration",
                **{component: {"extraArgs": form(values)} for component, values in args.items()}, "etcd": {"local": {"extraArgs": form(etcd)}}}

    documents = [
        cluster_configuration("v1beta3", dict),
        cluster_configuration("v1beta4", _arg_list),
        {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
         "metricsBindAddress": f"0.0.0.0:{CONTROL_PLANE_METRICS['kube-proxy']}"},
    ]
    return [yaml.safe_dump(d, sort_keys=False) for d in documents]


def kind_cluster_config(config: LocalClusterConfig) -> str:
    """The kind `Cluster` document for this config (also the replacement trigger)."""
    ingress = config.ingress
    control_plane = {
        "role": "control-plane",
        "image": config.node_image,
        "labels": {"ingress-ready": "true"},
        # Published on the host's loopback only: the gateway is not exposed to the LAN.
        "extraPortMappings": [
            {"containerPort": ingress.http_node_port, "hostPort": ingress.http_host_port, "listenAddress": "127.0.0.1", "protocol": "TCP"},
            {"containerPort": ingress.https_node_port, "hostPort": ingress.https_host_port, "listenAddress": "127.0.0.1", "protocol": "TCP"},
        ],
    }
    document = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": config.name,
        # The API server listens on loopback only (kind's default, stated on purpose).
        "networking": {"apiServerAddress": "127.0.0.1"},
        # Registry hosts are configured per node in /etc/containerd/certs.d (hosts.toml).
        "containerdConfigPatches": [
            '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"'
        ],
        "kubeadmConfigPatches": _kubeadm_metrics_patches(),
        "nodes": [control_plane] + [{"role": "worker", "image": config.node_image}] * config.workers,
    }
    return yaml.safe_dump(document, sort_keys=False)


def _create_script(config: LocalClusterConfig, trusted_registries: Mapping[str, str]) -> str:
    name = shlex.quote(config.name)
    # Every node image config accepts is one the pinned kind release publishes (images.lock).
    lines = [
        "set -euo pipefail",
        f'kind version | grep -q " {KIND_RELEASE}\\." || {{ echo "kind {KIND_RELEASE}.x is required for the pinned node images '
        f'(found: $(kind version)); install it (images.lock lists the node images each release publishes)" >&2; exit 1; }}',
    ]
    lines += [
        f"if kind get clusters 2>/dev/null | grep -qx {name}; then",
        f'  echo "a kind cluster named {config.name} already exists and is not managed by this stack: '
        f'delete it (kind delete cluster --name {config.name}) or set gitops-platform:cluster.name" >&2; exit 1',
        "fi",
        # The cluster config arrives on stdin; progress goes to stderr so stdout is the kubeconfig.
        f"kind create cluster --name {name} --config - --wait 180s >&2",
    ]
    for host, endpoint in sorted(trusted_registries.items()):
        directory = shlex.quote(f"/etc/containerd/certs.d/{host}")
        hosts_toml = shlex.quote(f'[host."{endpoint}"]\n')
        lines += [
            f"for node in $(kind get nodes --name {name}); do",
            f"  docker exec \"$node\" mkdir -p {directory}",
            f"  printf '%s' {hosts_toml} | docker exec -i \"$node\" cp /dev/stdin {directory}/hosts.toml",
            "done",
        ]
    lines.append(f"kind get kubeconfig --name {name}")
    return "\n".join(lines) + "\n"


def _kubeconfig_path(configured: str | None) -> Path:
    if configured:
        path = Path(configured).expanduser()
    else:
        first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        path = Path(first).expanduser() if first else Path.home() / ".kube" / "config"
    if not path.is_file():
        raise pulumi.RunError(
            f"kubeconfig {path} not found for gitops-platform:cluster.mode existing; "
            "set gitops-platform:cluster.kubeconfigPath or $KUBECONFIG"
        )
    return path
