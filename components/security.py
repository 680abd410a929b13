"""SecurityStack: Trivy, Gatekeeper with the platform's constraint library, Falco, Vault, hardened namespaces.

    security = SecurityStack("security", SecurityConfig.for_environment("local"),
                             registry_prefixes=["localhost:5001/"], app_namespaces=mesh.app_namespaces,
                             opts=pulumi.ResourceOptions(providers={"kubernetes": provider}))
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import Field, ValidationInfo, field_validator, model_validator

from policies.rego import rego_source

from ._extras import optional_module
from .certificates import CertManager
from .charts import CHARTS, HOOK_JOB_RESOURCES, image_sources, install_chart, install_release
from .model import DNS_DOMAIN, DNS_LABEL, KeyProblem, Model, ProfiledModel, Profiles, ResourcesConfig, given_in_plain_text
from .netpol import REASON_ANNOTATION, NamespaceIsolation, Peer, app_namespace_policies, isolation_policies
from .podsecurity import NODE_AGENT_REASONS, Level, namespace_metadata, pod_security_labels
from .quantity import cpu_millicores, memory_mib
from .vault import CONFIGURATOR, DEV_ACCESS, RECOVERY_SECRET, VaultAccess, bootstrap_script, job_spec
from .vault import IMAGE_SOURCES as VAULT_JOB_IMAGES

if TYPE_CHECKING:
    import pulumi_aws as aws

    from .eks import EksCluster
else:
    aws = optional_module("pulumi_aws", "SecurityStack with an EKS cluster (Vault's KMS auto-unseal)")

GATEKEEPER_NAMESPACE = "gatekeeper-system"
TRIVY_NAMESPACE = "trivy-system"
FALCO_NAMESPACE = "falco"
VAULT_NAMESPACE = "vault"
GATEKEEPER_WEBHOOK_PORT, VAULT_INJECTOR_PORT, VAULT_PORT = 8443, 8080, 8200
"""Container ports: Gatekeeper's and Vault's injector's webhooks, Vault's API (chart defaults)."""
INGRESS_NAMESPACE = "istio-ingress"
ISTIO_NAMESPACE = "istio-system"

# Gatekeeper's exemptions, each with its reason: the minimal set per kind of constraint.
# Host-access constraints (privileged, capabilities, host namespaces and paths, seccomp,
# non-root, read-only root, privilege escalation) skip only namespaces whose pods need the
# node: the cluster's own and the platform's node agents (those enforcing Pod Security
# below `restricted`; the render proves every other platform pod passes them).
HOST_EXEMPT_NAMESPACES: dict[str, str] = {
    "kube-system": "the cluster's own node and control-plane agents (CNI, kube-proxy, CoreDNS) and the Istio CNI agent",
    "kube-public": "the cluster's; holds no workloads",
    "kube-node-lease": "the cluster's; holds no workloads",
    "local-path-storage": "kind's volume provisioner creates hostPath helper pods",
    **NODE_AGENT_REASONS,  # monitoring, falco, vault, trivy-system
}
# Convention constraints (required labels, allowed registries, limits, tags, network policy)
# also skip the platform's own namespaces: their pods come from pinned charts and carry the
# charts' labels, not the apps' app/version/environment, and their images come from the
# charts' upstream registries (the render's image inventory lists every one; Falco's
# registry rule watches them at run time). The CrossGuard workload rules skip the same set
# (policies/rules/common.py, PLATFORM_NAMESPACES).
EXEMPT_NAMESPACES = (
    *HOST_EXEMPT_NAMESPACES,
    ISTIO_NAMESPACE,
    INGRESS_NAMESPACE,
    "istio-egress",
    GATEKEEPER_NAMESPACE,
    "keda",
    "cert-manager",
    "argo-rollouts",
    "argocd",
)

# Namespaces every Kubernetes cluster has before anything is installed.
CLUSTER_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")

# Kinds a constraint matches: Pods (what the API server admits) and every controller
# with a pod template, so a bad Deployment is refused at once rather than its pods.
_WORKLOAD_KINDS = [
    {"apiGroups": [""], "kinds": ["Pod"]},
    {"apiGroups": ["apps"], "kinds": ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]},
    {"apiGroups": ["batch"], "kinds": ["Job", "CronJob"]},
    {"apiGroups": ["argoproj.io"], "kinds": ["Rollout"]},
]

EnforcementAction = Literal["deny", "dryrun", "warn"]
Severity = Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
ComplianceSpec = Literal["k8s-cis-1.23", "k8s-nsa-1.0", "k8s-pss-baseline-0.1", "k8s-pss-restricted-0.1", "eks-cis-1.4"]
_SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9.:-]*(/[a-z0-9._-]+)*/$")

_TINY = {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}


def _names(value: list[str], what: str) -> list[str]:
    bad = [n for n in value if not DNS_LABEL.match(n)]
    if bad:
        raise ValueError(f"not {what}: {', '.join(bad)} (DNS-1123 labels)")
    return value


# --- configuration --------------------------------------------------------------------


class TrivyScannersConfig(Model):
    """Which Trivy scanners run. `local` runs the lighter set (vulnerabilities, config audit, RBAC)."""

    vulnerability: bool = Field(True, description="Image vulnerability scans (VulnerabilityReports).")
    config_audit: bool = Field(True, description="Workload misconfiguration checks (ConfigAuditReports).")
    rbac_assessment: bool = Field(True, description="RBAC assessment (RbacAssessmentReports).")
    infra_assessment: bool = Field(description="Node/control-plane assessment: off on local, on on aws.")
    exposed_secrets: bool = Field(description="Secrets baked into images: off on local, on on aws.")
    sbom: bool = Field(description="SBOM generation: off on local, on on aws.")


class TrivyConfig(ProfiledModel):
    """Trivy Operator: continuous vulnerability, misconfiguration and compliance scanning."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "scanJobsConcurrentLimit": 1,
            "scanners": {"infraAssessment": False, "exposedSecrets": False, "sbom": False},
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
            "scanJobResources": {"requests": {"cpu": "50m", "memory": "100Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}},
        },
        "aws": {
            "scanJobsConcurrentLimit": 5,
            "scanners": {"infraAssessment": True, "exposedSecrets": True, "sbom": True},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "scanJobResources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}},
        },
    }
    enabled: bool = Field(True, description="Install the Trivy Operator in trivy-system.")
    ignore_unfixed: bool = Field(True, description="Report only vulnerabilities that have a fix (actionable findings).")
    severities: list[Severity] = Field(
        default_factory=lambda: list[Severity](["HIGH", "CRITICAL"]), min_length=1, description="Severities reported."
    )
    scan_jobs_concurrent_limit: int = Field(ge=1, le=50, description="Scan jobs at a time: local 1, aws 5.")
    scan_job_timeout_minutes: int = Field(5, ge=1, le=120, description="A scan job is abandoned after this long.")
    compliance_specs: list[ComplianceSpec] = Field(
        default_factory=lambda: list[ComplianceSpec](["k8s-nsa-1.0", "k8s-cis-1.23"]), description="Compliance reports generated (every 6 h)."
    )
    scanners: TrivyScannersConfig = Field(description="Scanner set.")
    resources: ResourcesConfig = Field(description="Operator requests/limits.")
    scan_job_resources: ResourcesConfig = Field(description="Each scan job's requests/limits.")


