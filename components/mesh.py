"""MeshStack: Istio installed, hardened (STRICT mTLS), observable, and safe to depend on.

    mesh = MeshStack("mesh", MeshConfig.for_environment("local"), node_ports=(30080, 30443),
                     opts=pulumi.ResourceOptions(providers={"kubernetes": provider}))
    app = k8s.apps.v1.Deployment(..., opts=pulumi.ResourceOptions(depends_on=mesh.ready))
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls
from pydantic import Field, ValidationInfo, field_validator, model_validator

from .certificates import CertManager
from .charts import CHARTS, install_chart
from .model import DNS_LABEL, TRUST_DOMAIN, KeyProblem, ProfiledModel, Profiles, ResourcesConfig, ScalingConfig
from .netpol import ANY_NAMESPACE, NamespaceIsolation, Peer
from .podsecurity import pod_security_labels

ISTIO_NAMESPACE = "istio-system"
CNI_NAMESPACE = "kube-system"
"""Where the Istio CNI node agent runs: beside the cluster's own CNI agents (kindnet, aws-node),
in the namespace that already admits privileged node agents, so istio-system stays `restricted`."""
INGRESS_NAMESPACE = "istio-ingress"
GATEWAY_TLS_SECRET = "gateway-tls"
ISTIOD_WEBHOOK_PORT = 15017
"""istiod's container port behind its Service's 443 (injection and validation webhooks)."""
INGRESS_LABEL = "ingressgateway"
"""Value of the `istio` label on the ingress gateway pods (what the main Gateway selects)."""
EGRESS_LABEL = "egressgateway"
TRACING_PROVIDER = "otel-tracing"
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", ISTIO_NAMESPACE, INGRESS_NAMESPACE})

_GATEWAY_HOST = re.compile(r"^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$")

_SMALL = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


class ControlPlaneConfig(ProfiledModel):
    """istiod: replicas (autoscaled between the bounds) and resources."""

    PROFILES: ClassVar[Profiles] = {
        "local": {"scaling": {"minReplicas": 1, "maxReplicas": 1}, "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
        "aws": {"scaling": {"minReplicas": 2, "maxReplicas": 5}, "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}},
    }
    scaling: ScalingConfig = Field(description="istiod replicas: local 1; aws 2–5 (HPA on CPU).")
    resources: ResourcesConfig = Field(description="istiod requests/limits: local 100m/256Mi; aws 500m/2Gi.")


class CniConfig(ProfiledModel):
    """Istio CNI: the node agent that sets up each injected pod's traffic redirection, so no pod needs NET_ADMIN."""

    PROFILES: ClassVar[Profiles] = {
        "local": {"resources": {"requests": {"cpu": "10m", "memory": "40Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}},
        "aws": {"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}},
    }
    resources: ResourcesConfig = Field(description="Requests/limits of the CNI node agent (per node): local 10m/40Mi, aws 50m/64Mi.")


class GatewayConfig(ProfiledModel):
    """The ingress gateway and the main `Gateway` (HTTP redirects to HTTPS; HTTPS terminates TLS)."""

    PROFILES: ClassVar[Profiles] = {
        "local": {"scaling": {"minReplicas": 1, "maxReplicas": 1}, "resources": _SMALL},
        "aws": {"scaling": {"minReplicas": 2, "maxReplicas": 5}, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}},
    }
    hosts: list[str] = Field(default_factory=lambda: ["*"], min_length=1, description="Hosts the HTTPS server accepts (`*` = any; VirtualServices pick their host).")
    credential_name: str | None = Field(
        None,
        description="Name of a `kubernetes.io/tls` Secret in istio-ingress that you create, with tls.gatewayCertificate `provided` "
        "(or tls off). Unset: the certificate is issued by cert-manager (tls) into `gateway-tls`.",
    )
    self_signed_dns_names: list[str] = Field(
        default_factory=lambda: ["localhost", "*.localtest.me"],
        min_length=1,
        description="DNS names of the gateway's certificate while hosts is `*` (`*.localtest.me` resolves to 127.0.0.1).",
    )
    scaling: ScalingConfig = Field(description="Gateway replicas: local 1; aws 2–5 (HPA on CPU).")
    resources: ResourcesConfig = Field(description="Gateway proxy requests/limits: local 50m/64Mi; aws 100m/128Mi.")

    @field_validator("hosts", "self_signed_dns_names")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        bad = [h for h in value if not _GATEWAY_HOST.match(h)]
        if bad:
            raise ValueError(f"not host names: {', '.join(bad)} (e.g. app.example.com, *.example.com or *)")
        return value

    @field_validator("credential_name")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        if value is not None and not DNS_LABEL.match(value):
            raise ValueError("must be a Secret name (DNS-1123 label)")
        return value


class EgressGatewayConfig(ProfiledModel):
    """An optional egress gateway (off by default)."""

    PROFILES: ClassVar[Profiles] = {
        "local": {"scaling": {"minReplicas": 1, "maxReplicas": 1}, "resources": _SMALL},
        "aws": {"scaling": {"minReplicas": 2, "maxReplicas": 5}, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}},
    }
    enabled: bool = Field(False, description="Install an egress gateway (ClusterIP) in `namespace`.")
    namespace: str | None = Field(None, description="Namespace of the egress gateway; required when enabled (e.g. istio-egress).")
    scaling: ScalingConfig = Field(description="Egress gateway replicas.")
    resources: ResourcesConfig = Field(description="Egress gateway requests/limits.")

    @model_validator(mode="after")
    def _namespace(self) -> EgressGatewayConfig:
        if self.enabled and self.namespace is None:
            raise KeyProblem("namespace", "required when enabled: the namespace to install the egress gateway in (e.g. istio-egress)")
        if self.namespace is not None and not DNS_LABEL.match(self.namespace):
            raise KeyProblem("namespace", "must be a namespace name (DNS-1123 label)", self.namespace)
        return self


class MeshConfig(ProfiledModel):
    """`gitops-platform:mesh`: Istio."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "tracingSamplingPercent": 100,
            "outboundTrafficPolicy": "ALLOW_ANY",
            "podDisruptionBudgets": False,
            "proxyResources": {"requests": {"cpu": "10m", "memory": "40Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        },
        "aws": {
            "tracingSamplingPercent": 10,
            "outboundTrafficPolicy": "REGISTRY_ONLY",
            "podDisruptionBudgets": True,
            "proxyResources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
        },
    }
    enabled: bool = Field(True, description="Install the mesh.")
    mtls_mode: Literal["STRICT", "PERMISSIVE"] = Field(
        "STRICT", description="Mesh-wide mTLS. `PERMISSIVE` (plain text accepted) is an explicit opt-out for migrations, rejected on aws."
    )
    outbound_traffic_policy: Literal["ALLOW_ANY", "REGISTRY_ONLY"] = Field(
        description="`REGISTRY_ONLY` (aws default): sidecars refuse hosts outside the mesh's registry, so a service reaches only "
        "the external hosts it declares (`MicroserviceConfig.egress`). `ALLOW_ANY` (local default, for trying things): undeclared "
        "hosts pass, and the `UndeclaredEgress` alert reports them."
    )
    trust_domain: str = Field("cluster.local", description="SPIFFE trust domain of workload identities.")
    hold_application_until_proxy_starts: bool = Field(True, description="Start app containers only once the sidecar is ready (no failed first calls).")
    access_log: bool = Field(True, description="Envoy access log to stdout, JSON encoded.")
    tracing_sampling_percent: float = Field(
        ge=0, le=100, description="Share of requests traced (0–100): local 100, aws 10. Used when a tracing backend is wired in."
    )
    pod_disruption_budgets: bool = Field(description="PodDisruptionBudgets for istiod and the gateways: local off (1 replica), aws on.")
    proxy_resources: ResourcesConfig = Field(description="Requests/limits of every injected sidecar: local 10m/40Mi, aws 100m/128Mi.")
    namespaces: list[str] = Field(default_factory=lambda: ["apps"], description="Application namespaces, created with sidecar injection on.")
    istiod: ControlPlaneConfig = Field(description="The control plane.")
    cni: CniConfig = Field(description="The Istio CNI node agent (always installed: app namespaces enforce Pod Security `restricted`).")
    gateway: GatewayConfig = Field(description="The ingress gateway and main Gateway.")
    egress_gateway: EgressGatewayConfig = Field(description="The optional egress gateway.")

    @field_validator("trust_domain")
    @classmethod
    def _trust_domain(cls, value: str) -> str:
        if not TRUST_DOMAIN.match(value):
            raise ValueError("must be a DNS-like name, e.g. cluster.local or prod.example.com")
        return value

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        bad = [n for n in value if not DNS_LABEL.match(n)]
        if bad:
            raise ValueError(f"not namespace names: {', '.join(bad)} (DNS-1123 labels)")
        reserved = sorted(set(value) & SYSTEM_NAMESPACES)
        if reserved:
            raise ValueError(f"{', '.join(reserved)} belong to the cluster or the mesh itself; use namespaces of your own")
        if len(set(value)) != len(value):
            raise ValueError("namespaces must be unique")
        return value

    @model_validator(mode="after")
    def _environment_rules(self, info: ValidationInfo) -> MeshConfig:
        environment = (info.context or {}).get("environment")
        if environment == "aws" and self.mtls_mode == "PERMISSIVE":
            raise KeyProblem("mtlsMode", "PERMISSIVE accepts plain-text traffic; it is not allowed on aws. Use STRICT", self.mtls_mode)
        if self.egress_gateway.namespace in SYSTEM_NAMESPACES - {INGRESS_NAMESPACE} or self.egress_gateway.namespace in self.namespaces:
            raise KeyProblem("egressGateway.namespace", "use a namespace of its own for the egress gateway (e.g. istio-egress)", self.egress_gateway.namespace)
        return self


class MeshStack(pulumi.ComponentResource):
    """Istio: `base` (CRDs), `istiod`, the ingress `gateway` (and optionally an egress one).

    All three charts are installed with `helm.v4.Chart`: none of them needs Helm hooks,
    and v4 renders every object (CRDs, webhooks, Deployments) as a Pulumi resource the
    engine orders and awaits and the policy pack inspects. The base chart keeps its CRDs
    in templates (not `crds/`), so chart upgrades upgrade them too.

    Ordering, by construction:
    - CRDs before custom resources: every Istio custom resource here depends on the
      `base` chart (CRDs) and the `istiod` chart (whose validating webhook checks them).
    - Webhooks before injected workloads: the gateways are injected pods; their charts
      depend on the `istiod` chart, whose children — the injector
      MutatingWebhookConfiguration and the awaited istiod Deployment — exist before any
      gateway pod is created. Components with injected workloads depend on `ready`
      (base + istiod) for the same reason.
    - Destroy runs in reverse: custom resources, then istiod, then CRDs, then namespaces.
    """

    gateway: pulumi.Output[str]
    """The main Gateway as VirtualServices reference it: `istio-ingress/main`."""
    ingress_service: pulumi.Output[str]
    """Name of the ingress gateway Service (in istio-ingress)."""
    namespaces: pulumi.Output[list[str]]
    """Application namespaces (sidecar injection on)."""
    app_namespaces: dict[str, pulumi.Output[str]]
    """App namespace name -> Output of its name (depending on it waits for the namespace)."""
    namespace_resources: dict[str, k8s.core.v1.Namespace]
    """App namespace name -> its Namespace resource (for `depends_on`)."""
    created_namespaces: list[pulumi.Resource]
    """The Namespaces this component creates (Gatekeeper installs after them)."""
    isolation: list[NamespaceIsolation]
    """What the mesh's own namespaces must let through (SecurityStack isolates them)."""
    ready: list[pulumi.Resource]
    """What workloads and Istio resources of other components depend on: the CRDs and istiod (injector, validation)."""

    def __init__(
        self,
        name: str,
        config: MeshConfig,
        *,
        tracing_address: pulumi.Input[str] | None = None,
        certificates: CertManager | None = None,
        node_ports: tuple[int, int] | None = None,
        namespace_labels: dict[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`certificates`: issues the gateway's certificate (from its public issuer) unless
        gateway.credentialName names a Secret you provide; without either, a self-signed
        certificate is generated (a standalone MeshStack on local).
        `tracing_address`: `host:port` of an OTLP/gRPC collector (tracing off without it).
        `node_ports`: (http, https) NodePorts for the ingress gateway (kind); without them the
        gateway is a LoadBalancer Service on an internet-facing NLB. App namespaces enforce Pod
        Security `restricted` (Istio CNI removes the injected init container's capabilities);
        `namespace_labels`: labels that override or add to that (warn/audit levels from SecurityStack's config)."""
        super().__init__("gitops-platform:index:MeshStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # istiod and the gateways run as non-root with no capabilities: both namespaces are restricted.
        restricted = pod_security_labels("restricted")
        system_ns = k8s.core.v1.Namespace(f"{name}-istio-system", metadata={"name": ISTIO_NAMESPACE, "labels": restricted}, opts=child)
        ingress_ns = k8s.core.v1.Namespace(f"{name}-istio-ingress", metadata={"name": INGRESS_NAMESPACE, "labels": restricted}, opts=child)
        app_namespaces = [
            k8s.core.v1.Namespace(
                f"{name}-ns-{ns}",
                metadata={"name": ns, "labels": {**restricted, **(namespace_labels or {}), "istio-injection": "enabled"}},
                opts=child,
            )
            for ns in config.namespaces
        ]
        self.created_namespaces = [system_ns, ingress_ns, *app_namespaces]
        self.isolation = mesh_isolation(config, system_ns, ingress_ns)
        istiod = self._control_plane(name, config, tracing_address, system_ns)
        ingress_release = self._gateways(name, config, node_ports, ingress_ns, istiod)
        self._mesh_policy(name, config, tracing_address, app_namespaces)
        main_gateway = self._main_gateway(name, config, ingress_ns, certificates)
        self.gateway = main_gateway.metadata.apply(lambda m: f"{m['namespace']}/{m['name']}")
        self.ingress_service = pulumi.Output.from_input(ingress_release)
        self.app_namespaces = {ns: resource.metadata.apply(lambda m: m["name"]) for ns, resource in zip(config.namespaces, app_namespaces, strict=True)}
        self.namespace_resources = dict(zip(config.namespaces, app_namespaces, strict=True))
        self.namespaces = pulumi.Output.all(*self.app_namespaces.values())
        self.register_outputs({"gateway": self.gateway, "ingress_service": self.ingress_service, "namespaces": self.namespaces})

    def _control_plane(
        self, name: str, config: MeshConfig, tracing_address: pulumi.Input[str] | None, system_ns: k8s.core.v1.Namespace
    ) -> k8s.helm.v4.Chart:
        """Istio's CRDs (base) and istiod; sets `ready` to both."""
        base = install_chart(
            f"{name}-base",
            CHARTS["base"],
            ISTIO_NAMESPACE,
            # Cluster-scoped objects only (CRDs, default-revision webhook): the one
            # namespaced object, the multi-cluster reader ServiceAccount, is not needed,
            # so the CRDs install without waiting for the namespace.
            {"defaultRevision": "default", "global": {"resourceScope": "cluster"}},
            pulumi.ResourceOptions(parent=self),
            release="istio-base",
        )
        istiod = install_chart(
            f"{name}-istiod",
            CHARTS["istiod"],
            ISTIO_NAMESPACE,
            istiod_values(config, tracing_address),
            # istiod needs its CRDs (from base) to start, and its namespace.
            pulumi.ResourceOptions(parent=self, depends_on=[base, system_ns]),
            release="istiod",
        )
        # Istio CNI: injected pods get their traffic redirection from this node agent instead of
        # a root init container with NET_ADMIN/NET_RAW. Chained after the cluster's CNI
        # (kindnet on kind, the VPC CNI on EKS: both keep their config in /etc/cni/net.d and
        # binaries in /opt/cni/bin, the chart's defaults). Injected pods depend on `ready`, so
        # the engine waits for the DaemonSet on every node before any of them starts; a pod
        # scheduled on a node whose agent is not up yet is repaired (the chart's default).
        cni = install_chart(
            f"{name}-cni",
            CHARTS["cni"],
            CNI_NAMESPACE,
            {"global": {"hub": "docker.io/istio", "tag": CHARTS["cni"].version}, "resources": config.cni.resources.values()},
            pulumi.ResourceOptions(parent=self, depends_on=[base]),
            release="istio-cni",
        )
        self.ready = [base, istiod, cni]
        return istiod

    def _gateways(
        self, name: str, config: MeshConfig, node_ports: tuple[int, int] | None, ingress_ns: k8s.core.v1.Namespace, istiod: k8s.helm.v4.Chart
    ) -> str:
        """The ingress gateway (and the egress gateway when enabled); returns the ingress release name."""
        ingress_release = "istio-ingressgateway"
        install_chart(
            f"{name}-ingress",
            CHARTS["gateway"],
            INGRESS_NAMESPACE,
            gateway_values(config.gateway, config.pod_disruption_budgets, INGRESS_LABEL, node_ports=node_ports, public=True),
            pulumi.ResourceOptions(parent=self, depends_on=[ingress_ns, istiod]),  # injected pods: istiod's webhook first
            release=ingress_release,
        )
        if config.egress_gateway.enabled:
            egress_ns = k8s.core.v1.Namespace(
                f"{name}-egress-ns",
                metadata={"name": config.egress_gateway.namespace, "labels": pod_security_labels("restricted")},
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.created_namespaces.append(egress_ns)
            self.isolation.append(
                NamespaceIsolation(
                    config.egress_gateway.namespace or "",
                    callers=tuple(Peer(ns, reason="apps send external calls through the egress gateway") for ns in config.namespaces),
                    calls=(Peer(ISTIO_NAMESPACE, (15012,), "the gateway's proxy fetches config from istiod"),),
                    external={"the egress gateway forwards to external hosts": (80, 443)},
                    namespace_input=_name(egress_ns),
                )
            )
            install_chart(
                f"{name}-egress",
                CHARTS["gateway"],
                config.egress_gateway.namespace or "",
                gateway_values(config.egress_gateway, config.pod_disruption_budgets, EGRESS_LABEL, node_ports=None, public=False),
                pulumi.ResourceOptions(parent=self, depends_on=[egress_ns, istiod]),
                release="istio-egressgateway",
            )
        return ingress_release

    def _mesh_policy(
        self, name: str, config: MeshConfig, tracing_address: pulumi.Input[str] | None, app_namespaces: list[k8s.core.v1.Namespace]
    ) -> None:
        """Mesh-wide STRICT mTLS, tracing, and deny-all in every app namespace."""
        after_istiod = pulumi.ResourceOptions(parent=self, depends_on=self.ready)
        k8s.apiextensions.CustomResource(
            f"{name}-mtls",
            api_version="security.istio.io/v1",
            kind="PeerAuthentication",
            metadata={"name": "default", "namespace": ISTIO_NAMESPACE},
            spec={"mtls": {"mode": config.mtls_mode}},
            opts=after_istiod,
        )
        if tracing_address is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-telemetry",
                api_version="telemetry.istio.io/v1",
                kind="Telemetry",
                metadata={"name": "mesh-default", "namespace": ISTIO_NAMESPACE},
                spec={"tracing": [{"providers": [{"name": TRACING_PROVIDER}], "randomSamplingPercentage": config.tracing_sampling_percent}]},
                opts=after_istiod,
            )
        # Zero trust: every app namespace starts from allow-nothing; services are then
        # opened to their callers one AuthorizationPolicy at a time.
        for ns, namespace in zip(config.namespaces, app_namespaces, strict=True):
            k8s.apiextensions.CustomResource(
                f"{name}-deny-all-{ns}",
                api_version="security.istio.io/v1",
                kind="AuthorizationPolicy",
                metadata={"name": "deny-all", "namespace": namespace.metadata.apply(lambda m: m["name"])},
                spec={},
                opts=after_istiod,
            )

    def _main_gateway(
        self, name: str, config: MeshConfig, ingress_ns: k8s.core.v1.Namespace, certificates: CertManager | None
    ) -> k8s.apiextensions.CustomResource:
        """The shared HTTPS Gateway (HTTP redirects to HTTPS) and its certificate."""
        credential = config.gateway.credential_name
        if credential is None:
            credential = GATEWAY_TLS_SECRET
            hosts = config.gateway.hosts
            dns_names = config.gateway.self_signed_dns_names if "*" in hosts else hosts
            if certificates is not None:
                # istiod loads the Secret whenever it appears or is renewed: nothing waits for issuance.
                certificates.certificate(
                    f"{name}-gateway-certificate", namespace=_name(ingress_ns), secret_name=credential,
                    issuer=certificates.public_issuer, dns_names=dns_names, parent=self,
                )
            else:
                self._self_signed_secret(name, credential, dns_names, ingress_ns)
        return k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version="networking.istio.io/v1",
            kind="Gateway",
            metadata={"name": "main", "namespace": INGRESS_NAMESPACE},
            spec={
                "selector": {"istio": INGRESS_LABEL},
                "servers": [
                    {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": config.gateway.hosts, "tls": {"httpsRedirect": True}},
                    {
                        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                        "hosts": config.gateway.hosts,
                        "tls": {"mode": "SIMPLE", "credentialName": credential, "minProtocolVersion": "TLSV1_2"},
                    },
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.ready, ingress_ns]),
        )

    def _self_signed_secret(self, name: str, secret_name: str, dns_names: list[str], namespace: k8s.core.v1.Namespace) -> None:
        child = pulumi.ResourceOptions(parent=self)
        key = tls.PrivateKey(f"{name}-gateway-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        cert = tls.SelfSignedCert(
            f"{name}-gateway-cert",
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=dns_names[0], organization="gitops-platform (local)"),
            dns_names=dns_names,
            validity_period_hours=24 * 365,
            early_renewal_hours=24 * 30,  # a `pulumi up` in the last month renews it
            allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
            opts=child,
        )
        k8s.core.v1.Secret(
            f"{name}-gateway-tls",
            metadata={"name": secret_name, "namespace": namespace.metadata.apply(lambda m: m["name"])},
            type="kubernetes.io/tls",
            string_data={"tls.crt": cert.cert_pem, "tls.key": key.private_key_pem},
            opts=child,
        )


def _name(namespace: k8s.core.v1.Namespace) -> pulumi.Output[str]:
    name: pulumi.Output[str] = namespace.metadata.apply(lambda m: m["name"])
    return name


def mesh_isolation(config: MeshConfig, system_ns: k8s.core.v1.Namespace, ingress_ns: k8s.core.v1.Namespace) -> list[NamespaceIsolation]:
    """What istiod's and the ingress gateway's namespaces must let through (see `components.netpol`)."""
    return [
        NamespaceIsolation(
            ISTIO_NAMESPACE,
            api_server_ports=(ISTIOD_WEBHOOK_PORT,),
            callers=(Peer(ANY_NAMESPACE, (15010, 15012), "sidecars and gateways fetch config and certificates from istiod"),),
            namespace_input=_name(system_ns),
        ),
        NamespaceIsolation(
            INGRESS_NAMESPACE,
            # The gateway's listeners and the load balancer's health check on the status port.
            public_ports=(80, 443, 15021),
            calls=(
                Peer(ISTIO_NAMESPACE, (15012,), "the gateway's proxy fetches config and certificates from istiod"),
                *(Peer(ns, reason="the gateway routes requests to the apps") for ns in config.namespaces),
            ),
            namespace_input=_name(ingress_ns),
        ),
    ]


def istiod_values(config: MeshConfig, tracing_address: pulumi.Input[str] | None) -> dict[str, Any]:
    """Values for the istiod chart (keys checked against the pinned chart by the render)."""
    mesh: dict[str, Any] = {
        "trustDomain": config.trust_domain,
        "outboundTrafficPolicy": {"mode": config.outbound_traffic_policy},
        "defaultConfig": {"holdApplicationUntilProxyStarts": config.hold_application_until_proxy_starts},
        "enablePrometheusMerge": True,
    }
    if config.access_log:
        mesh.update(accessLogFile="/dev/stdout", accessLogEncoding="JSON")
    if tracing_address is not None:
        address = pulumi.Output.from_input(tracing_address)
        mesh["enableTracing"] = True
        mesh["extensionProviders"] = [
            {
                "name": TRACING_PROVIDER,
                "opentelemetry": {
                    "service": address.apply(lambda a: a.rsplit(":", 1)[0]),
                    "port": address.apply(lambda a: int(a.rsplit(":", 1)[1])),
                },
            }
        ]
        mesh["defaultProviders"] = {"tracing": [TRACING_PROVIDER]}
    scaling = config.istiod.scaling
    return {
        "global": {
            # Explicit image source and version: no floating tag, and the registry
            # allow-list sees exactly where Istio images come from.
            "hub": "docker.io/istio",
            "tag": CHARTS["istiod"].version,
            "defaultPodDisruptionBudget": {"enabled": config.pod_disruption_budgets},
            "proxy": {"resources": config.proxy_resources.values()},
            # The cluster-wide reader binding serves multi-cluster remote secrets only, and
            # its ServiceAccount is base's namespaced object, which base does not install
            # here (resourceScope: cluster): no binding to a missing account.
            "enableReaderRBAC": False,
        },
        "replicaCount": scaling.min_replicas,
        "autoscaleEnabled": scaling.autoscaled,
        "autoscaleMin": scaling.min_replicas,
        "autoscaleMax": scaling.max_replicas,
        "resources": config.istiod.resources.values(),
        # The injector adds no privileged init container: the Istio CNI agent redirects traffic.
        "cni": {"enabled": True},
        "seccompProfile": {"type": "RuntimeDefault"},  # istio-system passes Pod Security `restricted`
        "meshConfig": mesh,
    }


def gateway_values(
    config: GatewayConfig | EgressGatewayConfig,
    pdb: bool,
    label: str,
    *,
    node_ports: tuple[int, int] | None,
    public: bool,
) -> dict[str, Any]:
    """Values for a gateway chart release (ingress when `public`, else egress)."""
    if not public:
        service: dict[str, Any] = {"type": "ClusterIP"}
    elif node_ports is not None:
        # kind: NodePorts that kind maps to the host; a LoadBalancer would never get an address.
        http, https = node_ports
        service = {
            "type": "NodePort",
            "ports": [
                {"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021},
                {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": http},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443, "nodePort": https},
            ],
        }
    else:
        # An internet-facing NLB from the cluster's cloud provider, spread over all zones.
        service = {
            "type": "LoadBalancer",
            "annotations": {
                "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
            },
            "externalTrafficPolicy": "Local",  # keeps client source IPs for authorization policies
        }
    scaling = config.scaling
    values: dict[str, Any] = {
        "labels": {"istio": label},
        # The chart's pod runs as 1337 with no capabilities; the runtime's seccomp profile makes it
        # `restricted`. Setting this replaces the chart's default pod securityContext, so its
        # sysctl (bind 80/443 without NET_BIND_SERVICE; a safe sysctl since Kubernetes 1.22) is repeated.
        "securityContext": {
            "seccompProfile": {"type": "RuntimeDefault"},
            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
        },
        "service": service,
        "replicaCount": scaling.min_replicas,
        "autoscaling": {"enabled": scaling.autoscaled, "minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas},
        "resources": config.resources.values(),
    }
    if pdb:
        values["podDisruptionBudget"] = {"minAvailable": 1}
    return values
