"""MicroserviceStack: one typed object gives a service mesh-routed, autoscaled, monitored and policy-compliant.

    from components import MicroserviceConfig, MicroserviceStack, PlatformWiring

    api = MicroserviceStack(
        "api",
        MicroserviceConfig(name="api", image="localhost:5001/api:1.4.0",
                           exposure={"host": "api.localtest.me", "pathPrefix": "/api"}),
        PlatformWiring(environment="local", allowed_registries=["localhost:5001/"]),
        opts=pulumi.ResourceOptions(provider=k8s_provider, depends_on=mesh.ready),
    )
    pulumi.export("api", api.endpoint)

Needs in the cluster: Istio's CRDs (VirtualService, DestinationRule, AuthorizationPolicy,
RequestAuthentication), the Prometheus operator's (ServiceMonitor, PrometheusRule) when
monitoring is on, KEDA's (ScaledObject) with `autoscaling.mode: keda`, and the VPA's
(VerticalPodAutoscaler) with `vpa` other than `off`. Depend on whatever installs them.
"""

# No `from __future__ import annotations` here: pydantic would compile every field's
# annotation string at import; evaluated eagerly, `from components import
# MicroserviceStack` stays cheap. Annotations naming Kubernetes SDK types are quoted so
# that importing this module does not load those SDK modules.

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, field_validator, model_validator

from .delivery import DeliveryConfig, analysis_template_spec
from .model import DNS_DOMAIN, DNS_LABEL, KeyProblem, Model, ResourcesConfig
from .netpol import DNS_PORTS, KUBE_DNS, namespace_peer, tcp
from .security.vault_access import NAMESPACE as VAULT_NAMESPACE
from .security.vault_access import VaultAccess, VaultSecretConfig, job_spec, role_name, role_script, secret_provider_class_spec, seed_env, synced_secret
from .wiring import PlatformWiring

_IMAGE = re.compile(r"^(?P<repo>[a-z0-9][a-z0-9._:/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")
HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INGRESS_PRINCIPAL = "ns/istio-ingress/sa/istio-ingressgateway"