class ConstraintEnforcementConfig(Model):
    """Gatekeeper enforcement action per constraint: `deny` (refuse), `dryrun` (audit only) or `warn`."""

    required_labels: EnforcementAction = "deny"
    container_limits: EnforcementAction = "deny"
    allowed_repos: EnforcementAction = "deny"
    no_privileged: EnforcementAction = "deny"
    no_privilege_escalation: EnforcementAction = "deny"
    drop_capabilities: EnforcementAction = "deny"
    seccomp: EnforcementAction = "deny"
    network_policy_types: EnforcementAction = "deny"
    namespace_default_deny: EnforcementAction = "deny"
    app_project_confined: EnforcementAction = "deny"
    read_only_root_filesystem: EnforcementAction = "deny"
    disallowed_tags: EnforcementAction = "deny"
    host_namespaces: EnforcementAction = "deny"
    host_path: EnforcementAction = "deny"
    run_as_non_root: EnforcementAction = "deny"


class GatekeeperConfig(ProfiledModel):
    """OPA Gatekeeper and the platform's constraints."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "replicas": 1,
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
            "auditResources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        },
        "aws": {
            "replicas": 3,
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "auditResources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        },
    }
    enabled: bool = Field(True, description="Install Gatekeeper, its templates and constraints.")
    replicas: int = Field(ge=1, le=10, description="Webhook replicas: local 1, aws 3.")
    audit_interval_seconds: int = Field(60, ge=10, le=86400, description="How often existing objects are audited.")
    exempt_namespaces: list[str] = Field(default_factory=list, description="Namespaces exempt besides the cluster's and the platform's own.")
    upstream_registries: list[str] = Field(
        default_factory=lambda: ["docker.io/istio/"],
        min_length=1,
        description="Registry prefixes allowed besides the stack's own registry (each ends with '/'); "
        "must include Istio's (docker.io/istio/) while injected sidecars come from there.",
    )
    required_labels: list[str] = Field(default_factory=lambda: ["app", "version", "environment"], min_length=1, description="Labels every workload carries.")
    exempt_images: list[str] = Field(
        default_factory=list,
        description="Image prefixes exempt from runAsNonRoot, read-only root and the capabilities constraint. Empty by default: "
        "with Istio CNI no injected container needs root or a capability.",
    )
    allowed_capabilities: list[str] = Field(
        default_factory=lambda: ["NET_BIND_SERVICE"],
        description="Linux capabilities a container may add back after dropping ALL (the restricted Pod Security profile allows only NET_BIND_SERVICE).",
    )
    enforcement: ConstraintEnforcementConfig = Field(default_factory=ConstraintEnforcementConfig, description="Action per constraint.")
    resources: ResourcesConfig = Field(description="Webhook (controller manager) requests/limits.")
    audit_resources: ResourcesConfig = Field(description="Audit controller requests/limits.")

    @field_validator("required_labels", "exempt_images", "upstream_registries", "allowed_capabilities")
    @classmethod
    def _no_empty_items(cls, value: list[str]) -> list[str]:
        # An empty image prefix would exempt every image; an empty label name requires nothing.
        if any(not item.strip() for item in value):
            raise ValueError("items must not be empty")
        return value

    @field_validator("allowed_capabilities")
    @classmethod
    def _capabilities(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"[A-Z][A-Z_]*", item) or item == "ALL" or item.startswith("CAP_"):
                raise ValueError(f"{item!r} is not a capability name as Kubernetes writes them (e.g. NET_BIND_SERVICE, without CAP_; never ALL)")
        return value

    @field_validator("exempt_namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        return _names(value, "namespace names")

    @field_validator("upstream_registries")
    @classmethod
    def _registries(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not _PREFIX.match(r)]
        if bad:
            raise ValueError(f"not registry prefixes: {', '.join(bad)} (e.g. docker.io/istio/, ending with '/')")
        return value


class FalcoConfig(ProfiledModel):
    """Falco runtime detection (modern eBPF) with falcosidekick."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "sidekickReplicas": 1,
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "sidekickResources": _TINY,
        },
        "aws": {
            "sidekickReplicas": 2,
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "sidekickResources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        },
    }
    enabled: bool = Field(True, description="Install Falco (DaemonSet) and falcosidekick in the falco namespace.")
    minimum_priority: Literal["emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"] = Field(
        "warning", description="Lowest rule priority forwarded by falcosidekick."
    )
    slack_webhook_url: str | None = Field(
        None,
        description="Slack incoming-webhook URL for alerts. Secret: set it only with "
        "`pulumi config set --secret --path gitops-platform:security.falco.slackWebhookUrl ...`.",
    )
    egress_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts that services deployed by other programs declare in their egress: the undeclared-egress rule accepts them "
        "(DNS names; a wildcard counts as its domain, matched exactly).",
    )
    sidekick_replicas: int = Field(ge=1, le=10, description="falcosidekick replicas: local 1, aws 2.")
    resources: ResourcesConfig = Field(description="Falco requests/limits (per node).")
    sidekick_resources: ResourcesConfig = Field(description="falcosidekick requests/limits.")

    @field_validator("egress_hosts")
    @classmethod
    def _egress_hosts(cls, value: list[str]) -> list[str]:
        bad = [h for h in value if not DNS_DOMAIN.match(h[2:] if h.startswith("*.") else h)]
        if bad:
            raise ValueError(f"not DNS names: {', '.join(bad)} (e.g. api.example.com or *.example.com; no scheme, port or path)")
        return value

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and value != "[secret]" and not value.startswith("https://"):
            raise ValueError("must be an https:// Slack webhook URL")
        return value


