"""gitops-platform component library: a secure-by-default Kubernetes platform as Pulumi components.

    from components import MicroserviceStack, MicroserviceConfig, PlatformWiring

    api = MicroserviceStack("api", MicroserviceConfig(name="api", image="...", ...),
                            PlatformWiring(environment="local", allowed_registries=["localhost:5001/"]),
                            opts=pulumi.ResourceOptions(provider=k8s_provider))

Names are imported on first use (PEP 562), so `from components import MicroserviceStack`
loads only Pulumi, the Kubernetes SDK and pydantic — never the AWS, Docker or Command
SDKs. `EksCluster` and `EcrRegistry` need the `aws` extra, `LocalCluster` and
`LocalRegistry` the `local` extra; without it, importing them raises one error naming
the extra to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._extras import installed, missing_extra

__version__ = "0.2.0"

# Public name -> (module, SDK modules it cannot work without).
_EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "MicroserviceStack": ("microservice", ()),
    "MicroserviceConfig": ("microservice", ()),
    "MeshStack": ("mesh", ()),
    "MeshConfig": ("mesh", ()),
    "SecurityStack": ("security", ()),
    "SecurityConfig": ("security", ()),
    "ObservabilityStack": ("observability", ()),
    "ObservabilityConfig": ("observability", ()),
    "AutoscalingStack": ("autoscaling", ()),
    "AutoscalingStackConfig": ("autoscaling", ()),
    "CertManager": ("certificates", ()),
    "RolloutsController": ("delivery", ()),
    "GitopsStack": ("gitops", ()),
    "GitopsConfig": ("gitops", ()),
    "Kiali": ("kiali", ()),
    "KialiConfig": ("kiali", ()),
    "RolloutsConfig": ("delivery", ()),
    "DeliveryConfig": ("delivery", ()),
    "TlsConfig": ("certificates", ()),
    "VaultAccess": ("security.vault_access", ()),
    "PlatformWiring": ("wiring", ()),
    "NamespaceIsolation": ("netpol", ()),
    "Registry": ("registry", ()),
    "EcrRegistry": ("ecr", ("pulumi_aws",)),
    "EcrRegistryConfig": ("ecr", ()),
    "EksCluster": ("eks", ("pulumi_aws",)),
    "EksClusterConfig": ("eks", ()),
    "LocalCluster": ("local_cluster", ("pulumi_command",)),
    "LocalClusterConfig": ("local_cluster", ()),
    "LocalRegistry": ("local_registry", ("pulumi_docker",)),
    "LocalRegistryConfig": ("local_registry", ()),
    "SampleApps": ("apps", ("pulumi_docker",)),
    "Platform": ("platform", ("pulumi_aws", "pulumi_docker", "pulumi_command")),
    "PlatformConfig": ("config", ()),
    "ConfigError": ("config", ()),
    "parse_config": ("config", ()),
}

__all__ = [
    "AutoscalingStack",
    "AutoscalingStackConfig",
    "CertManager",
    "ConfigError",
    "DeliveryConfig",
    "EcrRegistry",
    "EcrRegistryConfig",
    "EksCluster",
    "EksClusterConfig",
    "GitopsConfig",
    "GitopsStack",
    "Kiali",
    "KialiConfig",
    "LocalCluster",
    "LocalClusterConfig",
    "LocalRegistry",
    "LocalRegistryConfig",
    "MeshConfig",
    "MeshStack",
    "MicroserviceConfig",
    "MicroserviceStack",
    "NamespaceIsolation",
    "ObservabilityConfig",
    "ObservabilityStack",
    "Platform",
    "PlatformConfig",
    "PlatformWiring",
    "Registry",
    "RolloutsConfig",
    "RolloutsController",
    "SampleApps",
    "SecurityConfig",
    "SecurityStack",
    "TlsConfig",
    "VaultAccess",
    "__version__",
    "parse_config",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'components' has no attribute {name!r}")
    module, needs = _EXPORTS[name]
    for sdk in needs:
        if not installed(sdk):
            raise missing_extra(sdk, name)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .apps import SampleApps
    from .autoscaling import AutoscalingStack, AutoscalingStackConfig
    from .certificates import CertManager, TlsConfig
    from .config import ConfigError, PlatformConfig, parse_config
    from .delivery import DeliveryConfig, RolloutsConfig, RolloutsController
    from .ecr import EcrRegistry, EcrRegistryConfig
    from .eks import EksCluster, EksClusterConfig
    from .gitops import GitopsConfig, GitopsStack
    from .kiali import Kiali, KialiConfig
    from .local_cluster import LocalCluster, LocalClusterConfig
    from .local_registry import LocalRegistry, LocalRegistryConfig
    from .mesh import MeshConfig, MeshStack
    from .microservice import MicroserviceConfig, MicroserviceStack
    from .netpol import NamespaceIsolation
    from .observability import ObservabilityConfig, ObservabilityStack
    from .platform import Platform
    from .registry import Registry
    from .security import SecurityConfig, SecurityStack
    from .security.vault_access import VaultAccess
    from .wiring import PlatformWiring