def parse_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference; raises ValueError for `latest` or untagged."""
    match = _IMAGE.match(image)
    if not match or (match.group("repo").rsplit("/", 1)[-1].count(":")):
        raise ValueError(f"{image!r} is not an image reference (registry/repository:tag or @sha256:<digest>)")
    tag, digest = match.group("tag"), match.group("digest")
    if digest is None and tag is None:
        raise ValueError("untagged images are rejected: use registry/repository:<version> or @sha256:<digest>")
    if tag == "latest" and digest is None:
        raise ValueError("`latest` is rejected: pin a version tag or a digest")
    return match.group("repo"), tag, digest


def _image(value: str) -> str:
    parse_image(value)
    return value


class ProbeConfig(Model):
    path: str = Field(description="HTTP path probed.")
    initial_delay_seconds: int = Field(0, ge=0, le=600)
    period_seconds: int = Field(10, ge=1, le=300)
    timeout_seconds: int = Field(2, ge=1, le=60)
    failure_threshold: int = Field(3, ge=1, le=30)


class ProbesConfig(Model):
    """Liveness restarts a stuck container; readiness takes it out of load balancing; startup gives slow starts time."""

    liveness: ProbeConfig = Field(default_factory=lambda: ProbeConfig(path="/health"))
    readiness: ProbeConfig = Field(default_factory=lambda: ProbeConfig(path="/ready"))
    startup: ProbeConfig | None = Field(default_factory=lambda: ProbeConfig(path="/health", failure_threshold=30, period_seconds=2))


class SecretRefConfig(Model):
    secret: str = Field(description="Secret name in the service's namespace.")
    key: str = Field(description="Key in the Secret.")


class ExposureConfig(Model):
    """Routing from the mesh gateway to the service."""

    host: str = Field(description="Host name at the gateway, e.g. api.localtest.me.")
    path_prefix: str = Field("/", description="Path prefix routed to the service.")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not HOST.match(value):
            raise ValueError("must be a host name like api.example.com")
        return value

    @field_validator("path_prefix")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


class CanaryConfig(Model):
    image: str = Field(description="Canary image (pinned like `image`).")
    version: str | None = Field(None, description="Version label of the canary; default: the canary image's tag.")
    weight: int = Field(10, ge=0, le=100, description="Share of traffic (percent) to the canary; the stable version gets the rest.")
    header: str = Field("x-canary", description="Requests with this header set to `true` always go to the canary.")
    replicas: int = Field(1, ge=1, le=20, description="Canary replicas.")

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        return _image(value)


class RetriesConfig(Model):
    attempts: int = Field(3, ge=0, le=10)
    per_try_timeout_seconds: float = Field(2, gt=0, le=60)
    retry_on: str = Field("5xx,reset,connect-failure,retriable-4xx", description="Envoy retry conditions.")


class ConnectionPoolConfig(Model):
    max_connections: int = Field(100, ge=1)
    http1_max_pending_requests: int = Field(100, ge=1)
    http2_max_requests: int = Field(1000, ge=1)
    max_requests_per_connection: int = Field(10, ge=1)


class OutlierDetectionConfig(Model):
    """Circuit breaker: eject a pod after consecutive 5xx, for a while."""

    consecutive_errors: int = Field(5, ge=1)
    interval_seconds: int = Field(30, ge=1)
    base_ejection_time_seconds: int = Field(30, ge=1)
    max_ejection_percent: int = Field(50, ge=1, le=100)


class TrafficConfig(Model):
    timeout_seconds: float = Field(10, gt=0, le=3600, description="Request timeout at the caller's proxy.")
    retries: RetriesConfig = Field(default_factory=RetriesConfig)
    connection_pool: ConnectionPoolConfig = Field(default_factory=ConnectionPoolConfig)
    outlier_detection: OutlierDetectionConfig = Field(default_factory=OutlierDetectionConfig)

    @model_validator(mode="after")
    def _retries_fit(self) -> "TrafficConfig":
        if self.retries.attempts and self.retries.per_try_timeout_seconds > self.timeout_seconds:
            raise KeyProblem("retries.perTryTimeoutSeconds", f"must not exceed timeoutSeconds ({self.timeout_seconds})", self.retries.per_try_timeout_seconds)
        return self


class CallerConfig(Model):
    """A workload allowed to call this service, by its service account."""

    namespace: str
    service_account: str

    @field_validator("namespace", "service_account")
    @classmethod
    def _dns(cls, value: str) -> str:
        if not DNS_LABEL.match(value):
            raise ValueError("must be a DNS-1123 label")
        return value


class DependencyConfig(Model):
    """A service this one calls (egress NetworkPolicy)."""

    namespace: str
    app: str
    port: int = Field(ge=1, le=65535)


class EgressConfig(Model):
    """An external host this service calls: a ServiceEntry (the mesh lets it through, also under
    REGISTRY_ONLY), the matching NetworkPolicy egress, and the egress gateway's route when one runs."""

    host: str = Field(description="DNS name (api.example.com) or wildcard (*.example.com) of the external service.")
    port: int = Field(443, ge=1, le=65535, description="Port the service connects to.")
    protocol: Literal["HTTPS", "TLS", "HTTP"] = Field(
        "HTTPS", description="`HTTPS`/`TLS`: the app speaks TLS (the mesh routes by SNI); `HTTP`: plain HTTP (routed by Host)."
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        name = value[2:] if value.startswith("*.") else value
        if not DNS_DOMAIN.match(name):
            raise ValueError(
                "must be a DNS name like api.example.com or a wildcard like *.example.com "
                "(no scheme, port, path or IP address; lowercase)"
            )
        return value

    @property
    def slug(self) -> str:
        """A name fragment for this host's objects (`api-example-com-443`)."""
        return f"{self.host.replace('*', 'wildcard').replace('.', '-')}-{self.port}"[:50].strip("-")


class JwtConfig(Model):
    issuer: str = Field(description="Token issuer (`iss`).")
    jwks_uri: str = Field(description="JWKS endpoint (https).")
    audiences: list[str] = Field(default_factory=list, description="Accepted audiences (`aud`); empty accepts any.")
    protected_paths: list[str] = Field(default_factory=lambda: ["/*"], min_length=1, description="Paths that require a valid token.")

    @field_validator("jwks_uri")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value


class CustomMetricConfig(Model):
    """A per-pod metric to scale on (HPA pods metric; KEDA Prometheus query)."""

    name: str = Field(description="Metric name (HPA) / trigger name.")
    target_average: str = Field(description="Target per-pod average, e.g. `100`.")
    query: str | None = Field(None, description="KEDA: PromQL query returning the value to scale on.")


class AutoscalingConfig(Model):
    mode: Literal["none", "hpa", "keda"] = Field("hpa", description="`hpa` (CPU/memory/custom), `keda` (Prometheus + CPU fallback) or `none`.")
    min_replicas: int = Field(2, ge=1, le=100)
    max_replicas: int = Field(10, ge=1, le=1000)
    cpu_percent: int = Field(70, ge=1, le=100, description="Target CPU utilization of requests.")
    memory_percent: int | None = Field(None, ge=1, le=100, description="Target memory utilization of requests (off by default).")
    custom_metric: CustomMetricConfig | None = None
    keda: dict[str, Any] | None = Field(None, description="KEDA settings: {serverAddress: <prometheus URL>}; only with mode `keda`.")

    @model_validator(mode="after")
    def _consistent(self) -> "AutoscalingConfig":
        if self.min_replicas > self.max_replicas:
            raise KeyProblem("minReplicas", f"must be at most maxReplicas ({self.max_replicas})", self.min_replicas)
        if self.keda is not None and self.mode != "keda":
            raise KeyProblem("keda", "an HPA and a KEDA ScaledObject must never scale the same Deployment; set mode: keda or remove keda", self.keda)
        if self.mode == "keda":
            if not (self.keda or {}).get("serverAddress"):
                raise KeyProblem("keda.serverAddress", "required with mode keda: the Prometheus URL the trigger queries")
            if self.custom_metric is None or not self.custom_metric.query:
                raise KeyProblem("customMetric.query", "required with mode keda: the PromQL query to scale on")
        return self


class MonitoringConfig(Model):
    enabled: bool = Field(True, description="ServiceMonitor (Istio-merged metrics) and per-service alerts.")
    default_alerts: bool = Field(True, description="5xx > 1 %, p95 > 1 s, restarts > 5 in 15 m.")
    slo_target_percent: float = Field(99.9, gt=0, lt=100, description="Availability objective (for burn-rate alerts and dashboards).")
    runbook_base_url: str = Field(
        "docs/runbooks.md", description="Where the alerts' runbooks live (set your repository's URL of docs/runbooks.md); alerts link to anchors in it."
    )


class MicroserviceConfig(Model):
    """A service as an app team describes it. Everything not given is the secure default."""

    name: str = Field(description="Service name (DNS-1123 label): Deployment, Service, ServiceAccount and `app` label.")
    namespace: str = Field("apps", description="Namespace (created by the platform, sidecar injection on).")
    image: str = Field(description="`registry/repository:tag` or `...@sha256:<digest>`; `latest` and untagged are rejected.")
    version: str | None = Field(None, description="`version` label; default: the image tag.")
    port: int = Field(8080, ge=1024, le=65535, description="Container port (unprivileged).")
    replicas: int = Field(2, ge=1, le=100, description="Replicas when not autoscaled (the autoscaler's minimum otherwise).")
    resources: ResourcesConfig = Field(
        default_factory=lambda: ResourcesConfig.model_validate({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}})
    )
    env: dict[str, str | SecretRefConfig] = Field(default_factory=dict, description="Plain values, or {secret, key} references to a Secret.")
    probes: ProbesConfig = Field(default_factory=ProbesConfig)
    automount_service_account_token: bool = Field(False, description="Mount a Kubernetes API token (off: the service does not talk to the API).")
    exposure: ExposureConfig | None = Field(None, description="Route from the mesh gateway; not exposed when unset.")
    public_paths: list[str] = Field(default_factory=list, description="Paths the gateway may call; default: the exposed path prefix.")
    canary: CanaryConfig | None = None
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig, description="`rolling` (default) or an analysed `canary` (Argo Rollouts).")
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    allowed_callers: list[CallerConfig] = Field(default_factory=list, description="Service accounts allowed to call the service.")
    dependencies: list[DependencyConfig] = Field(default_factory=list, description="Services this one calls (egress).")
    secrets: list[VaultSecretConfig] = Field(
        default_factory=list,
        description="Secrets the service reads from Vault (path inside its own prefix `<namespace>/<name>/`, keys, as env or file), "
        "through the Secrets Store CSI driver with a Vault role bound to its own ServiceAccount.",
    )
    egress: list[EgressConfig] = Field(
        default_factory=list,
        description="External hosts this service calls. Nothing else outside the cluster is reachable: the mesh's "
        "REGISTRY_ONLY mode (aws) refuses undeclared hosts and the NetworkPolicy opens only these ports.",
    )
    jwt: JwtConfig | None = None
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig)
    vpa: Literal["off", "initial", "auto"] = Field("off", description="VerticalPodAutoscaler mode (`auto` conflicts with an HPA on CPU/memory).")
    pdb: bool = Field(True, description="PodDisruptionBudget (when at least 2 replicas).")
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)

    @field_validator("name", "namespace")
    @classmethod
    def _dns(cls, value: str) -> str:
        if not DNS_LABEL.match(value):
            raise ValueError("must be a DNS-1123 label: lowercase letters, digits and '-', at most 63")
        return value

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        return _image(value)

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in value if not _ENV_NAME.match(k)]
        if bad:
            raise ValueError(f"not environment variable names: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "MicroserviceConfig":
        if self.version is None and parse_image(self.image)[1] is None:
            raise KeyProblem("version", "required when the image is pinned by digest only: the version label of this release")
        scaled_on_resources = self.autoscaling.mode == "hpa"
        if self.vpa == "auto" and scaled_on_resources:
            raise KeyProblem("vpa", "`auto` fights an HPA scaling on CPU/memory; use `initial` or `off`, or autoscale with keda", self.vpa)
        if self.canary is not None and self.delivery.strategy == "canary":
            raise KeyProblem(
                "canary",
                "a fixed canary (a second Deployment at a static weight) and delivery.strategy `canary` (Argo Rollouts moving the weight) "
                "cannot both route this service; remove canary, or set delivery.strategy: rolling",
            )
        if self.canary is not None and self.canary_version == self.stable_version:
            raise KeyProblem("canary.version", f"must differ from the stable version ({self.stable_version}) so traffic can be split", self.canary_version)
        prefix = f"{self.namespace}/{self.name}/"
        for i, secret in enumerate(self.secrets):
            if not secret.path.startswith(prefix):
                raise KeyProblem(
                    f"secrets[{i}].path",
                    f"is outside the service's own Vault prefix: its role may read only secret/{prefix}*; use a path like {prefix}<name>",
                    secret.path,
                )
        if len({s.mount_path for s in self.secrets}) > 1:
            raise KeyProblem("secrets", "every secret of a service shares one mountPath (one CSI volume): give them all the same")
        env_keys = [k for s in self.secrets if s.as_ == "env" for k in s.keys]
        clashes = sorted({k for k in env_keys if env_keys.count(k) > 1} | (set(env_keys) & set(self.env)))
        if clashes:
            raise KeyProblem("secrets", f"{', '.join(clashes)} would be set twice as environment variables; rename one")
        seen = [(e.host, e.port) for e in self.egress]
        duplicates = sorted({f"{h}:{p}" for h, p in seen if seen.count((h, p)) > 1})
        if duplicates:
            raise KeyProblem("egress", f"{', '.join(duplicates)} declared more than once; keep one entry per host and port")
        if self.public_paths and self.exposure is None:
            raise KeyProblem("publicPaths", "only used with exposure; set exposure.host or remove publicPaths", self.public_paths)
        return self

    @property
    def stable_version(self) -> str:
        return self.version or parse_image(self.image)[1] or "stable"

    @property
    def canary_version(self) -> str | None:
        if self.canary is None:
            return None
        return self.canary.version or parse_image(self.canary.image)[1]

    def check_registries(self, allowed: Sequence[str]) -> None:
        """Raise if an image is outside `allowed` registry prefixes (the policy pack and Gatekeeper would refuse it)."""
        images = [("image", self.image)] + ([("canary.image", self.canary.image)] if self.canary else [])
        for key, image in images:
            if allowed and not any(image.startswith(prefix) for prefix in allowed):
                raise ValueError(f"{self.name}: {key} {image} is not from an allowed registry {list(allowed)}; push it to the platform's registry")


def depends_on_list(opts: pulumi.ResourceOptions | None) -> list[Any]:
    """`opts.depends_on` as a list (it may be one resource, a list, or nothing)."""
    deps = opts.depends_on if opts else None
    if deps is None:
        return []
    return list(deps) if isinstance(deps, (list, tuple)) else [deps]


def _seconds(value: float) -> str:
    return f"{value:g}s"


class MicroserviceStack(pulumi.ComponentResource):
    """A service on the platform: secure Deployment(s), Service, autoscaling, mesh routing and authorization, monitoring."""

    endpoint: pulumi.Output[str]
    """`https://<host><path>` when exposed at the gateway, else the in-mesh URL `http://<name>.<namespace>.svc.cluster.local`."""
    service_account: pulumi.Output[str]
    """Name of the service's ServiceAccount (its mesh identity)."""

    def __init__(
        self,
        name: str,
        config: MicroserviceConfig,
        platform: PlatformWiring | None = None,
        *,
        image: pulumi.Input[str] | None = None,
        canary_image: pulumi.Input[str] | None = None,
        vault_seeds: Mapping[str, Mapping[str, pulumi.Input[str]]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`platform`: where the service plugs into the platform — environment, gateway, mesh,
        monitoring, registries, egress gateway, Vault (`PlatformWiring`; default: the `local`
        stack's). `image` / `canary_image`: the reference to run when it is only known at deploy
        time (the digest of an image built in the same program); `config.image` then names the
        repository and tag it was built as (validated like any image). `vault_seeds`: path ->
        key -> value written once where Vault holds nothing yet (sample data; the values travel
        in a Secret in `vault`). The workload itself does not wait for Vault: the kubelet
        retries the volume until the role and the class exist."""
        wiring = platform if platform is not None else PlatformWiring()
        if not isinstance(wiring, PlatformWiring):
            raise TypeError(f"{name}: platform must be a PlatformWiring (components.PlatformWiring), not {type(wiring).__name__}")
        config.check_registries(wiring.allowed_registries)  # before anything is registered
        super().__init__("gitops-platform:index:MicroserviceStack", name, None, opts)
        self._name, self._config, self._environment = name, config, wiring.environment
        # A component's depends_on does not reach its children: pass it on, so nothing here
        # is created before the CRDs, webhooks and namespace it was told to wait for.
        self._depends_on = depends_on_list(opts)
        child = self._opts()
        c = config
        def meta(extra: dict[str, Any] | None = None) -> dict[str, Any]:
            return {"name": c.name, "namespace": c.namespace, "labels": self._labels(c.stable_version), **(extra or {})}

        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=meta(), automount_service_account_token=c.automount_service_account_token, opts=child
        )
        self._vault_access = wiring.vault or VaultAccess()
        if c.secrets:
            self._vault(name, vault_seeds or {}, wiring.vault_ready)
        autoscaled = c.autoscaling.mode != "none"
        floor = c.autoscaling.min_replicas if autoscaled else c.replicas
        if c.delivery.strategy == "canary":
            self._rollout(name, image or c.image, floor, autoscaled, wiring.zone_spread)
        else:
            self._deployment(f"{name}-stable", "stable", image or c.image, c.stable_version, floor, autoscaled, wiring.zone_spread, account)
        if c.canary is not None:
            self._deployment(
                f"{name}-canary", "canary", canary_image or c.canary.image, c.canary_version or "canary", c.canary.replicas, False, wiring.zone_spread, account
            )

        service = self._service(name, meta(), floor)
        self._autoscaling(name, meta())
        self._egress_gateway = wiring.egress_gateway
        self._network_policy(name, meta(), wiring.gateway, wiring.monitoring_namespace)
        self._mesh(name, meta(), wiring.gateway, wiring.trust_domain)
        self._egress(name)
        if c.monitoring.enabled:
            self._monitoring(name, meta())

        host = f"{c.name}.{c.namespace}.svc.cluster.local"
        self.endpoint = service.metadata.apply(
            lambda _: f"https://{c.exposure.host}{c.exposure.path_prefix}" if c.exposure else f"http://{host}"
        )
        self.service_account = account.metadata.apply(lambda m: m["name"])
        self.register_outputs({"endpoint": self.endpoint, "service_account": self.service_account})

    def _service(self, name: str, meta: dict[str, Any], floor: int) -> "k8s.core.v1.Service":
        """The Service (and the merged-metrics port when monitored) and the PodDisruptionBudget."""
        c, child = self._config, self._opts()
        ports = [{"name": "http", "port": 80, "targetPort": c.port, "protocol": "TCP"}]
        if c.monitoring.enabled:
            ports.append({"name": "http-monitoring", "port": 15020, "targetPort": 15020, "protocol": "TCP"})
        service = k8s.core.v1.Service(f"{name}-svc", metadata=meta, spec={"selector": {"app": c.name}, "ports": ports}, opts=child)
        pdb_selector = {"app": c.name} if c.delivery.strategy == "canary" else {"app": c.name, "track": "stable"}
        if c.pdb and floor >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                # A Rollout's stable and canary pods share one template (the controller adds their
                # track labels at run time): the budget covers the service's pods as a whole.
                f"{name}-pdb", metadata=meta, spec={"minAvailable": floor - 1, "selector": {"matchLabels": pdb_selector}}, opts=child
            )
        return service

    def _opts(self, **options: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=self._depends_on, **options)

    def _labels(self, version: str, track: str | None = None) -> dict[str, str]:
        c = self._config
        labels = {
            "app": c.name,
            "version": version,
            "environment": self._environment,
            "app.kubernetes.io/name": c.name,
            "app.kubernetes.io/version": version,
            "app.kubernetes.io/managed-by": "pulumi",
            "app.kubernetes.io/part-of": "gitops-platform",
        }
        if track:
            labels["track"] = track
        return labels

    def _container(self, image: pulumi.Input[str]) -> dict[str, Any]:
        c = self._config
        env = [
            {"name": k, "value": v} if isinstance(v, str) else {"name": k, "valueFrom": {"secretKeyRef": {"name": v.secret, "key": v.key}}}
            for k, v in sorted(c.env.items())
        ]
        # Vault keys read `as: env`: from the Secret the CSI driver syncs while the pod mounts them.
        env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": synced_secret(c.name), "key": k}}} for s in c.secrets if s.as_ == "env" for k in s.keys]
        mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
        if c.secrets:
            mounts.append({"name": "vault-secrets", "mountPath": c.secrets[0].mount_path, "readOnly": True})

        def probe(p: ProbeConfig | None) -> dict[str, Any] | None:
            if p is None:
                return None
            return {
                "httpGet": {"path": p.path, "port": "http"},
                "initialDelaySeconds": p.initial_delay_seconds,
                "periodSeconds": p.period_seconds,
                "timeoutSeconds": p.timeout_seconds,
                "failureThreshold": p.failure_threshold,
            }

        container = {
            "name": c.name,
            "image": image,
            "ports": [{"name": "http", "containerPort": c.port, "protocol": "TCP"}],
            "env": env,
            "resources": c.resources.values(),
            "livenessProbe": probe(c.probes.liveness),
            "readinessProbe": probe(c.probes.readiness),
            "securityContext": {
                "runAsNonRoot": True,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "privileged": False,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumeMounts": mounts,
        }
        if c.probes.startup is not None:
            container["startupProbe"] = probe(c.probes.startup)
        return {k: v for k, v in container.items() if v is not None}

    def _pod_template(self, image: pulumi.Input[str], labels: dict[str, str], selector: dict[str, str], zone_spread: bool) -> dict[str, Any]:
        c = self._config
        spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}}]
        if zone_spread:
            spread.append({"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}})
        return {
            "metadata": {"labels": labels},
            "spec": {
                # Plain names, not Outputs: the ServiceAccount and autoscalers need not
                # lengthen the dependency chain (the ReplicaSet controller retries until
                # the ServiceAccount exists).
                "serviceAccountName": c.name,
                "automountServiceAccountToken": c.automount_service_account_token,
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [self._container(image)],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}, *self._secret_volumes()],
                "topologySpreadConstraints": spread,
            },
        }

    def _secret_volumes(self) -> list[dict[str, Any]]:
        """The read-only CSI volume of the service's Vault secrets (none without `secrets`)."""
        c = self._config
        if not c.secrets:
            return []
        return [{"name": "vault-secrets", "csi": {
            "driver": "secrets-store.csi.k8s.io", "readOnly": True, "volumeAttributes": {"secretProviderClass": synced_secret(c.name)},
        }}]

    def _deployment(
        self, name: str, track: str, image: pulumi.Input[str], version: str, replicas: int, autoscaled: bool, zone_spread: bool, account: "k8s.core.v1.ServiceAccount"
    ) -> "k8s.apps.v1.Deployment":
        c = self._config
        selector = {"app": c.name, "track": track}
        labels = self._labels(version, track)
        return k8s.apps.v1.Deployment(
            name,
            metadata={"name": c.name if track == "stable" else f"{c.name}-canary", "namespace": c.namespace, "labels": labels},
            spec={
                "replicas": replicas,
                "selector": {"matchLabels": selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": self._pod_template(image, labels, selector, zone_spread),
            },
            # The autoscaler owns the replica count; a diff on it would reset every scale-out.
            opts=self._opts(ignore_changes=["spec.replicas"] if autoscaled else None),
        )

    def _rollout(self, name: str, image: pulumi.Input[str], replicas: int, autoscaled: bool, zone_spread: bool) -> None:
        """An Argo Rollouts canary: traffic moved through the service's VirtualService route
        `primary` and DestinationRule subsets, analysed in Prometheus, rolled back on failure."""
        c = self._config
        host = f"{c.name}.{c.namespace}.svc.cluster.local"
        selector = {"app": c.name}
        labels = self._labels(c.stable_version)
        template = f"{c.name}-canary-analysis"
        k8s.apiextensions.CustomResource(
            f"{name}-analysis",
            api_version="argoproj.io/v1alpha1",
            kind="AnalysisTemplate",
            metadata={"name": template, "namespace": c.namespace, "labels": labels},
            spec=analysis_template_spec(host, c.delivery.analysis),
            opts=self._opts(),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-rollout",
            api_version="argoproj.io/v1alpha1",
            kind="Rollout",
            metadata={"name": c.name, "namespace": c.namespace, "labels": labels},
            spec={
                "replicas": replicas,
                "selector": {"matchLabels": selector},
                "template": self._pod_template(image, labels, selector, zone_spread),
                "strategy": {
                    "canary": {
                        # The controller labels each side, so the PodDisruptionBudget and the
                        # dashboards tell stable from canary pods.
                        "stableMetadata": {"labels": {"track": "stable"}},
                        "canaryMetadata": {"labels": {"track": "canary"}},
                        "maxSurge": 1,
                        "maxUnavailable": 0,
                        "trafficRouting": {
                            "istio": {
                                "virtualService": {"name": c.name, "routes": ["primary"]},
                                "destinationRule": {"name": c.name, "stableSubsetName": "stable", "canarySubsetName": "canary"},
                            }
                        },
                        # Background analysis from the first step; a failure aborts and rolls back.
                        "analysis": {"templates": [{"templateName": template}], "startingStep": 1},
                        "steps": c.delivery.rollout_steps(),
                    }
                },
            },
            opts=self._opts(ignore_changes=["spec.replicas"] if autoscaled else None),
        )

    def _autoscaling(self, name: str, meta: dict[str, Any]) -> None:
        c, a = self._config, self._config.autoscaling
        child = self._opts()
        target = (
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": c.name}
            if c.delivery.strategy == "canary"
            else {"apiVersion": "apps/v1", "kind": "Deployment", "name": c.name}
        )
        # The platform design's behaviour: scale up fast, scale down slowly.
        behavior = {
            "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]},
            "scaleUp": {
                "stabilizationWindowSeconds": 0,
                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}, {"type": "Pods", "value": 4, "periodSeconds": 15}],
                "selectPolicy": "Max",
            },
        }
        if a.mode == "hpa":
            metrics: list[dict[str, Any]] = [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": a.cpu_percent}}}]
            if a.memory_percent is not None:
                metrics.append({"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": a.memory_percent}}})
            if a.custom_metric is not None:
                metrics.append({"type": "Pods", "pods": {"metric": {"name": a.custom_metric.name}, "target": {"type": "AverageValue", "averageValue": a.custom_metric.target_average}}})
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=meta,
                spec={"scaleTargetRef": target, "minReplicas": a.min_replicas, "maxReplicas": a.max_replicas, "metrics": metrics, "behavior": behavior},
                opts=child,
            )
        elif a.mode == "keda":
            metric = a.custom_metric
            assert metric is not None and metric.query is not None and a.keda is not None  # enforced by AutoscalingConfig
            k8s.apiextensions.CustomResource(
                f"{name}-scaledobject",
                api_version="keda.sh/v1alpha1",
                kind="ScaledObject",
                metadata=meta,
                spec={
                    "scaleTargetRef": {"name": target["name"]},
                    "minReplicaCount": a.min_replicas,
                    "maxReplicaCount": a.max_replicas,
                    "advanced": {"horizontalPodAutoscalerConfig": {"behavior": behavior}},
                    "triggers": [
                        {"type": "prometheus", "name": metric.name, "metadata": {"serverAddress": a.keda["serverAddress"], "query": metric.query, "threshold": metric.target_average}},
                        # CPU keeps scaling when Prometheus is unavailable.
                        {"type": "cpu", "metricType": "Utilization", "metadata": {"value": str(a.cpu_percent)}},
                    ],
                },
                opts=child,
            )
        if c.vpa != "off":
            k8s.apiextensions.CustomResource(
                f"{name}-vpa",
                api_version="autoscaling.k8s.io/v1",
                kind="VerticalPodAutoscaler",
                metadata=meta,
                spec={"targetRef": target, "updatePolicy": {"updateMode": c.vpa.capitalize()}},
                opts=child,
            )

    def _network_policy(self, name: str, meta: dict[str, Any], gateway: str, monitoring_namespace: str) -> None:
        c = self._config
        sources = [namespace_peer(monitoring_namespace)]
        if c.exposure is not None:
            sources.append(namespace_peer(gateway.split("/")[0]))
        sources += [namespace_peer(caller.namespace) for caller in c.allowed_callers]
        egress: list[dict[str, Any]] = [{"to": [KUBE_DNS], "ports": DNS_PORTS}]
        egress += [
            {"to": [{**namespace_peer(d.namespace), "podSelector": {"matchLabels": {"app": d.app}}}], "ports": tcp([d.port])}
            for d in c.dependencies
        ]
        egress += egress_rules(c.egress, self._egress_gateway)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=meta,
            spec={
                "podSelector": {"matchLabels": {"app": c.name}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": sources, "ports": tcp([c.port, 15020])}],
                "egress": egress,
            },
            opts=self._opts(),
        )

    def _mesh(self, name: str, meta: dict[str, Any], gateway: str, trust_domain: str) -> None:
        c = self._config
        child = self._opts()
        rollout = c.delivery.strategy == "canary"
        # With a Rollout the controller owns the route's weights and the subsets' pod-template
        # hash labels while it shifts traffic: `pulumi up` must not reset them mid-rollout.
        k8s.apiextensions.CustomResource(
            f"{name}-vs", api_version="networking.istio.io/v1", kind="VirtualService", metadata=meta, spec=virtual_service_spec(c, gateway),
            opts=self._opts(ignore_changes=["spec.http[*].route"]) if rollout else child,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-dr", api_version="networking.istio.io/v1", kind="DestinationRule", metadata=meta, spec=destination_rule_spec(c),
            opts=self._opts(ignore_changes=["spec.subsets"]) if rollout else child,
        )
        self._authorization(name, meta, trust_domain)

    def _vault(self, name: str, seeds: Mapping[str, Mapping[str, pulumi.Input[str]]], after: Sequence[pulumi.Resource]) -> None:
        """The service's Vault role and policy (a Job in `vault` the workload waits for) and its SecretProviderClass."""
        c = self._config
        env: list[dict[str, Any]] = []
        if seeds:
            seed_secret = k8s.core.v1.Secret(
                f"{name}-vault-seed", metadata={"name": f"{role_name(c.namespace, c.name)}-seed", "namespace": VAULT_NAMESPACE},
                string_data={f"{path.replace('/', '.')}.{key}": value for path, values in seeds.items() for key, value in values.items()},
                opts=self._opts(),
            )
            env = seed_env(seed_secret.metadata.apply(lambda m: m["name"]), {path: list(values) for path, values in seeds.items()})
        k8s.batch.v1.Job(
            f"{name}-vault-role",
            metadata={"name": f"{role_name(c.namespace, c.name)}-role"[:63], "namespace": VAULT_NAMESPACE, "labels": self._labels(c.stable_version)},
            spec=job_spec(role_script(c.namespace, c.name, {path: list(values) for path, values in seeds.items()}), self._vault_access, env=env),
            # Re-run when the service's secrets change (a Job's pod template is immutable).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._depends_on, *after], replace_on_changes=["spec"], delete_before_replace=True),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-vault-spc", api_version="secrets-store.csi.x-k8s.io/v1", kind="SecretProviderClass",
            metadata={"name": synced_secret(c.name), "namespace": c.namespace, "labels": self._labels(c.stable_version)},
            spec=secret_provider_class_spec(c.namespace, c.name, c.secrets, self._vault_access),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._depends_on, *after]),
        )

    def _egress(self, name: str) -> None:
        """Per declared host: a ServiceEntry visible in this namespace; through the egress gateway
        (when there is one, for ports 80 and 443) a Gateway and VirtualService too."""
        c = self._config
        for e in c.egress:
            object_name = f"{c.name}-egress-{e.slug}"[:63].rstrip("-")
            meta = {"name": object_name, "namespace": c.namespace, "labels": self._labels(c.stable_version)}
            k8s.apiextensions.CustomResource(
                f"{name}-egress-{e.slug}", api_version="networking.istio.io/v1", kind="ServiceEntry", metadata=meta,
                spec=service_entry_spec(e, self._egress_gateway if via_gateway(e) else None), opts=self._opts(),
            )
            if self._egress_gateway is not None and via_gateway(e):
                k8s.apiextensions.CustomResource(
                    f"{name}-egress-gw-{e.slug}", api_version="networking.istio.io/v1", kind="Gateway", metadata=meta,
                    spec=egress_gateway_spec(e), opts=self._opts(),
                )
                k8s.apiextensions.CustomResource(
                    f"{name}-egress-vs-{e.slug}", api_version="networking.istio.io/v1", kind="VirtualService", metadata=meta,
                    spec=egress_route_spec(e, f"{c.namespace}/{object_name}", self._egress_gateway), opts=self._opts(),
                )

    def _authorization(self, name: str, meta: dict[str, Any], trust_domain: str) -> None:
        """Allowed callers by principal (and the gateway on public paths); JWT where configured."""
        c = self._config
        child = self._opts()
        prefix = c.exposure.path_prefix if c.exposure else "/"
        rules: list[dict[str, Any]] = []
        callers = [f"{trust_domain}/ns/{caller.namespace}/sa/{caller.service_account}" for caller in c.allowed_callers]
        if callers:
            rules.append({"from": [{"source": {"principals": callers}}]})
        if c.exposure is not None:
            paths = c.public_paths or [prefix.rstrip("/") + "/*" if prefix != "/" else "/*"]
            rules.append({"from": [{"source": {"principals": [f"{trust_domain}/{INGRESS_PRINCIPAL}"]}}], "to": [{"operation": {"paths": paths}}]})
        selector = {"matchLabels": {"app": c.name}}
        if rules:
            # With the namespace's deny-all, only these callers get through.
            k8s.apiextensions.CustomResource(
                f"{name}-allow",
                api_version="security.istio.io/v1",
                kind="AuthorizationPolicy",
                metadata={**meta, "name": f"{c.name}-allow"},
                spec={"selector": selector, "action": "ALLOW", "rules": rules},
                opts=child,
            )
        if c.jwt is not None:
            jwt = c.jwt
            rule: dict[str, Any] = {"issuer": jwt.issuer, "jwksUri": jwt.jwks_uri}
            if jwt.audiences:
                rule["audiences"] = jwt.audiences
            k8s.apiextensions.CustomResource(
                f"{name}-jwt",
                api_version="security.istio.io/v1",
                kind="RequestAuthentication",
                metadata=meta,
                spec={"selector": selector, "jwtRules": [rule]},
                opts=child,
            )
            # A request without a valid token has no request principal: deny it on protected paths.
            k8s.apiextensions.CustomResource(
                f"{name}-require-jwt",
                api_version="security.istio.io/v1",
                kind="AuthorizationPolicy",
                metadata={**meta, "name": f"{c.name}-require-jwt"},
                spec={
                    "selector": selector,
                    "action": "DENY",
                    "rules": [{"from": [{"source": {"notRequestPrincipals": ["*"]}}], "to": [{"operation": {"paths": jwt.protected_paths}}]}],
                },
                opts=child,
            )

    def _monitoring(self, name: str, meta: dict[str, Any]) -> None:
        c = self._config
        child = self._opts()
        # Under STRICT mTLS Prometheus cannot scrape the app port; Istio merges the app's
        # and Envoy's metrics on the sidecar's 15020, which Prometheus scrapes in plain text.
        k8s.apiextensions.CustomResource(
            f"{name}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=meta,
            spec={
                "selector": {"matchLabels": {"app": c.name}},
                "namespaceSelector": {"matchNames": [c.namespace]},
                "endpoints": [{"port": "http-monitoring", "path": "/stats/prometheus", "interval": "30s"}],
            },
            opts=child,
        )
        if not c.monitoring.default_alerts:
            return
        labels = f'destination_workload_namespace="{c.namespace}", destination_app="{c.name}"'
        runbook = c.monitoring.runbook_base_url
        rules = [
            {
                "alert": "ServiceHigh5xxRate",
                "expr": f'sum(rate(istio_requests_total{{{labels}, response_code=~"5.."}}[5m])) / sum(rate(istio_requests_total{{{labels}}}[5m])) > 0.01',
                "for": "5m",
                "labels": {"severity": "critical", "service": c.name},
                "annotations": {
                    "summary": f"{c.name}: more than 1% of requests fail with 5xx",
                    "description": f"{c.name} in {c.namespace} answered {{{{ $value | humanizePercentage }}}} of requests with 5xx over 5 minutes.",
                    "runbook_url": f"{runbook}#servicehigh5xxrate",
                },
            },
            {
                "alert": "ServiceHighP95Latency",
                "expr": f"histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{{{labels}}}[5m]))) > 1000",
                "for": "5m",
                "labels": {"severity": "warning", "service": c.name},
                "annotations": {
                    "summary": f"{c.name}: p95 latency above 1 s",
                    "description": f"{c.name} in {c.namespace} has a p95 latency of {{{{ $value }}}} ms over 5 minutes.",
                    "runbook_url": f"{runbook}#servicehighp95latency",
                },
            },
            {
                "alert": "ServicePodRestarting",
                "expr": f'increase(kube_pod_container_status_restarts_total{{namespace="{c.namespace}", container="{c.name}"}}[15m]) > 5',
                "labels": {"severity": "warning", "service": c.name},
                "annotations": {
                    "summary": f"{c.name}: a container restarted more than 5 times in 15 minutes",
                    "description": f"Pod {{{{ $labels.pod }}}} of {c.name} restarted {{{{ $value }}}} times in 15 minutes.",
                    "runbook_url": f"{runbook}#servicepodrestarting",
                },
            },
        ]
        k8s.apiextensions.CustomResource(
            f"{name}-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=meta,
            spec={"groups": [{"name": f"{c.name}.rules", "rules": rules}]},
            opts=child,
        )