class VaultConfig(ProfiledModel):
    """HashiCorp Vault: dev mode on local; HA raft with TLS on aws. Never exposed outside the cluster."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "mode": "dev",
            "injectorReplicas": 1,
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "injectorResources": _TINY,
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


class NetworkIsolationConfig(Model):
    """Default-deny NetworkPolicies in every namespace with workloads, with the flows the platform needs."""

    enabled: bool = Field(
        True,
        description="Deny all ingress and egress by default in the app namespaces and the platform's own; allow DNS, istiod, "
        "the ingress gateway, monitoring and each platform component's declared flows.",
    )
    monitoring_namespace: str = Field("monitoring", description="Namespace whose Prometheus may scrape the apps.")
    api_server_cidrs: list[str] | None = Field(
        None,
        description="Where platform pods reach the API server (TCP 443 and 6443 only). Default: the VPC CIDR on aws; "
        "any address on kind, whose node addresses are Docker's choice.",
    )

    @field_validator("monitoring_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        _names([value], "namespace names")
        return value

    @field_validator("api_server_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("must not be empty: leave the key out for the default, or list the CIDRs of the API server's addresses")
        for cidr in value or []:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as error:
                raise ValueError(f"{cidr!r} is not a CIDR block like 10.0.0.0/16 ({error})") from None
        return value


class QuotaConfig(ProfiledModel):
    """ResourceQuota and LimitRange per app namespace."""

    PROFILES: ClassVar[Profiles] = {
        # CPU limits leave room for every pod's Istio sidecar limit and a rolling update's
        # surge pods (the render checks the sample apps against them): 8 pods x 1 CPU on
        # local, 8 pods x 2.5 CPUs on aws.
        "local": {"requestsCpu": "2", "requestsMemory": "4Gi", "limitsCpu": "12", "limitsMemory": "8Gi", "pods": 30},
        "aws": {"requestsCpu": "8", "requestsMemory": "16Gi", "limitsCpu": "32", "limitsMemory": "32Gi", "pods": 100},
    }
    enabled: bool = Field(True, description="Create the quota and limit range.")
    requests_cpu: str = Field(description="Total CPU requests per namespace.")
    requests_memory: str = Field(description="Total memory requests per namespace.")
    limits_cpu: str = Field(description="Total CPU limits per namespace.")
    limits_memory: str = Field(description="Total memory limits per namespace.")
    pods: int = Field(ge=1, le=10000, description="Pods per namespace.")

    @field_validator("requests_cpu", "limits_cpu")
    @classmethod
    def _cpu(cls, value: str) -> str:
        try:
            if cpu_millicores(value) <= 0:
                raise ValueError
        except ValueError:
            raise ValueError("must be a positive CPU quantity, e.g. 2, 500m") from None
        return value

    @field_validator("requests_memory", "limits_memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        try:
            if memory_mib(value) <= 0:
                raise ValueError
        except ValueError:
            raise ValueError("must be a positive memory quantity, e.g. 4Gi, 512Mi") from None
        return value
    default: ResourcesConfig = Field(
        default_factory=lambda: ResourcesConfig.model_validate({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}),
        description="LimitRange defaults for containers that set none.",
    )


class PodSecurityConfig(Model):
    """Pod Security Admission levels of the app namespaces."""

    warn: Literal["privileged", "baseline", "restricted"] = Field("restricted", description="Level that produces warnings.")
    audit: Literal["privileged", "baseline", "restricted"] = Field("restricted", description="Level recorded in the audit log.")


class SecurityConfig(ProfiledModel):
    """`gitops-platform:security`."""

    enabled: bool = Field(True, description="Install the security tooling.")
    trivy: TrivyConfig = Field(description="Trivy Operator.")
    gatekeeper: GatekeeperConfig = Field(description="OPA Gatekeeper and constraints.")
    falco: FalcoConfig = Field(description="Falco and falcosidekick.")
    vault: VaultConfig = Field(description="Vault.")
    pod_security: PodSecurityConfig = Field(default_factory=PodSecurityConfig, description="Pod Security Admission labels.")
    network_isolation: NetworkIsolationConfig = Field(default_factory=NetworkIsolationConfig, description="Default-deny NetworkPolicies.")
    quota: QuotaConfig = Field(description="ResourceQuota and LimitRange.")

    @model_validator(mode="after")
    def _secrets_from_secret_config(self, info: ValidationInfo) -> SecurityConfig:
        if self.falco.slack_webhook_url is not None and given_in_plain_text(info, "security.falco.slackWebhookUrl"):
            raise KeyProblem(
                "falco.slackWebhookUrl",
                "is a secret: remove it from plain config and set it with "
                "`pulumi config set --secret --path gitops-platform:security.falco.slackWebhookUrl <url>`",
                "(plain text)",
            )
        return self

    @model_validator(mode="after")
    def _isolation_matches_enforcement(self) -> SecurityConfig:
        if self.gatekeeper.enabled and not self.network_isolation.enabled and self.gatekeeper.enforcement.namespace_default_deny == "deny":
            raise KeyProblem(
                "gatekeeper.enforcement.namespaceDefaultDeny",
                "is `deny` while networkIsolation.enabled is false: Gatekeeper would refuse every pod in the app namespaces. "
                "Keep networkIsolation on, or set this to `dryrun` (audit only) if you bring your own default-deny policies later",
                "deny",
            )
        return self

    def namespace_labels(self) -> dict[str, str]:
        """Pod Security Admission labels for the app namespaces: enforce `restricted`.

        Istio CNI sets up each injected pod's traffic redirection from the node, so the
        injector adds only the non-root, read-only `istio-validation` init container and the
        proxy: nothing in an app pod needs a capability, root or the host. `warn` and `audit`
        are configurable (both `restricted` by default).
        """
        return pod_security_labels("restricted", warn=self.pod_security.warn, audit=self.pod_security.audit)


# --- constraint library ----------------------------------------------------------------


class _Template:
    """One ConstraintTemplate: the Rego file it runs and the parameters its constraints take."""

    def __init__(
        self,
        rego: str,
        package: str,
        kind: str,
        enforcement_key: str,
        parameters: Mapping[str, Any] | None = None,
        kinds: list[dict[str, Any]] | None = None,
        sync: list[dict[str, str]] | None = None,
        exempt_namespaces: Literal["platform", "host", "none"] = "platform",
    ):
        self.rego, self.package, self.kind, self.enforcement_key = rego, package, kind, enforcement_key
        self.parameters = dict(parameters or {})
        self.kinds = kinds if kinds is not None else _WORKLOAD_KINDS
        """What the constraint matches: workloads unless the rule is about another kind."""
        self.sync = list(sync or [])
        """Kinds (group, version, kind) the Rego reads from Gatekeeper's inventory."""
        self.exempt_namespaces = exempt_namespaces
        """Which namespaces the constraint skips: every platform namespace (`platform`, convention
        rules), only the node agents' (`host`, host-access rules), or none (a rule about objects
        that live in a platform namespace, like Argo CD's AppProjects)."""

    def excluded(self, extra: Sequence[str] = ()) -> list[str]:
        """The constraint's `excludedNamespaces` (plus the configured `extra`)."""
        base = {"platform": EXEMPT_NAMESPACES, "host": tuple(HOST_EXEMPT_NAMESPACES), "none": ()}[self.exempt_namespaces]
        return sorted(set(base) | (set(extra) if base else set()))

    @property
    def name(self) -> str:
        return self.kind.lower()


