"""The security component: `SecurityStack` and one module per tool it installs.

- `trivy`: Trivy Operator (vulnerability, misconfiguration and compliance scanning)
- `gatekeeper`: OPA Gatekeeper and the platform's constraint library
- `falco`: Falco and falcosidekick with the platform's runtime rules
- `vault`: Vault (dev / HA raft with TLS and KMS auto-unseal) and the Secrets Store CSI driver
- `vault_access`: how services reach Vault (Kubernetes auth, a role per service, the Jobs)
- `stack`: the component, app-namespace hardening and the platform namespaces' isolation

Each tool module holds its configuration model, its chart values and its install function;
the names below are the component's public face, importable from `components.security`.
"""

from .common import INGRESS_NAMESPACE, ISTIO_NAMESPACE
from .falco import FALCO_NAMESPACE, PRIVATE_NETWORKS, FalcoConfig, falco_rules, falco_values
from .gatekeeper import (
    CLUSTER_NAMESPACES,
    EXEMPT_NAMESPACES,
    GATEKEEPER_NAMESPACE,
    GATEKEEPER_WEBHOOK_PORT,
    HOST_EXEMPT_NAMESPACES,
    TEMPLATES,
    ConstraintEnforcementConfig,
    GatekeeperConfig,
    Template,
    constraint_parameters,
    constraint_template,
    gatekeeper_values,
)
from .stack import NetworkIsolationConfig, PodSecurityConfig, QuotaConfig, SecurityConfig, SecurityStack, security_isolation
from .trivy import TRIVY_NAMESPACE, TrivyConfig, TrivyScannersConfig, trivy_level, trivy_values
from .vault import (
    VAULT_AUDIENCE,
    VAULT_INJECTOR_PORT,
    VAULT_NAMESPACE,
    VAULT_PORT,
    VAULT_SERVICE_ACCOUNT,
    VAULT_TLS_SECRET,
    AutoUnseal,
    VaultConfig,
    raft_joins,
    secrets_store_csi_values,
    vault_dns_names,
    vault_values,
)
from .vault_access import VaultAccess

__all__ = [
    "CLUSTER_NAMESPACES",
    "EXEMPT_NAMESPACES",
    "FALCO_NAMESPACE",
    "GATEKEEPER_NAMESPACE",
    "GATEKEEPER_WEBHOOK_PORT",
    "HOST_EXEMPT_NAMESPACES",
    "INGRESS_NAMESPACE",
    "ISTIO_NAMESPACE",
    "PRIVATE_NETWORKS",
    "TEMPLATES",
    "TRIVY_NAMESPACE",
    "VAULT_AUDIENCE",
    "VAULT_INJECTOR_PORT",
    "VAULT_NAMESPACE",
    "VAULT_PORT",
    "VAULT_SERVICE_ACCOUNT",
    "VAULT_TLS_SECRET",
    "AutoUnseal",
    "ConstraintEnforcementConfig",
    "FalcoConfig",
    "GatekeeperConfig",
    "NetworkIsolationConfig",
    "PodSecurityConfig",
    "QuotaConfig",
    "SecurityConfig",
    "SecurityStack",
    "Template",
    "TrivyConfig",
    "TrivyScannersConfig",
    "VaultAccess",
    "VaultConfig",
    "constraint_parameters",
    "constraint_template",
    "falco_rules",
    "falco_values",
    "gatekeeper_values",
    "raft_joins",
    "secrets_store_csi_values",
    "security_isolation",
    "trivy_level",
    "trivy_values",
    "vault_dns_names",
    "vault_values",
]
