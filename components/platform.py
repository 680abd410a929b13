"""Platform: composes the components of one environment from a `PlatformConfig`.

    import pulumi
    from components import Platform, parse_config

    platform = Platform("platform", parse_config({"environment": "local"}))
    pulumi.export("kubeconfig", platform.kubeconfig)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from ._extras import optional_module
from .apps import SampleApps
from .autoscaling import KEDA_NAMESPACE, AutoscalingStack
from .certificates import CertManager
from .config import NAMESPACE, AwsPlatformConfig, LocalPlatformConfig, PlatformConfig
from .delivery import NAMESPACE as ROLLOUTS_NAMESPACE
from .delivery import RolloutsController
from .ecr import EcrRegistry
from .eks import EksCluster
from .gitops import NAMESPACE as GITOPS_NAMESPACE
from .gitops import SERVER_PORT as ARGOCD_SERVER_PORT
from .gitops import ClusterFacts, GitopsStack
from .kiali import Kiali
from .local_cluster import KUBERNETES_VERSION, LocalCluster
from .local_registry import LocalRegistry
from .mesh import INGRESS_NAMESPACE, ISTIO_NAMESPACE, MeshStack
from .netpol import NamespaceIsolation, Peer
from .observability import ALERTMANAGER_PORT, GRAFANA_PORT, JAEGER_QUERY_PORT, OTLP_PORT, PROMETHEUS_PORT, ObservabilityStack
from .observability import NAMESPACE as MONITORING_NAMESPACE
from .registry import Registry
from .security import FALCO_NAMESPACE, SecurityStack, security_isolation
from .wiring import PlatformWiring

if TYPE_CHECKING:
    import pulumi_aws as aws
else:
    aws = optional_module("pulumi_aws", "Platform on aws")


class Platform(pulumi.ComponentResource):
    """The whole platform for one stack: cluster, registry, and (later) the in-cluster stacks."""

    kubeconfig: pulumi.Output[str]
    """Kubeconfig of the platform's cluster (secret)."""
    cluster_name: pulumi.Output[str]
    """Name of the cluster (EKS or kind cluster name, or kubeconfig context)."""
    registry_host: pulumi.Output[str]
    """`host[:port]` the platform's images are pushed to and pulled from."""

    provider: k8s.Provider
    """Kubernetes provider of the platform's cluster."""
    registry: Registry
    """The image registry (LocalRegistry or EcrRegistry)."""
    mesh: MeshStack | None
    """The service mesh, when enabled."""
    certificates: CertManager | None
    """cert-manager and the platform's issuers, when tls is enabled."""
    rollouts: RolloutsController | None
    """The Argo Rollouts controller, when a service needs it or it is configured."""
    gitops: GitopsStack | None
    """Argo CD and the GitOps hand-off, when enabled (and the mesh serves its UI)."""
    grafana_admin_password: pulumi.Output[str] | None
    """Grafana's `admin` password (secret), when observability is enabled."""
    wiring: PlatformWiring
    """Where a service plugs into this platform: pass it to `MicroserviceStack` for services
    declared in the same program (the sample apps use it)."""

    def __init__(self, name: str, config: PlatformConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gitops-platform:index:Platform", name, None, opts)
        cluster, aws_provider = self._foundation(name, config)
        self.provider = cluster.provider
        self.mesh = None
        self.frontend_url: pulumi.Output[str] | None = None
        eks = cluster if isinstance(cluster, EksCluster) else None
        region = config.region if isinstance(config, AwsPlatformConfig) else None
        # In-cluster components use the cluster's provider; those that also create AWS
        # resources (S3 for Loki, ECR pulls, the cluster autoscaler's role) the AWS one.
        providers: dict[str, pulumi.ProviderResource] = {"kubernetes": cluster.provider, **({"aws": aws_provider} if aws_provider else {})}
        # cert-manager first: the Prometheus operator's and VPA's webhook certificates come from it.
        self.certificates = None
        if config.tls.enabled:
            self.certificates = CertManager(
                f"{name}-tls", config.tls, eks=eks, region=region, opts=pulumi.ResourceOptions(parent=self, providers=providers)
            )
        observability = None
        self.grafana_admin_password = None
        if config.observability.enabled:
            observability = ObservabilityStack(
                f"{name}-observability", config.observability, eks=eks, region=region, certificates=self.certificates,
                opts=pulumi.ResourceOptions(parent=self, providers=providers),
            )
            self.grafana_admin_password = observability.grafana_admin_password
            if self.certificates is not None:
                self.certificates.monitor(observability.ready)
        autoscaling = None
        if config.autoscaling.enabled:
            autoscaling = AutoscalingStack(
                f"{name}-autoscaling", config.autoscaling, eks=eks, region=region, certificates=self.certificates,
                opts=pulumi.ResourceOptions(parent=self, providers=providers),
            )
        # Argo Rollouts only when a service of the stack needs it (or when configured).
        self.rollouts = None
        wanted = config.rollouts.enabled
        if wanted is None:
            wanted = config.apps.enabled and config.apps.delivery.strategy == "canary"
        if wanted:
            self.rollouts = RolloutsController(
                f"{name}-rollouts", config.rollouts, service_monitors=observability is not None,
                monitoring_ready=observability.ready if observability else None, opts=pulumi.ResourceOptions(parent=self, providers=providers),
            )
        parts = [p for p in (observability, autoscaling, self.certificates, self.rollouts) if p is not None]
        namespaces: list[pulumi.Resource] = [ns for part in (observability, autoscaling, self.rollouts) if part is not None for ns in part.created_namespaces]
        if self.certificates is not None:
            namespaces.append(self.certificates.namespace)
        isolation = [i for part in parts for i in part.isolation]
        self.gitops = None
        self.security: SecurityStack | None = None
        self._mesh_and_security(name, config, cluster, observability, namespaces, isolation, providers)
        self.wiring = PlatformWiring(
            environment=config.environment,
            gateway=f"{INGRESS_NAMESPACE}/main",
            trust_domain=config.mesh.trust_domain,
            monitoring_namespace=config.security.network_isolation.monitoring_namespace,
            zone_spread=eks is not None,
            egress_gateway=config.mesh.egress_gateway.namespace if config.mesh.egress_gateway.enabled else None,
            vault=self.security.vault_access if self.security is not None else None,
            vault_ready=self.security.vault_ready if self.security is not None else (),
        )
        if config.apps.enabled and self.mesh is not None:
            self._apps(name, config, self.mesh, eks, observability, providers)
        self.kubeconfig = cluster.kubeconfig
        self.cluster_name = cluster.cluster_name
        self.registry_host = self.registry.host
        self.register_outputs(
            {"kubeconfig": self.kubeconfig, "cluster_name": self.cluster_name, "registry_host": self.registry_host}
        )

    def _foundation(self, name: str, config: PlatformConfig) -> tuple[LocalCluster | EksCluster, aws.Provider | None]:
        """The cluster and the registry: the environment decides which providers back them;
        everything else is configuration."""
        if isinstance(config, AwsPlatformConfig):
            aws_provider = self._aws_provider(name, config.region, config.environment)
            aws_opts = pulumi.ResourceOptions(parent=self, providers={"aws": aws_provider})
            cluster = EksCluster(f"{name}-cluster", config.cluster, region=config.region, opts=aws_opts)
            self.registry = EcrRegistry(f"{name}-registry", config.registry, protect=True, opts=aws_opts)
            return cluster, aws_provider
        local_cluster, self.registry = self._local(name, config)
        return local_cluster, None

    def _mesh_and_security(
        self,
        name: str,
        config: PlatformConfig,
        cluster: LocalCluster | EksCluster,
        observability: ObservabilityStack | None,
        namespaces: list[pulumi.Resource],
        isolation: list[NamespaceIsolation],
        providers: dict[str, pulumi.ProviderResource],
    ) -> None:
        """The mesh, then the security tooling; Gatekeeper installs after every namespace (`namespaces` and the mesh's).
        `isolation`: what the other components' namespaces must let through; `providers`: the
        cluster's and (aws) the AWS provider, for Vault's unseal key."""
        in_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": cluster.provider})
        security = config.security
        if config.mesh.enabled:
            # kind maps the gateway's NodePorts to the host; on aws it gets an NLB.
            ingress = config.cluster.ingress if isinstance(config, LocalPlatformConfig) else None
            self.mesh = MeshStack(
                f"{name}-mesh",
                config.mesh,
                node_ports=(ingress.http_node_port, ingress.https_node_port) if ingress else None,
                namespace_labels=security.namespace_labels() if security.enabled else None,
                tracing_address=observability.tracing_address if observability and config.observability.tracing.enabled else None,
                certificates=self.certificates if config.tls.gateway_certificate == "issued" else None,
                opts=in_cluster,
            )
        if self.mesh is not None and observability is not None and config.observability.kiali.enabled:
            Kiali(
                f"{name}-kiali", config.observability.kiali, prometheus_url=observability.prometheus_url, grafana_url=observability.grafana_url,
                tracing_url=observability.tracing_query_url, after=[*self.mesh.ready, *self.mesh.created_namespaces[:1]],
                namespace_from=self.mesh.created_namespaces[:1], opts=in_cluster,
            )
        if self.mesh is not None and config.gitops.enabled:
            self.gitops = GitopsStack(
                f"{name}-gitops", config.gitops, cluster=self._cluster_facts(config, cluster, observability),
                gateway=f"{INGRESS_NAMESPACE}/main", service_monitors=observability is not None,
                after=[*self.mesh.ready, *(observability.ready if observability else [])], opts=in_cluster,
            )
            namespaces = [*namespaces, *self.gitops.created_namespaces]
            isolation = [*isolation, *self.gitops.isolation]
        tracing = observability is not None and config.observability.tracing.enabled
        if security.enabled:
            declared = platform_isolation(
                [*isolation, *(self.mesh.isolation if self.mesh else []), *security_isolation(
                    security, sorted(self.mesh.app_namespaces) if self.mesh else [], auto_unseal=isinstance(config, AwsPlatformConfig)
                )],
                tracing=tracing, kiali=self.mesh is not None and observability is not None and config.observability.kiali.enabled,
            )
            # Installs in parallel with the mesh: nothing here uses Istio's CRDs.
            self.security = SecurityStack(
                f"{name}-security",
                security,
                registry_prefixes=[self.registry.host.apply(lambda host: f"{host}/")],
                app_namespaces=self.mesh.app_namespaces if self.mesh else {},
                alertmanager_url=observability.alertmanager_url if observability else None,
                service_monitors=observability is not None,
                monitoring_ready=observability.ready if observability else (),
                namespaces=[*namespaces, *(self.mesh.created_namespaces if self.mesh else [])],
                isolation=declared,
                # On kind the API server's address is Docker's choice; on EKS it is in the VPC.
                api_server_cidrs=[config.cluster.vpc_cidr] if isinstance(config, AwsPlatformConfig) else ["0.0.0.0/0"],
                tracing_port=OTLP_PORT if tracing else None,
                certificates=self.certificates,
                eks=cluster if isinstance(cluster, EksCluster) else None,
                region=config.region if isinstance(config, AwsPlatformConfig) else None,
                opts=pulumi.ResourceOptions(parent=self, providers=providers),
            )

    def _cluster_facts(self, config: PlatformConfig, cluster: LocalCluster | EksCluster, observability: ObservabilityStack | None) -> ClusterFacts:
        """What the GitOps Bridge cluster Secret says about this cluster and its add-ons."""
        a, s_, o = config.autoscaling, config.security, config.observability
        eks = cluster if isinstance(cluster, EksCluster) else None
        addons = {
            "argocd": True,
            "argo_rollouts": self.rollouts is not None,
            "cert_manager": self.certificates is not None,
            "cluster_autoscaler": eks is not None and a.enabled and a.cluster_autoscaler.enabled,
            "falco": s_.enabled and s_.falco.enabled,
            "gatekeeper": s_.enabled and s_.gatekeeper.enabled,
            "istio": self.mesh is not None,
            "jaeger": observability is not None and o.tracing.enabled,
            "keda": a.enabled and a.keda.enabled,
            "kube_prometheus_stack": observability is not None,
            "loki": observability is not None and o.loki.enabled,
            "metrics_server": a.enabled and a.metrics_server.enabled,
            "trivy": s_.enabled and s_.trivy.enabled,
            "vault": s_.enabled and s_.vault.enabled,
            "vpa": a.enabled and a.vpa.enabled,
        }
        endpoints: dict[str, pulumi.Input[str]] = {"platform_registry": self.registry.host, "platform_gateway": f"{INGRESS_NAMESPACE}/main"}
        if observability is not None:
            endpoints["platform_prometheus_url"] = observability.prometheus_url
        aws_facts: dict[str, pulumi.Input[str]] = {}
        irsa: dict[str, tuple[pulumi.Input[str], str, str]] = {}
        if eks is not None and isinstance(config, AwsPlatformConfig):
            aws_facts = {
                "aws_cluster_name": eks.cluster_name,
                "aws_region": config.region,
                "aws_account_id": aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id,
                "aws_vpc_id": eks.vpc_id,
            }
            bridge_names = {"cert-manager": "cert_manager", "loki": "loki", "cluster-autoscaler": "cluster_autoscaler", "ebs-csi": "aws_ebs_csi_driver"}
            irsa = {bridge_names.get(role, role.replace("-", "_")): facts for role, facts in eks.irsa_roles.items()}
        version = config.cluster.kubernetes_version if isinstance(config, AwsPlatformConfig) else KUBERNETES_VERSION
        return ClusterFacts(name=cluster.cluster_name, kubernetes_version=version, addons=addons, endpoints=endpoints, aws=aws_facts, irsa=irsa)

    def _apps(
        self,
        name: str,
        config: PlatformConfig,
        mesh: MeshStack,
        eks: EksCluster | None,
        observability: ObservabilityStack | None,
        providers: dict[str, pulumi.ProviderResource],
    ) -> None:
        registry = self.registry
        # Pods need the mesh's injector and CRDs, their namespace, and the Prometheus
        # operator's CRDs for their ServiceMonitors and alerts.
        app_deps: list[pulumi.Resource] = [*mesh.ready, mesh.namespace_resources[config.apps.namespace]]
        if observability is not None:
            app_deps += observability.ready
        if self.rollouts is not None:
            app_deps += self.rollouts.ready  # the Rollout and AnalysisTemplate CRDs
        apps = SampleApps(
            f"{name}-apps",
            config.apps,
            self.wiring,
            repository_urls={app: registry.repository_url(app) for app in ("backend", "frontend")},
            ecr_registry_id=registry.registry_id if isinstance(registry, EcrRegistry) else None,
            # Without the observability stack nothing installs the Prometheus operator's CRDs.
            monitoring=observability is not None,
            opts=pulumi.ResourceOptions(parent=self, providers=providers, depends_on=app_deps),
        )
        self.frontend_url = apps.frontend_url

    def _local(self, name: str, config: LocalPlatformConfig) -> tuple[LocalCluster, Registry]:
        registry_config = config.registry
        cluster = LocalCluster(
            f"{name}-cluster",
            config.cluster,
            trusted_registries=registry_config.node_mirrors(),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if registry_config.mode == "ecr":
            assert config.region is not None  # enforced by LocalPlatformConfig
            provider = self._aws_provider(name, config.region, config.environment)
            # Local repositories are disposable: not protected (forceDelete is the user's call).
            registry: Registry = EcrRegistry(
                f"{name}-registry",
                registry_config.ecr_config(),
                protect=False,
                opts=pulumi.ResourceOptions(parent=self, providers={"aws": provider}),
            )
        else:
            registry = LocalRegistry(
                f"{name}-registry",
                registry_config,
                network=cluster.docker_network if registry_config.mode == "container" else None,
                opts=pulumi.ResourceOptions(parent=self, providers={"kubernetes": cluster.provider}),
            )
        return cluster, registry

    def _aws_provider(self, name: str, region: str, environment: str) -> aws.Provider:
        # Every taggable AWS resource of the stack carries these tags.
        return aws.Provider(
            f"{name}-aws",
            region=region,
            default_tags=aws.ProviderDefaultTagsArgs(
                tags={
                    "project": NAMESPACE,
                    "environment": environment,
                    "stack": pulumi.get_stack(),
                    "managed-by": "pulumi",
                }
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


def platform_isolation(declared: list[NamespaceIsolation], *, tracing: bool, kiali: bool = False) -> list[NamespaceIsolation]:
    """Each component's declared isolation plus the flows between components, both ends."""
    by_name = {i.namespace: i for i in declared}

    def connect(source: str, destination: str, port: int, reason: str) -> None:
        if source in by_name and destination in by_name:
            by_name[source] = by_name[source].with_calls(Peer(destination, (port,), reason))
            by_name[destination] = by_name[destination].with_callers(Peer(source, (port,), reason))

    connect(FALCO_NAMESPACE, MONITORING_NAMESPACE, ALERTMANAGER_PORT, "falcosidekick sends alerts to Alertmanager")
    connect(KEDA_NAMESPACE, MONITORING_NAMESPACE, PROMETHEUS_PORT, "KEDA's Prometheus triggers query Prometheus")
    connect(ROLLOUTS_NAMESPACE, MONITORING_NAMESPACE, PROMETHEUS_PORT, "canary analyses query Prometheus")
    connect(INGRESS_NAMESPACE, GITOPS_NAMESPACE, ARGOCD_SERVER_PORT, "the gateway serves the Argo CD UI")
    if tracing:
        # The monitoring namespace takes spans from every namespace; the gateways send them.
        connect(INGRESS_NAMESPACE, MONITORING_NAMESPACE, OTLP_PORT, "the gateway reports spans to Jaeger")
    if kiali:
        connect(ISTIO_NAMESPACE, MONITORING_NAMESPACE, PROMETHEUS_PORT, "Kiali reads the mesh's metrics from Prometheus")
        connect(ISTIO_NAMESPACE, MONITORING_NAMESPACE, GRAFANA_PORT, "Kiali finds the Istio dashboards in Grafana")
        if tracing:
            connect(ISTIO_NAMESPACE, MONITORING_NAMESPACE, JAEGER_QUERY_PORT, "Kiali reads traces from Jaeger's query API")
    return list(by_name.values())