_STRING_LIST = {"type": "array", "items": {"type": "string"}}

TEMPLATES = (
    _Template("requiredlabels", "k8srequiredlabels", "K8sRequiredLabels", "required_labels", {"labels": _STRING_LIST}),
    _Template("containerlimits", "k8scontainerlimits", "K8sContainerLimits", "container_limits"),
    _Template("allowedrepos", "k8sallowedrepos", "K8sAllowedRepos", "allowed_repos", {"repos": _STRING_LIST}),
    _Template("privileged", "k8spspprivileged", "K8sPSPPrivileged", "no_privileged", exempt_namespaces="host"),
    _Template(
        "capabilities", "k8spspcapabilities", "K8sPSPCapabilities", "drop_capabilities", {"exemptImages": _STRING_LIST, "allowedCapabilities": _STRING_LIST},
        exempt_namespaces="host",
    ),
    _Template("seccomp", "k8spspseccomp", "K8sPSPSeccomp", "seccomp", exempt_namespaces="host"),
    _Template(
        "networkpolicytypes", "k8snetworkpolicytypes", "K8sNetworkPolicyTypes", "network_policy_types",
        kinds=[{"apiGroups": ["networking.k8s.io"], "kinds": ["NetworkPolicy"]}],
    ),
    _Template(
        "namespacedefaultdeny", "k8snamespacedefaultdeny", "K8sNamespaceDefaultDeny", "namespace_default_deny",
        kinds=[{"apiGroups": [""], "kinds": ["Pod"]}],
        sync=[{"group": "networking.k8s.io", "version": "v1", "kind": "NetworkPolicy"}],
    ),
    _Template(
        "appprojectconfined", "k8sappprojectconfined", "K8sAppProjectConfined", "app_project_confined",
        kinds=[{"apiGroups": ["argoproj.io"], "kinds": ["AppProject"]}], exempt_namespaces="none",
    ),
    _Template(
        "privilegeescalation", "k8spspallowprivilegeescalationcontainer", "K8sPSPAllowPrivilegeEscalationContainer", "no_privilege_escalation",
        exempt_namespaces="host",
    ),
    _Template(
        "readonlyrootfs", "k8sreadonlyrootfilesystem", "K8sReadOnlyRootFilesystem", "read_only_root_filesystem", {"exemptImages": _STRING_LIST},
        exempt_namespaces="host",
    ),
    _Template("disallowedtags", "k8sdisallowedtags", "K8sDisallowedTags", "disallowed_tags"),
    _Template("hostnamespaces", "k8shostnamespaces", "K8sHostNamespaces", "host_namespaces", exempt_namespaces="host"),
    _Template("hostpath", "k8shostpath", "K8sHostPath", "host_path", exempt_namespaces="host"),
    _Template("runasnonroot", "k8srunasnonroot", "K8sRunAsNonRoot", "run_as_non_root", {"exemptImages": _STRING_LIST}, exempt_namespaces="host"),
)


def constraint_template(template: _Template) -> dict[str, Any]:
    """The ConstraintTemplate document for `template` (its Rego from policies/rego)."""
    metadata: dict[str, Any] = {"name": template.name}
    if template.sync:
        # Gatekeeper reports the template's data needs against what is synced.
        needs = [{"groups": [g["group"]], "versions": [g["version"]], "kinds": [g["kind"]]} for g in template.sync]
        metadata["annotations"] = {"metadata.gatekeeper.sh/requires-sync-data": json.dumps([needs])}
    return {
        "metadata": metadata,
        "spec": {
            "crd": {
                "spec": {
                    "names": {"kind": template.kind},
                    "validation": {"openAPIV3Schema": {"type": "object", "properties": template.parameters}},
                }
            },
            "targets": [
                {
                    "target": "admission.k8s.gatekeeper.sh",
                    "rego": rego_source(template.rego),
                    "libs": [rego_source("lib/workload")],
                }
            ],
        },
    }


def _with_upstream(registry_prefixes: Sequence[pulumi.Input[str]], upstream: Sequence[str]) -> pulumi.Output[list[str]]:
    """The stack's registry prefixes (Outputs on aws) plus the configured upstream ones, sorted."""
    return pulumi.Output.all(*registry_prefixes).apply(lambda own: sorted(set(own) | set(upstream)))


def constraint_parameters(template: _Template, config: GatekeeperConfig, registry_prefixes: Sequence[pulumi.Input[str]]) -> dict[str, Any] | None:
    if template.rego == "requiredlabels":
        return {"labels": config.required_labels}
    if template.rego == "allowedrepos":
        return {"repos": _with_upstream(registry_prefixes, config.upstream_registries)}
    parameters: dict[str, Any] = {}
    if "exemptImages" in template.parameters:
        parameters["exemptImages"] = config.exempt_images
    if "allowedCapabilities" in template.parameters:
        parameters["allowedCapabilities"] = config.allowed_capabilities
    return parameters or None


# --- the component ------------------------------------------------------------------------


