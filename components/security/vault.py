"""HashiCorp Vault: dev mode on local, HA raft with TLS (and KMS auto-unseal on aws); the Secrets Store CSI driver.

How services then reach it (Kubernetes auth, a role per service, the bootstrap Job) is
`vault_access`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, ValidationInfo, model_validator

from .._extras import optional_module
from ..certificates import CertManager
from ..charts import CHARTS, install_chart, install_release
from ..model import DNS_LABEL, KeyProblem, ProfiledModel, Profiles, ResourcesConfig
from ..quantity import memory_mib
from .common import TINY_RESOURCES
from .vault_access import CONFIGURATOR, DEV_ACCESS, NAMESPACE, RECOVERY_SECRET, VaultAccess, bootstrap_script, job_spec

if TYPE_CHECKING:
    import pulumi_aws as aws

    from ..eks import EksCluster
else:
    aws = optional_module("pulumi_aws", "SecurityStack with an EKS cluster (Vault's KMS auto-unseal)")

VAULT_NAMESPACE = NAMESPACE
"""Where Vault, its configurator and its bootstrap Job live."""
VAULT_INJECTOR_PORT, VAULT_PORT = 8080, 8200
"""Container ports: Vault's agent injector's webhook, Vault's API (chart defaults)."""

class VaultConfig(ProfiledModel):
    """HashiCorp Vault: dev mode on local; HA raft with TLS on aws. Never exposed outside the cluster."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "mode": "dev",
            "injectorReplicas": 1,
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "injectorResources": TINY_RESOURCES,
            "driverResources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
            # Per node, two containers (the provider and its Vault agent cache): sized for one small node.
            "csiResources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        },
        "aws": {
            "mode": "ha",
            "injectorReplicas": 2,
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "injectorResources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}},
            "csiResources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}},
            "driverResources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
        },
    }
    enabled: bool = Field(True, description="Install Vault in the vault namespace.")
    mode: Literal["dev", "ha"] = Field(description="`dev`: one in-memory, unsealed pod (local only). `ha`: raft cluster with TLS.")
    replicas: int = Field(3, ge=3, le=7, description="`ha`: raft peers (odd, at least 3).")
    tls_secret_name: str | None = Field(
        None,
        description="`ha`: a Secret in `vault` with tls.crt, tls.key and ca.crt that you provide. Unset: the platform CA (tls) issues "
        "`vault-server-tls` for the Service names; required when tls is off.",
    )
    data_storage_gib: int = Field(10, ge=1, le=1000, description="`ha`: raft data volume per pod.")
    audit_storage_gib: int = Field(10, ge=1, le=1000, description="`ha`: audit log volume per pod.")
    injector: bool = Field(
        False, description="Vault's agent injector (a mutating webhook adding Vault agents to pods). Off: apps read secrets through the CSI driver."
    )
    injector_replicas: int = Field(ge=1, le=10, description="Agent injector replicas (when `injector`): local 1, aws 2.")
    csi: bool = Field(
        True, description="Vault's CSI provider and the Secrets Store CSI driver it plugs into (secrets as files, or synced for env)."
    )
    ui: bool = Field(True, description="Vault UI (ClusterIP only: `kubectl port-forward` to reach it).")
    resources: ResourcesConfig = Field(description="Server requests/limits.")
    injector_resources: ResourcesConfig = Field(description="Injector requests/limits.")
    csi_resources: ResourcesConfig = Field(description="CSI provider requests/limits (per node, each of its two containers).")
    driver_resources: ResourcesConfig = Field(
        description="Secrets Store CSI driver requests/limits (per node): the driver's; its registrar and liveness probe get a quarter each."
    )

    @model_validator(mode="after")
    def _mode(self, info: ValidationInfo) -> VaultConfig:
        environment = (info.context or {}).get("environment")
        if self.replicas % 2 == 0:
            raise KeyProblem("replicas", "raft needs an odd number of peers (3, 5 or 7)", self.replicas)
        if self.mode == "dev" and environment == "aws":
            raise KeyProblem("mode", "dev mode keeps secrets in memory with a known root token; use ha on aws", self.mode)
        if self.tls_secret_name is not None and not DNS_LABEL.match(self.tls_secret_name):
            raise KeyProblem("tlsSecretName", "must be a Secret name (DNS-1123 label)", self.tls_secret_name)
        return self


VAULT_SERVICE_ACCOUNT = "vault"
"""The Vault server's ServiceAccount (the chart's, named after the release)."""


@dataclass(frozen=True)
class AutoUnseal:
    """Where HA Vault's root key is wrapped: a KMS key, used through an IRSA role."""

    region: str
    key_id: pulumi.Input[str]
    role_arn: pulumi.Input[str]


