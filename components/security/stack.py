"""SecurityStack: Trivy, Gatekeeper with the platform's constraint library, Falco, Vault, hardened namespaces.

    security = SecurityStack("security", SecurityConfig.for_environment("local"),
                             registry_prefixes=["localhost:5001/"], app_namespaces=mesh.app_namespaces,
                             opts=pulumi.ResourceOptions(providers={"kubernetes": provider}))

Each tool is its own module (configuration, chart values, install); this one holds the
component, the app-namespace hardening and the platform namespaces' isolation.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..charts import image_sources
from ..model import KeyProblem, Model, ProfiledModel, Profiles, ResourcesConfig, given_in_plain_text
from ..netpol import REASON_ANNOTATION, NamespaceIsolation, Peer, app_namespace_policies, isolation_policies
from ..podsecurity import NODE_AGENT_REASONS, Level, namespace_metadata, pod_security_labels
from ..quantity import cpu_millicores, memory_mib
from .common import INGRESS_NAMESPACE, ISTIO_NAMESPACE, dns_labels
from .falco import FALCO_NAMESPACE, FalcoConfig, install_falco
from .gatekeeper import GATEKEEPER_NAMESPACE, GATEKEEPER_WEBHOOK_PORT, GatekeeperConfig, install_gatekeeper
from .trivy import TRIVY_NAMESPACE, TrivyConfig, install_trivy, trivy_level
from .vault import VAULT_INJECTOR_PORT, VAULT_NAMESPACE, VAULT_PORT, VaultConfig, install_vault
from .vault_access import IMAGE_SOURCES as VAULT_JOB_IMAGES
from .vault_access import VaultAccess

if TYPE_CHECKING:
    from ..certificates import CertManager
    from ..eks import EksCluster

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
        dns_labels([value], "namespace names")
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
            install_trivy(name, config.trivy, service_monitors, [trivy_ns, *monitoring_ready], self)
        if config.falco.enabled:
            falco_ns = created[FALCO_NAMESPACE] = namespace(FALCO_NAMESPACE, "privileged", NODE_AGENT_REASONS[FALCO_NAMESPACE])
            own.append(falco_ns)
            install_falco(name, config.falco, registry_prefixes, [*config.gatekeeper.upstream_registries, *image_sources(), *VAULT_JOB_IMAGES],
                          alertmanager_url, service_monitors, [falco_ns, *monitoring_ready], sorted(app_namespaces or {}), parent=self)
        if config.vault.enabled:
            vault_ns = created[VAULT_NAMESPACE] = namespace(
                VAULT_NAMESPACE, *(("privileged", NODE_AGENT_REASONS[VAULT_NAMESPACE])
                                   if config.vault.csi else ("restricted", None))
            )
            own.append(vault_ns)
            self.vault_access, self.vault_ready = install_vault(name, config.vault, vault_ns, certificates, eks, region, parent=self)
        if config.gatekeeper.enabled:
            created[GATEKEEPER_NAMESPACE], self.constraint_kinds = install_gatekeeper(
                name, config.gatekeeper, registry_prefixes, [*namespaces, *own], self
            )
        self._harden(name, config, app_namespaces or {}, tracing_port)
        if config.network_isolation.enabled:
            declared = security_isolation(config, sorted(app_namespaces or {}), auto_unseal=eks is not None) if isolation is None else isolation
            self._isolate(name, config.network_isolation, declared, created, config.network_isolation.api_server_cidrs or api_server_cidrs)
        self.register_outputs({"constraint_kinds": self.constraint_kinds})


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