class SecurityStack(pulumi.ComponentResource):
    """Trivy Operator, OPA Gatekeeper (+ constraint library), Falco, Vault and app-namespace hardening.

    Chart choice: Gatekeeper and Vault are `helm.v3.Release`s — Gatekeeper's chart relies
    on hooks (its CRD-upgrade job, namespace labelling, webhook cleanup on uninstall) and
    Vault's ships a `helm test` pod that v4 would create as a plain pod. Trivy and Falco
    have no hooks and are `helm.v4.Chart`s, so their objects are visible to the engine
    and the policy pack (their namespaces are exempt from the app rules).
    """

    constraint_kinds: list[str]
    """Constraint kinds installed (for dashboards and alerts on violations)."""
    vault_access: VaultAccess | None
    """How services reach Vault (None without Vault)."""
    vault_ready: list[pulumi.Resource]
    """What services reading Vault secrets wait for: the bootstrap Job (auth method, configurator role)."""

    def __init__(
        self,
        name: str,
        config: SecurityConfig,
        *,
        registry_prefixes: Sequence[pulumi.Input[str]] = (),
        app_namespaces: Mapping[str, pulumi.Input[str]] | None = None,
        alertmanager_url: pulumi.Input[str] | None = None,
        service_monitors: bool = False,
        monitoring_ready: Sequence[pulumi.Resource] = (),
        namespaces: Sequence[pulumi.Resource] = (),
        isolation: Sequence[NamespaceIsolation] | None = None,
        api_server_cidrs: Sequence[str] = ("0.0.0.0/0",),
        tracing_port: int | None = None,
        certificates: CertManager | None = None,
        eks: EksCluster | None = None,
        region: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`eks`, `region`: on aws, HA Vault auto-unseals with a KMS key created here, used
        through an IRSA role of this cluster that may only encrypt and decrypt with that key.
        `registry_prefixes`: the stack's own registry (e.g. `localhost:5001/`), allowed besides
        the configured upstream ones. `app_namespaces`: namespaces to harden (created elsewhere).
        `alertmanager_url`: where falcosidekick sends alerts. `service_monitors`: create
        ServiceMonitors (when the Prometheus operator is installed); `monitoring_ready`: what
        installs the ServiceMonitor CRD, which the charts creating ServiceMonitors wait for.
        `namespaces`: the Namespaces other components create, which Gatekeeper installs after.
        `isolation`: what each platform namespace must let through (default: this component's
        own namespaces, `security_isolation`); with `networkIsolation.enabled` each becomes a
        default-deny NetworkPolicy set. `api_server_cidrs`: where those pods reach the API server
        (`networkIsolation.apiServerCidrs` wins). `tracing_port`: the tracing collector's port
        in the monitoring namespace, which the app namespaces' sidecars may reach. `certificates`:
        issues Vault's listener certificate (ha) from the platform CA when tlsSecretName is unset."""
        super().__init__("gitops-platform:index:SecurityStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.constraint_kinds = []
        self.vault_access, self.vault_ready = None, []

        def namespace(ns: str, level: Level, reason: str | None = None) -> k8s.core.v1.Namespace:
            return k8s.core.v1.Namespace(f"{name}-ns-{ns}", metadata=namespace_metadata(ns, level, reason), opts=child)

        own: list[pulumi.Resource] = []
        created: dict[str, pulumi.Resource] = {}
        if config.trivy.enabled:
            trivy_ns = created[TRIVY_NAMESPACE] = namespace(TRIVY_NAMESPACE, *trivy_level(config.trivy))
            own.append(trivy_ns)
            install_chart(f"{name}-trivy", CHARTS["trivy-operator"], TRIVY_NAMESPACE, trivy_values(config.trivy, service_monitors),
                   pulumi.ResourceOptions(parent=self, depends_on=[trivy_ns, *monitoring_ready]), "trivy-operator")
        if config.falco.enabled:
            falco_ns = created[FALCO_NAMESPACE] = namespace(FALCO_NAMESPACE, "privileged", NODE_AGENT_REASONS[FALCO_NAMESPACE])
            own.append(falco_ns)
            self._falco(name, config.falco, registry_prefixes, [*config.gatekeeper.upstream_registries, *image_sources(), *VAULT_JOB_IMAGES], alertmanager_url,
                        service_monitors, [falco_ns, *monitoring_ready], sorted(app_namespaces or {}))
        if config.vault.enabled:
            vault_ns = created[VAULT_NAMESPACE] = namespace(
                VAULT_NAMESPACE, *(("privileged", NODE_AGENT_REASONS[VAULT_NAMESPACE])
                                   if config.vault.csi else ("restricted", None))
            )
            own.append(vault_ns)
            self._vault(name, config.vault, vault_ns, certificates, eks, region)
        if config.gatekeeper.enabled:
            created[GATEKEEPER_NAMESPACE] = self._gatekeeper(name, config.gatekeeper, registry_prefixes, [*namespaces, *own])
        self._harden(name, config, app_namespaces or {}, tracing_port)
        if config.network_isolation.enabled:
            declared = security_isolation(config, sorted(app_namespaces or {}), auto_unseal=eks is not None) if isolation is None else isolation
            self._isolate(name, config.network_isolation, declared, created, config.network_isolation.api_server_cidrs or api_server_cidrs)
        self.register_outputs({"constraint_kinds": self.constraint_kinds})

    def _gatekeeper(
        self, name: str, config: GatekeeperConfig, registry_prefixes: Sequence[pulumi.Input[str]], namespaces: Sequence[pulumi.Resource]
    ) -> pulumi.Resource:
        """The release, its templates and constraints; returns the release (which creates gatekeeper-system)."""
        # Only the cluster's namespaces are labelled `admission.gatekeeper.sh/ignore` (the webhook
        # never sees them); every other exemption is a constraint's excludedNamespaces.
        exempt = list(CLUSTER_NAMESPACES)
        # Helm creates gatekeeper-system (and the chart's post-install hook labels it for
        # Pod Security and webhook exemption); keeping a Namespace resource out of the chain
        # holds the constraint path to release -> template -> constraint. Helm leaves the
        # empty namespace behind on destroy.
        release = install_release(
            f"{name}-gatekeeper",
            CHARTS["gatekeeper"],
            GATEKEEPER_NAMESPACE,
            gatekeeper_values(config, exempt),
            # Installed after every namespace the platform creates, as the anchor platforms
            # install Gatekeeper last: its namespace webhook (check-ignore-label) fails
            # closed, so a Namespace created while Gatekeeper starts would be refused.
            pulumi.ResourceOptions(parent=self, depends_on=list(namespaces)),
            "gatekeeper",
            create_namespace=True,
        )
        synced = [gvk for template in TEMPLATES for gvk in template.sync]
        if synced:
            # What the referential templates read from data.inventory.
            k8s.apiextensions.CustomResource(
                f"{name}-syncset",
                api_version="syncset.gatekeeper.sh/v1alpha1",
                kind="SyncSet",
                metadata={"name": "platform-referential-data"},
                spec={"gvks": synced},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[release]),  # the SyncSet CRD
            )
        for template in TEMPLATES:
            document = constraint_template(template)
            created = k8s.apiextensions.CustomResource(
                f"{name}-template-{template.rego}",
                api_version="templates.gatekeeper.sh/v1",
                kind="ConstraintTemplate",
                metadata={
                    **document["metadata"],
                    # Gatekeeper creates the constraint's CRD once it has compiled the Rego and
                    # then sets status.created; waiting for it means the constraint below is
                    # never applied before its kind exists.
                    "annotations": {**document["metadata"].get("annotations", {}), "pulumi.com/waitFor": "jsonpath={.status.created}=true"},
                },
                spec=document["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[release]),  # the ConstraintTemplate CRD
            )
            spec: dict[str, Any] = {
                "enforcementAction": getattr(config.enforcement, template.enforcement_key),
                "match": {"kinds": template.kinds, **({"excludedNamespaces": excluded} if (excluded := template.excluded(config.exempt_namespaces)) else {})},
            }
            parameters = constraint_parameters(template, config, registry_prefixes)
            if parameters is not None:
                spec["parameters"] = parameters
            k8s.apiextensions.CustomResource(
                f"{name}-constraint-{template.rego}",
                api_version="constraints.gatekeeper.sh/v1beta1",
                kind=template.kind,
                metadata={"name": f"platform-{template.rego}"},
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[created]),
            )
            self.constraint_kinds.append(template.kind)
        return cast(pulumi.Resource, release)

    def _falco(
        self,
        name: str,
        config: FalcoConfig,
        registry_prefixes: Sequence[pulumi.Input[str]],
        upstream: Sequence[str],
        alertmanager_url: pulumi.Input[str] | None,
        service_monitors: bool,
        after: list[pulumi.Resource],
        app_namespaces: Sequence[str] = (),
    ) -> None:
        """Falco and falcosidekick. `upstream`: repository prefixes allowed besides the stack's
        registry (the configured upstream registries and every platform chart's image sources)."""
        secret_name = None
        if config.slack_webhook_url is not None:
            # The webhook stays out of Helm values: falcosidekick reads it from this Secret's env.
            secret = k8s.core.v1.Secret(
                f"{name}-falcosidekick-slack",
                metadata={"name": "falcosidekick-slack", "namespace": FALCO_NAMESPACE},
                string_data={"SLACK_WEBHOOKURL": pulumi.Output.secret(config.slack_webhook_url)},
                opts=pulumi.ResourceOptions(parent=self, depends_on=after[:1]),
            )
            secret_name = secret.metadata.apply(lambda m: m["name"])
        approved = _with_upstream(registry_prefixes, upstream)
        install_chart(
            f"{name}-falco",
            CHARTS["falco"],
            FALCO_NAMESPACE,
            falco_values(config, approved, alertmanager_url, secret_name, service_monitors, app_namespaces),
            pulumi.ResourceOptions(parent=self, depends_on=after),
            "falco",
        )

    def _vault(
        self, name: str, config: VaultConfig, vault_ns: k8s.core.v1.Namespace, certificates: CertManager | None, eks: EksCluster | None, region: str | None
    ) -> None:
        """Vault (its TLS from the platform CA in ha mode, KMS auto-unseal on aws) and the Secrets Store CSI driver."""
        vault_after: list[pulumi.Resource] = [vault_ns]
        issued = config.mode == "ha" and config.tls_secret_name is None
        if issued and certificates is None:
            raise ValueError("security.vault in ha mode needs tlsSecretName, or `certificates` (a CertManager) to issue its TLS")
        if issued and certificates is not None:
            # Vault's pods mount the Secret at start: the engine waits until it is issued.
            vault_after.append(
                certificates.certificate(
                    f"{name}-vault-tls", namespace=vault_ns.metadata.apply(lambda m: m["name"]), secret_name=VAULT_TLS_SECRET,
                    issuer=certificates.internal_issuer, dns_names=vault_dns_names(), common_name="vault", wait=True, parent=self,
                )
            )
        unseal = self._vault_unseal(name, eks, region) if config.mode == "ha" and eks is not None else None
        install_release(
            f"{name}-vault", CHARTS["vault"], VAULT_NAMESPACE, vault_values(config, VAULT_TLS_SECRET if issued else None, unseal),
            pulumi.ResourceOptions(parent=self, depends_on=vault_after), "vault",
        )
        self.vault_access = DEV_ACCESS if config.mode == "dev" else VaultAccess(ca_secret=config.tls_secret_name or VAULT_TLS_SECRET)
        self.vault_ready = [self._vault_bootstrap(name, config, vault_ns)]
        if config.csi:
            # The kubelet's side of secrets-as-volumes: Vault's CSI provider plugs into it, and
            # its CRDs (SecretProviderClass) come first for the services that declare secrets.
            self.vault_ready.append(install_chart(
                f"{name}-secrets-store-csi", CHARTS["secrets-store-csi-driver"], "kube-system",
                secrets_store_csi_values(config), pulumi.ResourceOptions(parent=self), "secrets-store-csi-driver",
            ))

    def _vault_bootstrap(self, name: str, config: VaultConfig, vault_ns: k8s.core.v1.Namespace) -> pulumi.Resource:
        """The configurator's ServiceAccount (and, ha, its right to store the recovery keys) and the bootstrap Job."""
        child = pulumi.ResourceOptions(parent=self, depends_on=[vault_ns])
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
        access = self.vault_access or DEV_ACCESS
        first = access if config.mode == "dev" else VaultAccess(address="https://vault-0.vault-internal.vault.svc:8200", ca_secret=access.ca_secret)
        job: pulumi.Resource = k8s.batch.v1.Job(
            f"{name}-vault-bootstrap",
            metadata={"name": "vault-bootstrap", "namespace": VAULT_NAMESPACE},
            spec=job_spec(bootstrap_script(config.mode), first, store_recovery_keys=config.mode == "ha"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after, replace_on_changes=["spec"], delete_before_replace=True),
        )
        return job

    def _vault_unseal(self, name: str, eks: EksCluster, region: str | None) -> AutoUnseal:
        """Vault's auto-unseal: a KMS key (rotated yearly, protected: losing it loses the data) and
        an IRSA role for Vault's ServiceAccount allowed only to use that key."""
        if region is None:
            raise ValueError("SecurityStack needs the region for Vault's KMS auto-unseal")
        key = aws.kms.Key(
            f"{name}-vault-unseal",
            description="Vault auto-unseal (gitops-platform): wraps Vault's root key",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        aws.kms.Alias(
            f"{name}-vault-unseal-alias", name=eks.cluster_name.apply(lambda c: f"alias/{c}-vault-unseal"), target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        policy = key.arn.apply(lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "UnsealWithThisKeyOnly", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], "Resource": arn},
        ]}))
        role = eks.irsa_role("vault-unseal", namespace=VAULT_NAMESPACE, service_account=VAULT_SERVICE_ACCOUNT, policy=policy)
        return AutoUnseal(region=region, key_id=key.key_id, role_arn=role.arn)

    def _isolate(
        self,
        name: str,
        config: NetworkIsolationConfig,
        declared: Sequence[NamespaceIsolation],
        created: Mapping[str, pulumi.Resource],
        api_server_cidrs: Sequence[str],
    ) -> None:
        """Each declared platform namespace: default deny, and the flows it declares."""
        for isolation in declared:
            ns = isolation.namespace
            if isolation.namespace_input is not None:
                namespace_input, opts = isolation.namespace_input, pulumi.ResourceOptions(parent=self)
            elif ns in created:
                namespace_input, opts = ns, pulumi.ResourceOptions(parent=self, depends_on=[created[ns]])
            else:
                raise ValueError(f"NamespaceIsolation {ns!r} has no namespace_input and SecurityStack does not create that namespace")
            for policy_name, (spec, reason) in isolation_policies(isolation, config.monitoring_namespace, api_server_cidrs).items():
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-{ns}-{policy_name}",
                    metadata={"name": policy_name, "namespace": namespace_input, "annotations": {REASON_ANNOTATION: reason}},
                    spec=spec,
                    opts=opts,
                )

    def _harden(self, name: str, config: SecurityConfig, app_namespaces: Mapping[str, pulumi.Input[str]], tracing_port: int | None) -> None:
        """NetworkPolicies, quota and limit range in every app namespace.

        `app_namespaces` maps each name (plain config, so resource names are stable) to an
        Output of the namespace resource, so everything here waits for its namespace.
        """
        child = pulumi.ResourceOptions(parent=self)
        isolation, quota = config.network_isolation, config.quota
        for ns, ns_input in sorted(app_namespaces.items()):
            if isolation.enabled:
                for policy_name, spec in app_namespace_policies(isolation.monitoring_namespace, INGRESS_NAMESPACE, ISTIO_NAMESPACE, tracing_port).items():
                    k8s.networking.v1.NetworkPolicy(
                        f"{name}-{ns}-{policy_name}", metadata={"name": policy_name, "namespace": ns_input}, spec=spec, opts=child
                    )
            if quota.enabled:
                k8s.core.v1.ResourceQuota(
                    f"{name}-{ns}-quota",
                    metadata={"name": "platform-quota", "namespace": ns_input},
                    spec={
                        "hard": {
                            "requests.cpu": quota.requests_cpu,
                            "requests.memory": quota.requests_memory,
                            "limits.cpu": quota.limits_cpu,
                            "limits.memory": quota.limits_memory,
                            "pods": str(quota.pods),
                        }
                    },
                    opts=child,
                )
                k8s.core.v1.LimitRange(
                    f"{name}-{ns}-limits",
                    metadata={"name": "platform-defaults", "namespace": ns_input},
                    spec={
                        "limits": [
                            {"type": "Container", "default": quota.default.limits.model_dump(), "defaultRequest": quota.default.requests.model_dump()}
                        ]
                    },
                    opts=child,
                )