def virtual_service_spec(c: MicroserviceConfig, gateway: str) -> dict[str, Any]:
    """In-mesh (and gateway, when exposed) routes: header-matched and weighted canary, retries, timeouts."""
    host = f"{c.name}.{c.namespace}.svc.cluster.local"
    prefix = c.exposure.path_prefix if c.exposure else "/"
    stable_weight = 100 - (c.canary.weight if c.canary else 0)
    route = [{"destination": {"host": host, "subset": "stable", "port": {"number": 80}}, "weight": stable_weight}]
    http: list[dict[str, Any]] = []
    if c.delivery.strategy == "canary":
        # Argo Rollouts moves these weights on the route named `primary`.
        route.append({"destination": {"host": host, "subset": "canary", "port": {"number": 80}}, "weight": 0})
    if c.canary is not None:
        route.append({"destination": {"host": host, "subset": "canary", "port": {"number": 80}}, "weight": c.canary.weight})
        http.append(
            {
                "name": "canary-by-header",
                "match": [{"headers": {c.canary.header: {"exact": "true"}}, "uri": {"prefix": prefix}}],
                "route": [{"destination": {"host": host, "subset": "canary", "port": {"number": 80}}}],
                "timeout": _seconds(c.traffic.timeout_seconds),
            }
        )
    retries = c.traffic.retries
    http.append(
        {
            "name": "primary",
            "match": [{"uri": {"prefix": prefix}}],
            "route": route,
            "timeout": _seconds(c.traffic.timeout_seconds),
            "retries": {"attempts": retries.attempts, "perTryTimeout": _seconds(retries.per_try_timeout_seconds), "retryOn": retries.retry_on},
        }
    )
    return {
        "hosts": [host, *([c.exposure.host] if c.exposure else [])],
        "gateways": ["mesh", *([gateway] if c.exposure else [])],
        "http": http,
    }