VAULT_TLS_SECRET = "vault-server-tls"
"""The Secret the platform CA issues for Vault's listener when `tlsSecretName` is unset."""


VAULT_AUDIENCE = "vault"
"""Audience of the ServiceAccount tokens the CSI driver hands the Vault provider (Vault roles check it)."""


def secrets_store_csi_values(config: VaultConfig) -> dict[str, Any]:
    """The Secrets Store CSI driver: secrets as files in a CSI volume, and (`secretObjects`) synced
    into a Kubernetes Secret for environment variables while a pod mounts them; rotated every 2 minutes."""
    driver = config.driver_resources.values()
    helper = {
        "requests": {"cpu": "5m", "memory": f"{max(8, int(memory_mib(config.driver_resources.requests.memory) // 4))}Mi"},
        "limits": {"cpu": "100m", "memory": "64Mi"},
    }
    return {
        # The CRDs are installed from the chart's crds/ as resources the engine upgrades; the
        # upgrade hook Job that would do it under Helm is off.
        "linux": {"crds": {"enabled": False}, "driver": {"resources": driver}, "registrar": {"resources": helper}, "livenessProbe": {"resources": helper}},
        "syncSecret": {"enabled": True},
        "enableSecretRotation": True,
        "rotationPollInterval": "2m",
        # Each pod's own ServiceAccount token, for Vault's audience: Vault's Kubernetes auth
        # checks it, so a pod reads only what its own account may.
        "tokenRequests": [{"audience": VAULT_AUDIENCE}],
    }


def raft_joins(replicas: int, release: str = "vault", namespace: str = VAULT_NAMESPACE) -> str:
    """`retry_join` stanzas: every peer finds the others (and joins the one initialised first) by itself."""
    return "".join(
        f'  retry_join {{\n    leader_api_addr     = "https://{release}-{i}.{release}-internal.{namespace}.svc:8200"\n'
        '    leader_ca_cert_file = "/vault/userconfig/tls/ca.crt"\n  }\n'
        for i in range(replicas)
    )


