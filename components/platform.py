"""Platform: composes the components of one environment from a `PlatformConfig`.

    import pulumi
    from components.config import load_config
    from components.platform import Platform

    platform = Platform("platform", load_config())
    pulumi.export("kubeconfig", platform.kubeconfig)
"""

from __future__ import annotations

import pulumi

from .config import PlatformConfig, load_config
from .local_cluster import LocalCluster
from .local_registry import LocalRegistry
from .registry import Registry


class Platform(pulumi.ComponentResource):
    """The whole platform for one stack: cluster, registry, and (later) the in-cluster stacks."""

    kubeconfig: pulumi.Output[str]
    """Kubeconfig of the platform's cluster (secret)."""
    cluster_name: pulumi.Output[str]
    """Name of the cluster (kind cluster name or kubeconfig context)."""
    registry_host: pulumi.Output[str]
    """`host[:port]` the platform's images are pushed to and pulled from."""

    registry: Registry
    cluster: LocalCluster

    def __init__(self, name: str, config: PlatformConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gitops-platform:index:Platform", name, None, opts)
        # Environment decides which provider backs the cluster and registry; everything
        # else is configuration.
        self.cluster = LocalCluster(
            f"{name}-cluster",
            config.cluster,
            trusted_registries=config.registry.node_mirrors(),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.cluster.provider})
        self.registry = LocalRegistry(
            f"{name}-registry",
            config.registry,
            network=self.cluster.docker_network if config.registry.mode == "container" else None,
            opts=in_cluster,
        )
        self.kubeconfig = self.cluster.kubeconfig
        self.cluster_name = self.cluster.cluster_name
        self.registry_host = self.registry.host
        self.register_outputs(
            {"kubeconfig": self.kubeconfig, "cluster_name": self.cluster_name, "registry_host": self.registry_host}
        )


def main() -> Platform:
    """The program: load and validate config, build the platform, export its outputs."""
    config = load_config()
    platform = Platform("platform", config)
    pulumi.export("environment", config.environment)
    pulumi.export("clusterName", platform.cluster_name)
    pulumi.export("kubeconfig", platform.kubeconfig)
    pulumi.export("registryHost", platform.registry_host)
    return platform