def destination_rule_spec(c: MicroserviceConfig) -> dict[str, Any]:
    """Subsets per version, mTLS, connection pool and outlier detection (the circuit breaker)."""
    host = f"{c.name}.{c.namespace}.svc.cluster.local"
    pool, outlier = c.traffic.connection_pool, c.traffic.outlier_detection
    subsets = [{"name": "stable", "labels": {"version": c.stable_version}}]
    if c.delivery.strategy == "canary":
        # Argo Rollouts adds each side's rollouts-pod-template-hash to these labels.
        subsets = [{"name": "stable", "labels": {"app": c.name}}, {"name": "canary", "labels": {"app": c.name}}]
    if c.canary is not None:
        subsets.append({"name": "canary", "labels": {"version": c.canary_version}})
    return {
        "host": host,
        "trafficPolicy": {
            "tls": {"mode": "ISTIO_MUTUAL"},
            "connectionPool": {
                "tcp": {"maxConnections": pool.max_connections},
                "http": {
                    "http1MaxPendingRequests": pool.http1_max_pending_requests,
                    "http2MaxRequests": pool.http2_max_requests,
                    "maxRequestsPerConnection": pool.max_requests_per_connection,
                },
            },
            "outlierDetection": {
                "consecutive5xxErrors": outlier.consecutive_errors,
                "interval": _seconds(outlier.interval_seconds),
                "baseEjectionTime": _seconds(outlier.base_ejection_time_seconds),
                "maxEjectionPercent": outlier.max_ejection_percent,
            },
        },
        "subsets": subsets,
    }