def trivy_level(config: TrivyConfig) -> tuple[Level, str | None]:
    """trivy-system's Pod Security level and its reason: its scan jobs run as non-root
    (`trivy_values`); the infra assessment's node-collector jobs read the node's files."""
    if config.scanners.infra_assessment:
        return "privileged", NODE_AGENT_REASONS[TRIVY_NAMESPACE]
    return "restricted", None


def security_isolation(config: SecurityConfig, app_namespaces: Sequence[str], *, auto_unseal: bool = False) -> list[NamespaceIsolation]:
    """What the security tooling's namespaces must let through (see `components.netpol`).
    `auto_unseal`: HA Vault reaches AWS KMS and STS (its IRSA token) on 443."""
    out = []
    if config.trivy.enabled:
        out.append(NamespaceIsolation(TRIVY_NAMESPACE, external={"Trivy downloads its vulnerability databases and reads images from registries": (443,)}))
    if config.falco.enabled:
        out.append(NamespaceIsolation(FALCO_NAMESPACE, external={"falcoctl follows the rules artifacts; falcosidekick posts to Slack": (443,)}))
    if config.vault.enabled:
        out.append(
            NamespaceIsolation(
                VAULT_NAMESPACE,
                api_server_ports=(VAULT_INJECTOR_PORT,) if config.vault.injector else (),
                callers=tuple(Peer(ns, (VAULT_PORT,), "apps and their Vault agents read secrets") for ns in app_namespaces),
                external={"Vault unseals with AWS KMS and exchanges its IRSA token at STS": (443,)}
                if auto_unseal and config.vault.mode == "ha" else {},
            )
        )
    if config.gatekeeper.enabled:
        out.append(NamespaceIsolation(GATEKEEPER_NAMESPACE, api_server_ports=(GATEKEEPER_WEBHOOK_PORT,)))
    return out


