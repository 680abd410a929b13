"""ObservabilityStack: metrics, alerts, dashboards as code, logs and traces wired to the mesh.

    obs = ObservabilityStack("observability", ObservabilityConfig.for_environment("local"),
                             opts=pulumi.ResourceOptions(providers={"kubernetes": provider}))
    mesh = MeshStack("mesh", mesh_config, tracing_address=obs.tracing_address, ...)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pydantic import Field, ValidationInfo, model_validator

from ._extras import optional_module
from .certificates import CertManager
from .charts import CHARTS, HOOK_JOB_RESOURCES, install_chart, install_release
from .dashboards import DASHBOARDS, dashboard_json
from .kiali import KialiConfig
from .model import KeyProblem, Model, ProfiledModel, Profiles, ResourcesConfig, given_in_plain_text
from .netpol import ANY_NAMESPACE, NamespaceIsolation, Peer
from .podsecurity import NODE_AGENT_REASONS, namespace_metadata

if TYPE_CHECKING:
    import pulumi_aws as aws

    from .eks import EksCluster
else:
    aws = optional_module("pulumi_aws", "ObservabilityStack with an EKS cluster")

NAMESPACE = "monitoring"
RELEASE = "kps"
PROMETHEUS_PORT, ALERTMANAGER_PORT, OTLP_PORT = 9090, 9093, 4317
GRAFANA_PORT, JAEGER_QUERY_PORT = 3000, 16686
"""Container ports of Grafana (behind its Service's 80) and Jaeger's query API and UI."""
OPERATOR_WEBHOOK_PORT = 10250
"""The Prometheus operator's admission webhook (the chart's `prometheusOperator.tls.internalPort`)."""
"""kube-prometheus-stack's fullname: Services are kps-prometheus, kps-alertmanager."""
PROMETHEUS_CRD_FILES = (
    "alertmanagerconfigs", "alertmanagers", "podmonitors", "probes", "prometheusagents",
    "prometheuses", "prometheusrules", "scrapeconfigs", "servicemonitors", "thanosrulers",
)
RUNBOOKS = "docs/runbooks.md"

_TINY = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
_SMALL = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}


def prometheus_crd_urls(version: str) -> list[str]:
    """The Prometheus operator CRDs of kube-prometheus-stack `version`, at the chart's release tag."""
    base = f"https://raw.githubusercontent.com/prometheus-community/helm-charts/kube-prometheus-stack-{version}/charts/kube-prometheus-stack/charts/crds/crds"
    return [f"{base}/crd-{name}.yaml" for name in PROMETHEUS_CRD_FILES]