EGRESS_GATEWAY_PORTS = {"HTTPS": 443, "TLS": 443, "HTTP": 80}
"""The egress gateway's listener per protocol (the gateway chart's Service ports)."""


def via_gateway(e: EgressConfig) -> bool:
    """Whether declared egress `e` goes through the egress gateway when one runs (it listens on 80 and 443)."""
    return e.port == EGRESS_GATEWAY_PORTS[e.protocol]


def egress_rules(egress: Sequence[EgressConfig], gateway_namespace: str | None) -> list[dict[str, Any]]:
    """NetworkPolicy egress for declared external hosts: to the egress gateway's pods when it
    carries them, else to any address on the declared ports (NetworkPolicy cannot name hosts;
    the mesh's ServiceEntries and REGISTRY_ONLY decide which hosts)."""
    direct = sorted({e.port for e in egress if gateway_namespace is None or not via_gateway(e)})
    proxied = sorted({e.port for e in egress if gateway_namespace is not None and via_gateway(e)})
    rules: list[dict[str, Any]] = []
    if direct:
        rules.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp(direct)})
    if proxied and gateway_namespace is not None:
        rules.append({"to": [{**namespace_peer(gateway_namespace), "podSelector": {"matchLabels": {"istio": "egressgateway"}}}], "ports": tcp(proxied)})
    return rules