# --- chart values and policies -------------------------------------------------------------


def gatekeeper_values(config: GatekeeperConfig, exempt: Sequence[str]) -> dict[str, Any]:
    """Gatekeeper's webhook cannot block the rest of the platform while it installs: it
    fails open (`Ignore`) if Gatekeeper is down, skips the exempt namespaces, and the
    constraints exclude them too.

    The chart's post-install hook labels namespaces `admission.gatekeeper.sh/ignore` with
    `kubectl label ns`; it fails (and the atomic release rolls back) on a namespace that
    does not exist yet. The platform's own namespaces are created in parallel with
    Gatekeeper, and some only on one stack, so the hook labels only the namespaces every
    cluster has from the start; the others are exempt through the constraints'
    `excludedNamespaces` and the webhook fails open.
    """
    return {
        "replicas": config.replicas,
        # The chart always creates this PodDisruptionBudget: with one replica, minAvailable 1
        # would block every node drain.
        "pdb": {"controllerManager": {"minAvailable": min(1, config.replicas - 1)}},
        "auditInterval": config.audit_interval_seconds,
        "validatingWebhookFailurePolicy": "Ignore",
        "controllerManager": {"exemptNamespaces": list(exempt), "resources": config.resources.values()},
        "audit": {"resources": config.audit_resources.values()},
        "postInstall": {"labelNamespace": {"extraNamespaces": list(exempt)}, "resources": HOOK_JOB_RESOURCES},
        "crds": {"resources": HOOK_JOB_RESOURCES},
    }


def trivy_values(config: TrivyConfig, service_monitors: bool) -> dict[str, Any]:
    scanners = config.scanners
    return {
        "operator": {
            "scanJobsConcurrentLimit": config.scan_jobs_concurrent_limit,
            "scanJobTimeout": f"{config.scan_job_timeout_minutes}m",
            "vulnerabilityScannerEnabled": scanners.vulnerability,
            "configAuditScannerEnabled": scanners.config_audit,
            "rbacAssessmentScannerEnabled": scanners.rbac_assessment,
            "infraAssessmentScannerEnabled": scanners.infra_assessment,
            "exposedSecretScannerEnabled": scanners.exposed_secrets,
            "sbomGenerationEnabled": scanners.sbom,
            "clusterComplianceEnabled": bool(config.compliance_specs),
        },
        "trivyOperator": {
            # Scan jobs run as non-root with the runtime's seccomp profile (the chart already drops
            # every capability and makes the root filesystem read-only): trivy-system passes
            # `restricted` unless the infra assessment's node-collector needs the host.
            "scanJobPodTemplatePodSecurityContext": {
                "runAsNonRoot": True, "runAsUser": 10000, "runAsGroup": 10000, "seccompProfile": {"type": "RuntimeDefault"},
            },
        },
        "trivy": {
            "ignoreUnfixed": config.ignore_unfixed,
            "severity": ",".join(s for s in _SEVERITIES if s in config.severities),
            "resources": config.scan_job_resources.values(),
        },
        "compliance": {"specs": list(config.compliance_specs)},
        "serviceMonitor": {"enabled": service_monitors},
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": config.resources.values(),
    }