def vault_dns_names(release: str = "vault", namespace: str = VAULT_NAMESPACE) -> list[str]:
    """Every name Vault is reached by: its Services, the raft peers' headless names, localhost."""
    names = [release, f"{release}-active", f"{release}-standby", f"{release}-internal", f"{release}-ui"]
    out = [n for name in names for n in (name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local")]
    return [*out, f"*.{release}-internal", f"*.{release}-internal.{namespace}.svc", f"*.{release}-internal.{namespace}.svc.cluster.local", "localhost"]


def vault_values(config: VaultConfig, tls_secret: str | None = None, unseal: AutoUnseal | None = None) -> dict[str, Any]:
    """The chart's values. `unseal`: (ha on aws) a `seal "awskms"` stanza and the IRSA role on
    the server's ServiceAccount, so every pod unseals itself when it starts."""
    # The server and UI Services are ClusterIP (the chart's default for the server): Vault is
    # reached in-cluster or through `kubectl port-forward`, never from outside.
    server: dict[str, Any] = {"resources": config.resources.values()}
    if config.mode == "dev":
        server["dev"] = {"enabled": True}
        tls_disable = True
    else:
        tls_disable = False
        seal: pulumi.Input[str] = ""
        if unseal is not None:
            seal = pulumi.Output.from_input(unseal.key_id).apply(
                lambda key: f'seal "awskms" {{\n  region     = "{unseal.region}"\n  kms_key_id = "{key}"\n}}\n'
            )
            server["serviceAccount"] = {"annotations": {"eks.amazonaws.com/role-arn": unseal.role_arn}}
        server["ha"] = {
            "enabled": True,
            "replicas": config.replicas,
            "raft": {
                "enabled": True,
                "setNodeId": True,
                "config": pulumi.Output.concat(
                    "ui = true\n"
                    'listener "tcp" {\n'
                    '  address = "[::]:8200"\n'
                    '  cluster_address = "[::]:8201"\n'
                    '  tls_cert_file = "/vault/userconfig/tls/tls.crt"\n'
                    '  tls_key_file = "/vault/userconfig/tls/tls.key"\n'
                    '  tls_client_ca_file = "/vault/userconfig/tls/ca.crt"\n'
                    "}\n"
                    'storage "raft" {\n  path = "/vault/data"\n' + raft_joins(config.replicas) + "}\n"
                    'service_registration "kubernetes" {}\n',
                    seal,
                ),
            },
        }
        server["dataStorage"] = {"enabled": True, "size": f"{config.data_storage_gib}Gi"}
        server["auditStorage"] = {"enabled": True, "size": f"{config.audit_storage_gib}Gi"}
        server["extraEnvironmentVars"] = {"VAULT_CACERT": "/vault/userconfig/tls/ca.crt"}
        server["volumes"] = [{"name": "tls", "secret": {"secretName": config.tls_secret_name or tls_secret}}]
        server["volumeMounts"] = [{"name": "tls", "mountPath": "/vault/userconfig/tls", "readOnly": True}]
    csi: dict[str, Any] = {"enabled": config.csi, "resources": config.csi_resources.values(), "agent": {"resources": config.csi_resources.values()}}
    if not tls_disable:
        # The provider verifies Vault with the CA of its listener (SecretProviderClass vaultCACertPath).
        csi["volumes"] = [{"name": "vault-ca", "secret": {"secretName": config.tls_secret_name or tls_secret, "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]
        csi["volumeMounts"] = [{"name": "vault-ca", "mountPath": "/vault/tls", "readOnly": True}]
    return {
        "global": {"tlsDisable": tls_disable},
        "server": server,
        "injector": {"enabled": config.injector, "replicas": config.injector_replicas, "resources": config.injector_resources.values()},
        "csi": csi,
        "ui": {"enabled": config.ui, "serviceType": "ClusterIP"},
    }


def install_vault(
    name: str, config: VaultConfig, vault_ns: k8s.core.v1.Namespace, certificates: CertManager | None, eks: EksCluster | None, region: str | None,
    *, parent: pulumi.Resource,
) -> tuple[VaultAccess, list[pulumi.Resource]]:
    """Vault (its TLS from the platform CA in ha mode, KMS auto-unseal on aws) and the Secrets Store CSI driver:
    (how services reach Vault; what services reading Vault secrets wait for — the bootstrap Job, the CSI driver).
    `eks`, `region`: on aws, HA Vault auto-unseals with a KMS key created here."""
    vault_after: list[pulumi.Resource] = [vault_ns]
    issued = config.mode == "ha" and config.tls_secret_name is None
    if issued and certificates is None:
        raise ValueError("security.vault in ha mode needs tlsSecretName, or `certificates` (a CertManager) to issue its TLS")
    if issued and certificates is not None:
        # Vault's pods mount the Secret at start: the engine waits until it is issued.
        vault_after.append(
            certificates.certificate(
                f"{name}-vault-tls", namespace=vault_ns.metadata.apply(lambda m: m["name"]), secret_name=VAULT_TLS_SECRET,
                issuer=certificates.internal_issuer, dns_names=vault_dns_names(), common_name="vault", wait=True, parent=parent,
            )
        )
    unseal = _unseal(name, eks, region, parent) if config.mode == "ha" and eks is not None else None
    install_release(
        f"{name}-vault", CHARTS["vault"], VAULT_NAMESPACE, vault_values(config, VAULT_TLS_SECRET if issued else None, unseal),
        pulumi.ResourceOptions(parent=parent, depends_on=vault_after), "vault",
    )
    access = DEV_ACCESS if config.mode == "dev" else VaultAccess(ca_secret=config.tls_secret_name or VAULT_TLS_SECRET)
    ready = [_bootstrap(name, config, vault_ns, access, parent)]
    if config.csi:
        # The kubelet's side of secrets-as-volumes: Vault's CSI provider plugs into it, and
        # its CRDs (SecretProviderClass) come first for the services that declare secrets.
        ready.append(install_chart(
            f"{name}-secrets-store-csi", CHARTS["secrets-store-csi-driver"], "kube-system",
            secrets_store_csi_values(config), pulumi.ResourceOptions(parent=parent), "secrets-store-csi-driver",
        ))
    return access, ready


def _bootstrap(name: str, config: VaultConfig, vault_ns: k8s.core.v1.Namespace, access: VaultAccess, parent: pulumi.Resource) -> pulumi.Resource:
    """The configurator's ServiceAccount (and, ha, its right to store the recovery keys) and the bootstrap Job."""
    child = pulumi.ResourceOptions(parent=parent, depends_on=[vault_ns])
    account = k8s.core.v1.ServiceAccount(
        f"{name}-vault-configurator", metadata={"name": CONFIGURATOR, "namespace": VAULT_NAMESPACE}, automount_service_account_token=False, opts=child
    )
    # Not after the release: the Job waits for Vault to answer by itself (up to 10 minutes),
    # so it starts as soon as its account exists instead of lengthening the critical path.
    after: list[pulumi.Resource] = [account]
    if config.mode == "ha":
        role = k8s.rbac.v1.Role(
            f"{name}-vault-recovery-keys", metadata={"name": RECOVERY_SECRET, "namespace": VAULT_NAMESPACE},
            rules=[{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}], opts=child,
        )
        after.append(k8s.rbac.v1.RoleBinding(
            f"{name}-vault-recovery-keys", metadata={"name": RECOVERY_SECRET, "namespace": VAULT_NAMESPACE},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.apply(lambda m: m["name"])},
            subjects=[{"kind": "ServiceAccount", "name": CONFIGURATOR, "namespace": VAULT_NAMESPACE}], opts=child,
        ))
    # The first peer: an uninitialised raft cluster is initialised on one node, the others join it.
    first = access if config.mode == "dev" else VaultAccess(address="https://vault-0.vault-internal.vault.svc:8200", ca_secret=access.ca_secret)
    job: pulumi.Resource = k8s.batch.v1.Job(
        f"{name}-vault-bootstrap",
        metadata={"name": "vault-bootstrap", "namespace": VAULT_NAMESPACE},
        spec=job_spec(bootstrap_script(config.mode), first, store_recovery_keys=config.mode == "ha"),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=after, replace_on_changes=["spec"], delete_before_replace=True),
    )
    return job


def _unseal(name: str, eks: EksCluster, region: str | None, parent: pulumi.Resource) -> AutoUnseal:
    """Vault's auto-unseal: a KMS key (rotated yearly, protected: losing it loses the data) and
    an IRSA role for Vault's ServiceAccount allowed only to use that key."""
    if region is None:
        raise ValueError("SecurityStack needs the region for Vault's KMS auto-unseal")
    key = aws.kms.Key(
        f"{name}-vault-unseal",
        description="Vault auto-unseal (gitops-platform): wraps Vault's root key",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        opts=pulumi.ResourceOptions(parent=parent, protect=True),
    )
    aws.kms.Alias(
        f"{name}-vault-unseal-alias", name=eks.cluster_name.apply(lambda c: f"alias/{c}-vault-unseal"), target_key_id=key.key_id,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    policy = key.arn.apply(lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "UnsealWithThisKeyOnly", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], "Resource": arn},
    ]}))
    role = eks.irsa_role("vault-unseal", namespace=VAULT_NAMESPACE, service_account=VAULT_SERVICE_ACCOUNT, policy=policy)
    return AutoUnseal(region=region, key_id=key.key_id, role_arn=role.arn)