class PrometheusConfig(ProfiledModel):
    PROFILES: ClassVar[Profiles] = {
        "local": {"replicas": 1, "retentionDays": 2, "retentionSizeGib": 2, "storageGib": None,
                  # ~30 targets, 2 days: a few hundred MiB working set; the limit leaves room for compaction.
                  "resources": {"requests": {"cpu": "200m", "memory": "384Mi"}, "limits": {"cpu": "1", "memory": "1536Mi"}}},
        "aws": {"replicas": 2, "retentionDays": 15, "retentionSizeGib": 45, "storageGib": 50,
                "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}},
    }
    replicas: int = Field(ge=1, le=5, description="Prometheus replicas: local 1, aws 2.")
    retention_days: int = Field(ge=1, le=365, description="Days of metrics kept: local 2, aws 15.")
    retention_size_gib: int = Field(ge=1, le=10000, description="Size cap of the TSDB (oldest data goes first): local 2, aws 45.")
    storage_gib: int | None = Field(ge=1, le=10000, description="PVC size per replica (gp3 on aws); none: ephemeral (local).")
    resources: ResourcesConfig = Field(description="Prometheus requests/limits.")

    @model_validator(mode="after")
    def _fits(self) -> PrometheusConfig:
        if self.storage_gib is not None and self.retention_size_gib >= self.storage_gib:
            raise KeyProblem("retentionSizeGib", f"must be below storageGib ({self.storage_gib}) so the volume never fills", self.retention_size_gib)
        return self


class ReceiverConfig(Model):
    """Where a class of alerts goes. The URL or key is a secret: only from secret config."""

    type: Literal["pagerduty", "slack", "webhook"] = Field(description="`pagerduty` (routing key), `slack` (incoming webhook URL) or `webhook` (URL).")
    secret: str = Field(min_length=1, description="PagerDuty routing key, or the webhook URL (secret config only; never empty).")

    @model_validator(mode="after")
    def _shape(self) -> ReceiverConfig:
        if self.type in ("slack", "webhook") and self.secret != "[secret]" and not self.secret.startswith("https://"):
            raise KeyProblem("secret", "must be an https:// URL", "(hidden)")
        return self


class AlertingConfig(ProfiledModel):
    PROFILES: ClassVar[Profiles] = {"local": {"replicas": 1, "resources": _TINY}, "aws": {"replicas": 2, "resources": _SMALL}}
    replicas: int = Field(ge=1, le=5, description="Alertmanager replicas: local 1, aws 2.")
    pager: ReceiverConfig | None = Field(None, description="The pager receiver (critical alerts by default).")
    chat: ReceiverConfig | None = Field(None, description="The chat receiver (warnings by default).")
    routes: dict[Literal["critical", "warning", "info"], Literal["pager", "chat", "none"]] | None = Field(
        None,
        description="Receiver per severity; default: critical → pager, warning → chat (each when configured), info → none. "
        "Critical alerts inhibit warnings of the same alert and namespace.",
    )
    resources: ResourcesConfig = Field(description="Alertmanager requests/limits.")

    @model_validator(mode="after")
    def _routes_have_receivers(self) -> AlertingConfig:
        for severity, receiver in (self.routes or {}).items():
            if receiver != "none" and getattr(self, receiver) is None:
                raise KeyProblem(f"routes.{severity}", f"routes to `{receiver}`, which is not configured: set alerting.{receiver} or route to none", receiver)
        return self

    def effective_routes(self) -> dict[str, str]:
        if self.routes is not None:
            return {str(severity): str(receiver) for severity, receiver in self.routes.items()}
        return {"critical": "pager" if self.pager else "none", "warning": "chat" if self.chat else "none", "info": "none"}


class RulesConfig(Model):
    """Thresholds of the platform alerts (defaults from the platform design)."""

    pod_not_ready_minutes: int = Field(15, ge=1, le=1440)
    memory_percent_of_limit: int = Field(90, ge=1, le=100)
    cpu_percent_of_limit: int = Field(90, ge=1, le=100)
    for_minutes: int = Field(5, ge=1, le=120, description="How long the memory, CPU, latency and 5xx conditions must hold.")
    istio_p99_latency_ms: int = Field(1000, ge=1, le=60000)
    istio_error_percent: float = Field(5, gt=0, le=100)
    slo_availability_percent: float = Field(99.9, gt=50, lt=100, description="Availability objective of the burn-rate alerts.")
    certificate_expiry_days: int = Field(14, ge=1, le=60, description="Alert when a cert-manager certificate expires within this many days.")
    certificate_not_ready_minutes: int = Field(15, ge=1, le=1440, description="Alert when a certificate is not Ready for this long.")


class GrafanaConfig(ProfiledModel):
    PROFILES: ClassVar[Profiles] = {"local": {"resources": _SMALL}, "aws": {"resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}}
    admin_user: str = Field("admin", min_length=1, description="Grafana admin user; the password is generated (stack output `grafanaAdminPassword`, secret).")
    resources: ResourcesConfig = Field(description="Grafana requests/limits (its sidecars take 10m/32Mi each).")


class LokiConfig(ProfiledModel):
    PROFILES: ClassVar[Profiles] = {
        "local": {"retentionDays": 3, "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                  "collectorResources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}}},
        "aws": {"retentionDays": 30, "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
                "collectorResources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}},
    }
    enabled: bool = Field(True, description="Loki (single binary on local; simple scalable with S3 via IRSA on aws) and Grafana Alloy collecting pod logs.")
    retention_days: int = Field(ge=1, le=3650, description="Days of logs kept: local 3, aws 30.")
    storage_gib: int = Field(5, ge=1, le=10000, description="local: volume of the single binary.")
    resources: ResourcesConfig = Field(description="Requests/limits of each Loki pod.")
    collector_resources: ResourcesConfig = Field(description="Grafana Alloy (the log collector) requests/limits (per node).")


class TracingConfig(ProfiledModel):
    PROFILES: ClassVar[Profiles] = {
        "local": {"resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}},
        "aws": {"resources": {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "4Gi"}}},
    }
    enabled: bool = Field(True, description="Jaeger (OTLP and Zipkin receivers); the mesh sends its traces there.")
    storage_gib: int = Field(20, ge=1, le=10000, description="aws: Badger volume (persistent). local keeps traces in memory.")
    resources: ResourcesConfig = Field(description="Jaeger requests/limits.")


class ObservabilityConfig(ProfiledModel):
    """`gitops-platform:observability`."""

    enabled: bool = Field(True, description="Install the observability stack in the monitoring namespace.")
    prometheus: PrometheusConfig = Field(description="Prometheus.")
    alerting: AlertingConfig = Field(description="Alertmanager, receivers and routes.")
    rules: RulesConfig = Field(default_factory=RulesConfig, description="Alert thresholds.")
    grafana: GrafanaConfig = Field(description="Grafana.")
    loki: LokiConfig = Field(description="Logs.")
    tracing: TracingConfig = Field(description="Traces.")
    kiali: KialiConfig = Field(description="Kiali, the mesh console (installed by the Platform in istio-system when the mesh is on).")

    @model_validator(mode="after")
    def _receiver_secrets(self, info: ValidationInfo) -> ObservabilityConfig:
        for receiver in ("pager", "chat"):
            if getattr(self.alerting, receiver) is not None and given_in_plain_text(info, f"observability.alerting.{receiver}.secret"):
                raise KeyProblem(
                    f"alerting.{receiver}.secret",
                    "is a secret: set it with `pulumi config set --secret --path "
                    f"gitops-platform:observability.alerting.{receiver}.secret <value>`",
                    "(plain text)",
                )
        return self


class ObservabilityStack(pulumi.ComponentResource):
    """kube-prometheus-stack, platform alerts and dashboards, Loki + Grafana Alloy, Jaeger.

    **CRD upgrades.** The Prometheus operator's CRDs are owned here, apart from the chart:
    a `yaml.v2.ConfigGroup` applies them, pinned to the chart's release tag, with
    server-side apply (the provider's default) — no `last-applied` annotation, so their
    size is no problem, and a chart bump updates them, which `helm upgrade` never does
    for a chart's `crds/`. The chart then installs with `crds.enabled: false`, and
    everything that uses the CRDs depends on `crds`.

    kube-prometheus-stack is a `helm.v3.Release`: its operator's admission webhook gets
    its certificate from Helm hook jobs. Loki, Alloy and Jaeger are `helm.v4.Chart`s.
    """

    crds: pulumi.Resource
    """The Prometheus operator CRDs; depend on it before creating ServiceMonitors, PrometheusRules, ..."""
    created_namespaces: list[pulumi.Resource]
    """The Namespaces this component creates (Gatekeeper installs after them)."""
    isolation: list[NamespaceIsolation]
    """What the monitoring namespace must let through (SecurityStack isolates it)."""
    ready: list[pulumi.Resource]
    """What users of the Prometheus CRDs depend on."""
    tracing_address: pulumi.Output[str]
    """OTLP/gRPC `host:port` of Jaeger (for MeshStack)."""
    alertmanager_url: pulumi.Output[str]
    """Alertmanager's in-cluster URL (for falcosidekick)."""
    prometheus_url: pulumi.Output[str]
    """Prometheus' in-cluster URL (for KEDA triggers)."""
    grafana_url: pulumi.Output[str]
    """Grafana's in-cluster URL (for Kiali)."""
    tracing_query_url: pulumi.Output[str] | None
    """Jaeger's query API in-cluster URL (for Kiali), when tracing is on."""
    grafana_admin_password: pulumi.Output[str]
    """Grafana's admin password (secret)."""

    def __init__(
        self,
        name: str,
        config: ObservabilityConfig,
        *,
        eks: EksCluster | None = None,
        region: str | None = None,
        certificates: CertManager | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`eks`, `region`: on aws, Loki stores chunks in S3 through an IRSA role of this cluster.
        `certificates`: the Prometheus operator's webhook certificate comes from the platform CA
        (its CA injected by cert-manager), so kube-prometheus-stack needs no hooks and installs
        as a `helm.v4.Chart` the engine and the policy pack see; without it, a `helm.v3.Release`
        whose hook Jobs make the certificate."""
        super().__init__("gitops-platform:index:ObservabilityStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = k8s.core.v1.Namespace(f"{name}-ns", metadata=namespace_metadata(NAMESPACE, "privileged", NODE_AGENT_REASONS[NAMESPACE]), opts=child)
        self.created_namespaces = [ns]
        self.isolation = [monitoring_isolation(config, ns.metadata.apply(lambda m: m["name"]))]
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        version = CHARTS["kube-prometheus-stack"].version
        self.crds = k8s.yaml.v2.ConfigGroup(f"{name}-prometheus-crds", files=prometheus_crd_urls(version), opts=child)

        self._kube_prometheus(name, config, ns, eks is not None, certificates)
        self.ready = [self.crds]
        uses_crds = pulumi.ResourceOptions(parent=self, depends_on=[ns, self.crds])
        self._scrape_targets(name, uses_crds)
        k8s.apiextensions.CustomResource(
            f"{name}-platform-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": "platform-rules", "namespace": NAMESPACE, "labels": {"release": RELEASE}},
            spec={"groups": platform_rule_groups(config.rules)},
            opts=uses_crds,
        )
        for key in DASHBOARDS:
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{key}",
                metadata={"name": f"dashboard-{key}", "namespace": NAMESPACE, "labels": {"grafana_dashboard": "1"}},
                data={f"{key}.json": dashboard_json(key)},
                opts=in_ns,
            )
        if config.loki.enabled:
            self._loki(name, config.loki, eks, region, in_ns)
        if config.tracing.enabled:
            self._jaeger(name, config.tracing, eks is not None, in_ns)
        self.tracing_address = pulumi.Output.from_input(f"jaeger.{NAMESPACE}.svc.cluster.local:{OTLP_PORT}")
        # Known names, not Outputs of the release: clients retry until the services answer,
        # and nothing needs to wait for the whole monitoring stack.
        self.alertmanager_url = pulumi.Output.from_input(f"http://{RELEASE}-alertmanager.{NAMESPACE}.svc.cluster.local:{ALERTMANAGER_PORT}")
        self.prometheus_url = pulumi.Output.from_input(f"http://{RELEASE}-prometheus.{NAMESPACE}.svc.cluster.local:{PROMETHEUS_PORT}")
        self.grafana_url = pulumi.Output.from_input(f"http://{RELEASE}-grafana.{NAMESPACE}.svc.cluster.local")
        self.tracing_query_url = pulumi.Output.from_input(JAEGER_QUERY_URL) if config.tracing.enabled else None
        self.register_outputs(
            {"tracing_address": self.tracing_address, "alertmanager_url": self.alertmanager_url, "prometheus_url": self.prometheus_url,
             "grafana_admin_password": self.grafana_admin_password}
        )

    def _kube_prometheus(self, name: str, config: ObservabilityConfig, ns: k8s.core.v1.Namespace, aws: bool, certificates: CertManager | None) -> None:
        """Grafana's admin Secret, the receivers' Secret, and kube-prometheus-stack (see `__init__`)."""
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False, opts=pulumi.ResourceOptions(parent=self))
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        grafana_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin-secret",
            metadata={"name": "grafana-admin", "namespace": NAMESPACE},
            string_data={"admin-user": config.grafana.admin_user, "admin-password": self.grafana_admin_password},
            opts=in_ns,
        )
        receivers_secret = None
        alerting = config.alerting
        if alerting.pager or alerting.chat:
            receivers_secret = k8s.core.v1.Secret(
                f"{name}-alertmanager-receivers",
                metadata={"name": "alertmanager-receivers", "namespace": NAMESPACE},
                string_data={k: pulumi.Output.secret(r.secret) for k, r in (("pager", alerting.pager), ("chat", alerting.chat)) if r},
                opts=in_ns,
            )
        values = kube_prometheus_values(
            config, grafana_secret.metadata.apply(lambda m: m["name"]), receivers_secret is not None,
            loki_scalable=aws, managed_control_plane=aws,
            webhook_issuer=certificates.internal_issuer if certificates else None,
        )
        after = [ns, self.crds, *([receivers_secret] if receivers_secret else [])]
        if certificates is not None:
            install_chart(
                f"{name}-kube-prometheus-stack", CHARTS["kube-prometheus-stack"], NAMESPACE, values,
                pulumi.ResourceOptions(parent=self, depends_on=[*after, *certificates.ready]), RELEASE, skip_crds=True,
            )
        else:
            install_release(
                f"{name}-kube-prometheus-stack", CHARTS["kube-prometheus-stack"], NAMESPACE, values,
                pulumi.ResourceOptions(parent=self, depends_on=after), RELEASE, skip_crds=True, timeout_seconds=900,
            )

    def _scrape_targets(self, name: str, opts: pulumi.ResourceOptions) -> None:
        """istiod, Envoy sidecars and gateways, Gatekeeper: the platform metrics the charts do not scrape themselves."""
        monitors = {
            "istiod": ("ServiceMonitor", {"selector": {"matchLabels": {"app": "istiod"}}, "namespaceSelector": {"matchNames": ["istio-system"]},
                                          "endpoints": [{"port": "http-monitoring", "interval": "30s"}]}),
            # Sidecars of pods without a MicroserviceStack ServiceMonitor (those scrape the same port).
            "envoy-stats": ("PodMonitor", {
                "selector": {"matchExpressions": [
                    {"key": "security.istio.io/tlsMode", "operator": "Exists"},
                    {"key": "app.kubernetes.io/part-of", "operator": "NotIn", "values": ["gitops-platform"]},
                ]},
                "namespaceSelector": {"any": True},
                "podMetricsEndpoints": [{"port": "http-envoy-prom", "path": "/stats/prometheus", "interval": "30s"}],
            }),
            "gatekeeper": ("PodMonitor", {"selector": {"matchLabels": {"gatekeeper.sh/system": "yes"}}, "namespaceSelector": {"matchNames": ["gatekeeper-system"]},
                                          "podMetricsEndpoints": [{"port": "metrics", "interval": "30s"}]}),
        }
        for key, (kind, spec) in monitors.items():
            k8s.apiextensions.CustomResource(
                f"{name}-{key}", api_version="monitoring.coreos.com/v1", kind=kind,
                metadata={"name": key, "namespace": NAMESPACE, "labels": {"release": RELEASE}}, spec=spec, opts=opts,
            )

    def _loki(self, name: str, config: LokiConfig, eks: EksCluster | None, region: str | None, opts: pulumi.ResourceOptions) -> None:
        bucket_name = role_arn = None
        if eks is not None:
            bucket = aws.s3.Bucket(f"{name}-loki-chunks", force_destroy=False, opts=pulumi.ResourceOptions(parent=self, protect=True))
            aws.s3.BucketPublicAccessBlock(
                f"{name}-loki-chunks", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
                ignore_public_acls=True, restrict_public_buckets=True, opts=pulumi.ResourceOptions(parent=self),
            )
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-loki-chunks", bucket=bucket.id,
                rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(sse_algorithm="aws:kms")
                )],
                opts=pulumi.ResourceOptions(parent=self),
            )
            policy = bucket.arn.apply(lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": arn},
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": f"{arn}/*"},
            ]}))
            role_arn = eks.irsa_role("loki", namespace=NAMESPACE, service_account="loki", policy=policy).arn
            bucket_name = bucket.bucket
        # On aws, Loki's write and backend StatefulSets keep the write-ahead log and the
        # compactor's state on volumes: protected, like every stateful resource there
        # (the chart's objects inherit `protect`).
        loki_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)) if eks is not None else opts
        install_chart(f"{name}-loki", CHARTS["loki"], NAMESPACE, loki_values(config, bucket_name, region, role_arn), loki_opts, "loki")
        install_chart(f"{name}-alloy", CHARTS["alloy"], NAMESPACE, alloy_values(config, scalable=eks is not None), opts, "alloy")

    def _jaeger(self, name: str, config: TracingConfig, persistent: bool, opts: pulumi.ResourceOptions) -> None:
        claim = None
        if persistent:
            pvc = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-jaeger-data",
                metadata={"name": "jaeger-data", "namespace": NAMESPACE},
                spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{config.storage_gib}Gi"}}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on, protect=True),  # holds the traces
            )
            claim = pvc.metadata.apply(lambda m: m["name"])
        install_chart(f"{name}-jaeger", CHARTS["jaeger"], NAMESPACE, jaeger_values(config, claim), opts, "jaeger")


def monitoring_isolation(config: ObservabilityConfig, namespace_input: pulumi.Input[str] | None = None) -> NamespaceIsolation:
    """What the monitoring namespace must let through (see `components.netpol`). Callers of
    Prometheus and Alertmanager in other components are added by whoever wires them."""
    return NamespaceIsolation(
        NAMESPACE,
        api_server_ports=(OPERATOR_WEBHOOK_PORT,),
        callers=(Peer(ANY_NAMESPACE, (OTLP_PORT,), "sidecars and gateways report spans to Jaeger"),) if config.tracing.enabled else (),
        calls=(Peer(ANY_NAMESPACE, reason="Prometheus scrapes every namespace's pods"),),
        external={
            # kubelet, node-exporter, kube-proxy and (on kind) etcd, scheduler, controller manager.
            "Prometheus scrapes host-network targets on the nodes": (2381, 9100, 10249, 10250, 10257, 10259),
            "Alertmanager notifies the pager and chat; Loki stores chunks in S3 on aws": (443,),
        },
        namespace_input=namespace_input,
    )


def kube_prometheus_values(
    config: ObservabilityConfig,
    grafana_secret: pulumi.Input[str],
    receivers: bool,
    *,
    loki_scalable: bool = False,
    managed_control_plane: bool = False,
    webhook_issuer: str | None = None,
) -> dict[str, Any]:
    """`managed_control_plane`: EKS runs etcd, the scheduler and the controller manager out of
    reach, and its kube-proxy serves metrics on 127.0.0.1 only: no Services, scrape jobs or
    alerts for them (they would select nothing or stay down, and alert forever).
    `webhook_issuer`: the ClusterIssuer of the operator's webhook certificate (cert-manager
    injects its CA); without it the chart's hook Jobs create both."""
    p, a, g = config.prometheus, config.alerting, config.grafana
    spec: dict[str, Any] = {
        "replicas": p.replicas,
        "retention": f"{p.retention_days}d",
        "retentionSize": f"{p.retention_size_gib}GB",
        "resources": p.resources.values(),
        # Pick up ServiceMonitors, PodMonitors, rules and probes from every namespace and release.
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        "scrapeConfigSelectorNilUsesHelmValues": False,
    }
    if p.storage_gib is not None:
        spec["storageSpec"] = {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{p.storage_gib}Gi"}}}}}
    alertmanager_spec: dict[str, Any] = {"replicas": a.replicas, "resources": a.resources.values()}
    if receivers:
        alertmanager_spec["secrets"] = ["alertmanager-receivers"]  # mounted at /etc/alertmanager/secrets/alertmanager-receivers/
    values: dict[str, Any] = {
        "fullnameOverride": RELEASE,
        "crds": {"enabled": False},  # owned by the stack's ConfigGroup (server-side apply)
        "prometheus": {"prometheusSpec": spec},
        "alertmanager": {"alertmanagerSpec": alertmanager_spec, "config": alertmanager_config(a)},
        "grafana": {
            "admin": {"existingSecret": grafana_secret, "userKey": "admin-user", "passwordKey": "admin-password"},
            "resources": g.resources.values(),
            "sidecar": {
                "resources": _TINY,
                "dashboards": {"enabled": True, "label": "grafana_dashboard", "searchNamespace": "ALL"},
                "datasources": {"enabled": True},
            },
            "additionalDataSources": grafana_datasources(config, loki_scalable=loki_scalable),
        },
        "prometheusOperator": {
            "resources": _SMALL,
            "admissionWebhooks": (
                {"certManager": {"enabled": True, "issuerRef": {"name": webhook_issuer, "kind": "ClusterIssuer"}}}
                if webhook_issuer
                # The admission webhook's certificate Jobs (hooks) get requests too.
                else {"patch": {"resources": HOOK_JOB_RESOURCES}}
            ),
        },
        "kube-state-metrics": {"resources": _TINY},
        "prometheus-node-exporter": {"resources": _TINY},
    }
    if managed_control_plane:
        # EKS runs these out of reach; its kube-proxy binds metrics to 127.0.0.1, out of Prometheus's
        # reach too (kind's is bound to the node by the cluster's kubeadm patches instead).
        for component in ("kubeEtcd", "kubeScheduler", "kubeControllerManager", "kubeProxy"):
            values[component] = {"enabled": False}
        values["defaultRules"] = {
            "rules": {"etcd": False, "kubeControllerManager": False, "kubeSchedulerAlerting": False, "kubeSchedulerRecording": False, "kubeProxy": False}
        }
    return values


def alertmanager_config(config: AlertingConfig) -> dict[str, Any]:
    """Routes by severity; receiver secrets are read from the mounted Secret, never written here."""
    secrets = "/etc/alertmanager/secrets/alertmanager-receivers"
    receivers: list[dict[str, Any]] = [{"name": "none"}]
    for key in ("pager", "chat"):
        receiver: ReceiverConfig | None = getattr(config, key)
        if receiver is None:
            continue
        if receiver.type == "pagerduty":
            receivers.append({"name": key, "pagerduty_configs": [{"routing_key_file": f"{secrets}/{key}", "send_resolved": True}]})
        elif receiver.type == "slack":
            receivers.append({"name": key, "slack_configs": [{"api_url_file": f"{secrets}/{key}", "send_resolved": True}]})
        else:
            receivers.append({"name": key, "webhook_configs": [{"url_file": f"{secrets}/{key}", "send_resolved": True}]})
    return {
        "route": {
            "receiver": "none",
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [{"matchers": [f'severity="{severity}"'], "receiver": receiver} for severity, receiver in config.effective_routes().items()],
        },
        "inhibit_rules": [
            {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'], "equal": ["alertname", "namespace"]}
        ],
        "receivers": receivers,
    }


def loki_url(component: Literal["push", "query"], *, scalable: bool) -> str:
    """Loki's in-cluster URL for writing or reading logs.

    The chart's Services follow its deployment mode: one `loki` Service for the single
    binary (local); `loki-write` and `loki-read` in simple scalable mode (aws), where
    the gateway that would front both stays off.
    """
    service = ("loki-write" if component == "push" else "loki-read") if scalable else "loki"
    return f"http://{service}.{NAMESPACE}.svc.cluster.local:3100"


JAEGER_QUERY_URL = f"http://jaeger.{NAMESPACE}.svc.cluster.local:{JAEGER_QUERY_PORT}"


def grafana_datasources(config: ObservabilityConfig, *, loki_scalable: bool = False) -> list[dict[str, Any]]:
    sources: list[dict[str, Any]] = []
    if config.loki.enabled:
        sources.append({"name": "Loki", "uid": "loki", "type": "loki", "access": "proxy", "url": loki_url("query", scalable=loki_scalable)})
    if config.tracing.enabled:
        jaeger: dict[str, Any] = {"name": "Jaeger", "uid": "jaeger", "type": "jaeger", "access": "proxy", "url": JAEGER_QUERY_URL}
        if config.loki.enabled:
            # From a span to the logs of the same pod around the same time.
            jaeger["jsonData"] = {"tracesToLogsV2": {"datasourceUid": "loki", "spanStartTimeShift": "-5m", "spanEndTimeShift": "5m",
                                                     "customQuery": True, "query": '{namespace="${__span.tags.namespace}"} |= "${__trace.traceId}"'}}
        sources.append(jaeger)
    return sources


_UNDECLARED = 'reporter="source", destination_service_name=~"BlackHoleCluster|PassthroughCluster"'


def platform_rule_groups(rules: RulesConfig) -> list[dict[str, Any]]:
    """The platform alerts (thresholds from config; every alert has severity, summary, description, runbook)."""

    def alert(name: str, expr: str, severity: str, summary: str, description: str, duration: str | None = None) -> dict[str, Any]:
        rule = {
            "alert": name,
            "expr": expr,
            "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description, "runbook_url": f"{RUNBOOKS}#{name.lower()}"},
        }
        if duration:
            rule["for"] = duration
        return rule

    window = f"{rules.for_minutes}m"
    error_budget = round(1 - rules.slo_availability_percent / 100, 6)
    ratio = 'sum(rate(istio_requests_total{{response_code=~"5.."}}[{w}])) / sum(rate(istio_requests_total[{w}]))'
    return [
        {"name": "kubernetes", "rules": [
            alert("PodCrashLooping", 'max by (namespace, pod, container) (kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}) == 1', "warning",
                  "Pod {{ $labels.namespace }}/{{ $labels.pod }} is crash looping", "Container {{ $labels.container }} keeps restarting (CrashLoopBackOff).", "5m"),
            alert("PodNotReady", 'sum by (namespace, pod) (kube_pod_status_ready{condition="false"}) > 0', "warning",
                  "Pod {{ $labels.namespace }}/{{ $labels.pod }} not ready", f"The pod has not been ready for {rules.pod_not_ready_minutes} minutes.", f"{rules.pod_not_ready_minutes}m"),
            alert("HighMemoryUsage",
                  f'sum by (namespace, pod, container) (container_memory_working_set_bytes{{container!=""}}) / sum by (namespace, pod, container) (kube_pod_container_resource_limits{{resource="memory"}}) * 100 > {rules.memory_percent_of_limit}',
                  "warning", "Container {{ $labels.container }} near its memory limit", f"Memory above {rules.memory_percent_of_limit}% of the limit for {window}.", window),
            alert("HighCPUUsage",
                  f'sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{{container!=""}}[5m])) / sum by (namespace, pod, container) (kube_pod_container_resource_limits{{resource="cpu"}}) * 100 > {rules.cpu_percent_of_limit}',
                  "warning", "Container {{ $labels.container }} near its CPU limit", f"CPU above {rules.cpu_percent_of_limit}% of the limit for {window}.", window),
        ]},
        {"name": "istio", "rules": [
            alert("IstioHighRequestLatency",
                  f"histogram_quantile(0.99, sum by (le, destination_service_name) (rate(istio_request_duration_milliseconds_bucket[5m]))) > {rules.istio_p99_latency_ms}",
                  "warning", "{{ $labels.destination_service_name }}: p99 latency high", f"p99 above {rules.istio_p99_latency_ms} ms for {window}.", window),
            alert("IstioHighErrorRate",
                  f'sum by (destination_service_name) (rate(istio_requests_total{{response_code=~"5.."}}[5m])) / sum by (destination_service_name) (rate(istio_requests_total[5m])) * 100 > {rules.istio_error_percent}',
                  "critical", "{{ $labels.destination_service_name }}: many 5xx", f"More than {rules.istio_error_percent}% of requests fail for {window}.", window),
            # A sidecar's call to a host outside the mesh's registry: dropped (BlackHoleCluster)
            # under REGISTRY_ONLY, let through (PassthroughCluster) under ALLOW_ANY.
            alert("UndeclaredEgress",
                  f"sum by (source_workload_namespace, source_workload, destination_service_name) (increase(istio_requests_total{{{_UNDECLARED}}}[10m])) > 0 "
                  f"or sum by (source_workload_namespace, source_workload, destination_service_name) "
                  f"(increase(istio_tcp_connections_opened_total{{{_UNDECLARED}}}[10m])) > 0",
                  "warning", "{{ $labels.source_workload_namespace }}/{{ $labels.source_workload }} calls a host it did not declare",
                  "{{ $labels.destination_service_name }}: BlackHoleCluster = refused (REGISTRY_ONLY), PassthroughCluster = let through "
                  "(ALLOW_ANY). Declare the host in the service's egress, or stop the call."),
        ]},
        {"name": "security", "rules": [
            alert("TrivyCriticalVulnerability", 'sum by (namespace, image_repository, image_tag) (trivy_image_vulnerabilities{severity="Critical"}) > 0', "critical",
                  "Critical vulnerability in {{ $labels.image_repository }}:{{ $labels.image_tag }}", "Trivy found {{ $value }} fixable critical vulnerabilities; rebuild on a patched base."),
            alert("GatekeeperViolation", "sum by (enforcement_action) (gatekeeper_violations) > 0", "warning",
                  "Gatekeeper audit found violations", "{{ $value }} objects violate constraints ({{ $labels.enforcement_action }}); `kubectl get constraints`.", "10m"),
        ]},
        {"name": "certificates", "rules": [
            # cert-manager renews 30 days before expiry: a certificate this close to expiry
            # has failed to renew for two weeks.
            alert("CertificateExpiringSoon",
                  f"min by (namespace, name) (certmanager_certificate_expiration_timestamp_seconds) - time() < {rules.certificate_expiry_days} * 86400",
                  "critical", "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires soon",
                  f"It expires in less than {rules.certificate_expiry_days} days and has not been renewed; "
                  "`kubectl -n {{ $labels.namespace }} describe certificate {{ $labels.name }}`.", "1h"),
            alert("CertificateNotReady",
                  'max by (namespace, name) (certmanager_certificate_ready_status{condition!="True"}) == 1',
                  "warning", "Certificate {{ $labels.namespace }}/{{ $labels.name }} not ready",
                  f"Not Ready for {rules.certificate_not_ready_minutes} minutes: issuance or renewal is failing; see README, TLS.",
                  f"{rules.certificate_not_ready_minutes}m"),
        ]},
        {"name": "slo", "rules": [
            # Multi-window burn rates (Google SRE workbook): 14.4x over 1h and 5m pages, 6x over 6h and 30m warns.
            alert("SLOErrorBudgetBurnFast",
                  f"({ratio.format(w='1h')}) > {14.4 * error_budget:g} and ({ratio.format(w='5m')}) > {14.4 * error_budget:g}",
                  "critical", "Error budget burning fast", f"At this rate the {rules.slo_availability_percent}% objective's monthly budget is gone in about 2 days."),
            alert("SLOErrorBudgetBurnSlow",
                  f"({ratio.format(w='6h')}) > {6 * error_budget:g} and ({ratio.format(w='30m')}) > {6 * error_budget:g}",
                  "warning", "Error budget burning", f"At this rate the {rules.slo_availability_percent}% objective's monthly budget is gone in about 5 days."),
        ]},
    ]


def loki_values(config: LokiConfig, bucket: pulumi.Input[str] | None, region: str | None, role_arn: pulumi.Input[str] | None) -> dict[str, Any]:
    retention = f"{config.retention_days * 24}h"
    resources = config.resources.values()
    s3 = bucket is not None
    values: dict[str, Any] = {
        "deploymentMode": "SimpleScalable" if s3 else "Monolithic",
        "loki": {
            "auth_enabled": False,  # one tenant: the platform
            "commonConfig": {"replication_factor": 3 if s3 else 1},
            "schemaConfig": {"configs": [{"from": "2024-04-01", "store": "tsdb", "object_store": "s3" if s3 else "filesystem", "schema": "v13",
                                          "index": {"prefix": "loki_index_", "period": "24h"}}]},
            "limits_config": {"retention_period": retention},
            "compactor": {"retention_enabled": True, "delete_request_store": "s3" if s3 else "filesystem"},
            "storage": {"type": "s3", "bucketNames": {"chunks": bucket, "ruler": bucket, "admin": bucket}, "s3": {"region": region}} if s3 else {"type": "filesystem"},
        },
        # The memcached caches reserve GBs; off until a workload needs them.
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "gateway": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "minio": {"enabled": False},
        # The rules sidecar loads Loki ruler rules from labelled ConfigMaps; the platform's
        # alerts are Prometheus rules, so it would only take resources.
        "sidecar": {"rules": {"enabled": False}},
    }
    if s3:
        values["serviceAccount"] = {"name": "loki", "annotations": {"eks.amazonaws.com/role-arn": role_arn}}
        values["singleBinary"] = {"replicas": 0}
        for target in ("write", "read", "backend"):
            values[target] = {"replicas": 3 if target == "write" else 2, "resources": resources}
    else:
        values["singleBinary"] = {"replicas": 1, "resources": resources, "persistence": {"enabled": True, "size": f"{config.storage_gib}Gi"}}
        for target in ("write", "read", "backend"):
            values[target] = {"replicas": 0}
    return values


ALLOY_STORAGE = "/var/lib/alloy"
"""Where Alloy keeps its read positions: a host directory, so a restarted pod resumes where it stopped."""


def alloy_config(push_url: str) -> str:
    """Alloy's pipeline: this node's pods' log files -> CRI parsing -> Loki.

    The labels are promtail's (its chart's `kubernetes-pods` job): namespace, pod,
    container, app, instance, component, node_name and job (`namespace/app`), so every
    LogQL query of the dashboards, alerts and the Jaeger → Loki link keeps working.
    """
    def first_of(target: str, *sources: str) -> str:
        labels = ", ".join(f'"{source}"' for source in sources)
        return f'  rule {{\n    source_labels = [{labels}]\n    regex         = "^;*([^;]+)(;.*)?$"\n    target_label  = "{target}"\n  }}\n'

    def copy(source: str, target: str) -> str:
        return f'  rule {{\n    source_labels = ["{source}"]\n    target_label  = "{target}"\n  }}\n'

    return (
        'discovery.kubernetes "pods" {\n'
        '  role = "pod"\n'
        "  // Only this node's pods: HOSTNAME is the node's name in the chart's pods.\n"
        '  selectors {\n    role  = "pod"\n    field = "spec.nodeName=" + sys.env("HOSTNAME")\n  }\n'
        "}\n\n"
        'discovery.relabel "pods" {\n'
        "  targets = discovery.kubernetes.pods.targets\n"
        '  rule {\n    source_labels = ["__meta_kubernetes_pod_controller_name"]\n    regex         = "([0-9a-z-.]+?)(-[0-9a-f]{8,10})?"\n'
        '    target_label  = "__tmp_controller_name"\n  }\n'
        + first_of("app", "__meta_kubernetes_pod_label_app_kubernetes_io_name", "__meta_kubernetes_pod_label_app",
                   "__tmp_controller_name", "__meta_kubernetes_pod_name")
        + first_of("instance", "__meta_kubernetes_pod_label_app_kubernetes_io_instance", "__meta_kubernetes_pod_label_instance")
        + first_of("component", "__meta_kubernetes_pod_label_app_kubernetes_io_component", "__meta_kubernetes_pod_label_component")
        + copy("__meta_kubernetes_pod_node_name", "node_name")
        + copy("__meta_kubernetes_namespace", "namespace")
        + '  rule {\n    source_labels = ["namespace", "app"]\n    separator     = "/"\n    target_label  = "job"\n  }\n'
        + copy("__meta_kubernetes_pod_name", "pod")
        + copy("__meta_kubernetes_pod_container_name", "container")
        + '  rule {\n    source_labels = ["__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_container_name"]\n    separator     = "/"\n'
        '    replacement   = "/var/log/pods/*$1/*.log"\n    target_label  = "__path__"\n  }\n'
        "}\n\n"
        'local.file_match "pods" {\n  path_targets = discovery.relabel.pods.output\n}\n\n'
        'loki.source.file "pods" {\n  targets    = local.file_match.pods.targets\n  forward_to = [loki.process.pods.receiver]\n}\n\n'
        'loki.process "pods" {\n  stage.cri {}\n  forward_to = [loki.write.default.receiver]\n}\n\n'
        f'loki.write "default" {{\n  endpoint {{\n    url = "{push_url}"\n  }}\n}}\n'
    )


def alloy_values(config: LokiConfig, *, scalable: bool = False) -> dict[str, Any]:
    """Grafana Alloy as a DaemonSet reading every pod's log files on its node (replaces promtail)."""
    return {
        "crds": {"create": False},  # PodLogs: not used (the pipeline discovers pods itself)
        "alloy": {
            "configMap": {"content": alloy_config(f"{loki_url('push', scalable=scalable)}/loki/api/v1/push")},
            "storagePath": ALLOY_STORAGE,
            "enableReporting": False,  # no usage reports to grafana.com: the collector needs no internet
            "mounts": {"varlog": True, "extra": [{"name": "storage", "mountPath": ALLOY_STORAGE}]},
            # Root reads the root-owned 0640 log files as their owner; no capability, nothing else writable.
            "securityContext": {
                "runAsUser": 0, "runAsGroup": 0, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
            },
            "resources": config.collector_resources.values(),
        },
        # Without the reloader sidecar the chart stamps the pods with the config's checksum,
        # so a config change rolls the DaemonSet.
        "configReloader": {"enabled": False},
        "controller": {
            "type": "daemonset",
            "volumes": {"extra": [{"name": "storage", "hostPath": {"path": ALLOY_STORAGE, "type": "DirectoryOrCreate"}}]},
        },
    }


def jaeger_values(config: TracingConfig, claim: pulumi.Input[str] | None) -> dict[str, Any]:
    storage: dict[str, Any] = (
        {"badger": {"directories": {"keys": "/badger/keys", "values": "/badger/values"}, "ephemeral": False, "ttl": {"spans": "168h"}}}
        if claim is not None
        else {"memory": {"max_traces": 50000}}
    )
    values: dict[str, Any] = {
        "jaeger": {"replicas": 1, "resources": config.resources.values()},
        # Jaeger v2 (OpenTelemetry collector based): OTLP from the mesh, Zipkin for older clients.
        "userconfig": {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {"traces": {"receivers": ["otlp", "zipkin"], "processors": ["batch"], "exporters": ["jaeger_storage_exporter"]}},
            },
            "extensions": {
                "healthcheckv2": {"use_v2": True, "http": {"endpoint": "0.0.0.0:13133"}},
                "jaeger_query": {"storage": {"traces": "primary_store"}},
                "jaeger_storage": {"backends": {"primary_store": storage}},
            },
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}}, "zipkin": {"endpoint": "0.0.0.0:9411"}},
            "processors": {"batch": {}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "primary_store"}},
        },
    }
    if claim is not None:
        values["jaeger"]["extraVolumes"] = [{"name": "badger", "persistentVolumeClaim": {"claimName": claim}}]
        values["jaeger"]["extraVolumeMounts"] = [{"name": "badger", "mountPath": "/badger"}]
    return values