def service_entry_spec(e: EgressConfig, gateway_namespace: str | None = None) -> dict[str, Any]:
    """The external host in the mesh's registry, visible only in the service's namespace (and
    the egress gateway's, which forwards to it)."""
    return {
        "hosts": [e.host],
        "ports": [{"number": e.port, "name": f"{e.protocol.lower()}-{e.port}", "protocol": e.protocol}],
        "location": "MESH_EXTERNAL",
        # A wildcard cannot be resolved ahead: the proxy forwards to the address the app resolved.
        "resolution": "NONE" if e.host.startswith("*.") else "DNS",
        "exportTo": [".", gateway_namespace] if gateway_namespace else ["."],
    }


def egress_gateway_spec(e: EgressConfig) -> dict[str, Any]:
    """The egress gateway's listener for `e`: TLS passed through by SNI, or plain HTTP by Host."""
    port = EGRESS_GATEWAY_PORTS[e.protocol]
    server: dict[str, Any] = {"port": {"number": port, "name": f"{e.protocol.lower()}-{port}", "protocol": "TLS" if port == 443 else "HTTP"}, "hosts": [e.host]}
    if port == 443:
        server["tls"] = {"mode": "PASSTHROUGH"}
    return {"selector": {"istio": "egressgateway"}, "servers": [server]}


def egress_route_spec(e: EgressConfig, gateway: str, gateway_namespace: str) -> dict[str, Any]:
    """Sidecars send `e` to the egress gateway; the gateway sends it on to the host."""
    port = EGRESS_GATEWAY_PORTS[e.protocol]
    to_gateway = {"destination": {"host": f"istio-egressgateway.{gateway_namespace}.svc.cluster.local", "port": {"number": port}}}
    to_host = {"destination": {"host": e.host, "port": {"number": e.port}}}
    spec: dict[str, Any] = {"hosts": [e.host], "gateways": ["mesh", gateway], "exportTo": [".", gateway_namespace]}
    if port == 443:
        spec["tls"] = [
            {"match": [{"gateways": ["mesh"], "port": e.port, "sniHosts": [e.host]}], "route": [to_gateway]},
            {"match": [{"gateways": [gateway], "port": port, "sniHosts": [e.host]}], "route": [to_host]},
        ]
    else:
        spec["http"] = [
            {"match": [{"gateways": ["mesh"], "port": e.port}], "route": [to_gateway]},
            {"match": [{"gateways": [gateway], "port": port}], "route": [to_host]},
        ]
    return spec
