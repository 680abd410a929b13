"""gitops-platform component library.

    from components import Platform, load_config
"""

from .config import ConfigError, PlatformConfig, load_config, parse_config
from .local_cluster import LocalCluster, LocalClusterConfig
from .local_registry import LocalRegistry, LocalRegistryConfig
from .microservice import MicroserviceConfig, MicroserviceStack
from .platform import Platform
from .registry import Registry

__all__ = [
    "ConfigError",
    "LocalCluster",
    "LocalClusterConfig",
    "LocalRegistry",
    "LocalRegistryConfig",
    "MicroserviceConfig",
    "MicroserviceStack",
    "Platform",
    "PlatformConfig",
    "Registry",
    "load_config",
    "parse_config",
]