PRIVATE_NETWORKS = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10")
"""Addresses that are not the internet: loopback, RFC 1918, carrier-grade NAT (EKS pods), link-local."""


def falco_rules(approved_registries: Sequence[str], app_namespaces: Sequence[str] = (), egress_hosts: Sequence[str] = ()) -> str:
    """The platform's custom Falco rules (in addition to Falco's default ruleset).

    `approved_registries`: repository path prefixes containers may come from (the stack's
    registry, the upstream ones and every chart's `images`); `app_namespaces`: where the
    undeclared-egress rule watches; `egress_hosts`: names it accepts (matched exactly).
    """
    registries = ", ".join(f'"{r.rstrip("/")}"' for r in approved_registries)
    declared = sorted({h[2:] if h.startswith("*.") else h for h in egress_hosts})
    private = ", ".join(f'"{n}"' for n in PRIVATE_NETWORKS)
    items: list[dict[str, Any]] = [
        {
            "macro": "platform_internet_connect",
            "condition": "evt.type = connect and evt.dir = < and (fd.typechar = 4 or fd.typechar = 6) and "
            f"not fd.snet in ({private}) and (evt.rawres >= 0 or evt.res = EINPROGRESS)",
        },
        {"list": "platform_app_namespaces", "items": sorted(app_namespaces)},
    ]
    undeclared = "platform_internet_connect and container and k8s.ns.name in (platform_app_namespaces)"
    if declared:
        items.append({"list": "platform_declared_egress_hosts", "items": declared})
        undeclared += " and not fd.sip.name in (platform_declared_egress_hosts)"
    rules = [
        {
            "rule": "Shell spawned in a platform container",
            "desc": "An interactive shell started inside a container: someone is exec'ing in, or a process was compromised.",
            "condition": "spawned_process and container and proc.name in (bash, sh, zsh, ash, dash) and proc.tty != 0",
            "output": "Shell in container (user=%user.name container=%container.name image=%container.image.repository cmd=%proc.cmdline k8s_ns=%k8s.ns.name k8s_pod=%k8s.pod.name)",
            "priority": "WARNING",
            "tags": ["container", "shell", "mitre_execution"],
        },
        {
            "rule": "Sensitive file read in a container",
            "desc": "A process read credentials or key material (shadow file, SSH keys, service-account tokens of other pods).",
            "condition": "open_read and container and (fd.name in (/etc/shadow, /etc/sudoers) or fd.name startswith /root/.ssh/ or fd.name startswith /etc/kubernetes/pki/)",
            "output": "Sensitive file opened (file=%fd.name user=%user.name container=%container.name image=%container.image.repository k8s_ns=%k8s.ns.name k8s_pod=%k8s.pod.name)",
            "priority": "ERROR",
            "tags": ["filesystem", "mitre_credential_access"],
        },
        {
            "rule": "Crypto mining activity",
            "desc": "A known miner binary runs, or a process connects to a mining pool (stratum).",
            "condition": "spawned_process and container and (proc.name in (xmrig, minerd, cpuminer, ethminer) or proc.cmdline contains \"stratum+tcp\")",
            "output": "Crypto miner (proc=%proc.cmdline container=%container.name image=%container.image.repository k8s_ns=%k8s.ns.name k8s_pod=%k8s.pod.name)",
            "priority": "CRITICAL",
            "tags": ["mitre_impact", "cryptomining"],
        },
        {
            "rule": "Container from an unapproved registry",
            "desc": "A container started from an image outside the platform's approved registries.",
            "condition": f"container_started and container and not container.image.repository pmatch ({registries})",
            "output": "Unapproved image (image=%container.image.repository:%container.image.tag container=%container.name k8s_ns=%k8s.ns.name k8s_pod=%k8s.pod.name)",
            "priority": "WARNING",
            "tags": ["container", "supply_chain"],
        },
    ]
    if app_namespaces:
        rules.append(
            {
                "rule": "Undeclared egress from an app namespace",
                "desc": "A container in an app namespace connected to an internet address whose name no service declared in its egress.",
                "condition": undeclared,
                "output": "Undeclared egress (connection=%fd.name server=%fd.sip.name container=%container.name image=%container.image.repository "
                "k8s_ns=%k8s.ns.name k8s_pod=%k8s.pod.name)",
                "priority": "WARNING",
                "tags": ["network", "mitre_exfiltration"],
            }
        )
    return yaml.safe_dump([*items, *rules], sort_keys=False, width=200)


def falco_values(
    config: FalcoConfig,
    approved_registries: pulumi.Input[Sequence[str]],
    alertmanager_url: pulumi.Input[str] | None,
    slack_secret: pulumi.Input[str] | None,
    service_monitors: bool,
    app_namespaces: Sequence[str] = (),
) -> dict[str, Any]:
    # No TLS server, so no second plain-HTTP port: the chart's default notlspaths ("/ping")
    # would still add a Service port for it that no container declares (no endpoints).
    sidekick_config: dict[str, Any] = {"tlsserver": {"notlspaths": ""}}
    if alertmanager_url is not None:
        sidekick_config["alertmanager"] = {"hostport": alertmanager_url, "minimumpriority": config.minimum_priority}
    if slack_secret is not None:
        sidekick_config["existingSecret"] = slack_secret
        sidekick_config["slack"] = {"minimumpriority": config.minimum_priority}
    return {
        # modern eBPF needs no kernel module or headers; least privilege = capabilities, not privileged.
        "driver": {"kind": "modern_ebpf", "modernEbpf": {"leastPrivileged": True}},
        "tty": True,
        "falco": {"json_output": True, "json_include_output_property": True},
        "customRules": {
            "platform-rules.yaml": pulumi.Output.from_input(approved_registries).apply(
                lambda registries: falco_rules(registries, app_namespaces, config.egress_hosts)
            )
        },
        "resources": config.resources.values(),
        # falcoctl fetches and follows the rules artifacts beside Falco.
        "falcoctl": {"artifact": {"install": {"resources": HOOK_JOB_RESOURCES}, "follow": {"resources": HOOK_JOB_RESOURCES}}},
        "serviceMonitor": {"create": service_monitors},
        # Falco's metrics endpoint and its Service: what that ServiceMonitor scrapes.
        "metrics": {"enabled": service_monitors},
        "falcosidekick": {
            "enabled": True,
            "replicaCount": config.sidekick_replicas,
            "resources": config.sidekick_resources.values(),
            "serviceMonitor": {"enabled": service_monitors},
            "config": sidekick_config,
        },
    }


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
