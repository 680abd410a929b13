"""Progressive delivery: the Argo Rollouts controller, and what a canary service asks of it.

    rollouts = RolloutsController("rollouts", RolloutsConfig.for_environment("local"))
    api = MicroserviceStack("api", MicroserviceConfig(..., delivery={"strategy": "canary"}),
                            opts=pulumi.ResourceOptions(depends_on=rollouts.ready))

A `canary` service (`MicroserviceConfig.delivery`) runs as a `Rollout` that moves traffic
through the service's own Istio VirtualService (route `primary`) and DestinationRule
(subsets `stable` and `canary`), step by step, while an `AnalysisTemplate` checks the
success rate and p95 latency in Prometheus; a failing analysis aborts the rollout and
sends all traffic back to the stable pods.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, field_validator, model_validator

from .charts import CHARTS, install_chart
from .model import KeyProblem, Model, ProfiledModel, Profiles, ResourcesConfig
from .netpol import NamespaceIsolation
from .podsecurity import pod_security_labels

NAMESPACE = "argo-rollouts"
RELEASE = "argo-rollouts"
PLATFORM_PROMETHEUS = "http://kps-prometheus.monitoring.svc.cluster.local:9090"
"""The platform's Prometheus (ObservabilityStack), which canary analyses query by default."""
_DURATION = re.compile(r"^[1-9][0-9]*(s|m|h)$")


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError("expected a duration like 30s, 2m or 1h")
    return value


class CanaryStepConfig(Model):
    """One step: send `weight` percent of the traffic to the canary, then hold it for `pause`."""

    weight: int = Field(ge=1, le=100, description="Percent of traffic to the canary at this step.")
    pause: str | None = Field(
        "2m",
        description="How long to hold before the next step (e.g. `2m`); `null` waits for `kubectl argo rollouts promote` "
        "(only with manualPromotion). The step at 100 % needs none.",
    )

    @field_validator("pause")
    @classmethod
    def _pause(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)


class AnalysisConfig(Model):
    """What a canary must show in Prometheus, measured every `interval` while it runs."""

    success_rate_percent: float = Field(99, gt=0, le=100, description="Share of non-5xx responses at least (percent).")
    p95_latency_ms: int = Field(500, ge=1, le=60000, description="p95 latency at most (milliseconds).")
    interval: str = Field("1m", description="How often each measurement is taken (and the rate window).")
    failure_limit: int = Field(1, ge=0, le=10, description="Failed measurements tolerated; one more aborts and rolls back.")
    no_traffic: Literal["pass", "fail"] = Field(
        "pass",
        description="What a measurement with no requests counts as: `pass` (a quiet service is promoted on time) "
        "or `fail` (promotion needs traffic to judge).",
    )
    prometheus_url: str = Field(PLATFORM_PROMETHEUS, description="Prometheus the analysis queries (the platform's by default).")

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        return _duration(value)

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[a-z0-9.-]+(:\d{1,5})?(/\S*)?$", value):
            raise ValueError("expected Prometheus' URL, e.g. http://kps-prometheus.monitoring.svc.cluster.local:9090")
        return value


def _default_steps() -> list[CanaryStepConfig]:
    return [CanaryStepConfig(weight=w, pause="2m" if w < 100 else None) for w in (20, 40, 60, 80, 100)]


class DeliveryConfig(Model):
    """How a new version reaches users: `rolling` (a Deployment's rolling update) or `canary`
    (an Argo Rollouts canary shifting traffic through the mesh, with analysis)."""

    strategy: Literal["rolling", "canary"] = Field("rolling", description="`rolling` (default) or `canary`.")
    steps: list[CanaryStepConfig] = Field(default_factory=_default_steps, min_length=1, description="canary: the traffic steps, weights increasing.")
    manual_promotion: bool = Field(False, description="canary: allow steps with `pause: null` (held until promoted by hand).")
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig, description="canary: what each step must show.")

    @model_validator(mode="after")
    def _steps(self) -> DeliveryConfig:
        previous = 0
        for i, step in enumerate(self.steps):
            if step.weight <= previous:
                raise KeyProblem(f"steps[{i}].weight", f"weights must increase step by step (previous: {previous})", step.weight)
            previous = step.weight
            if step.pause is None and step.weight < 100 and not self.manual_promotion:
                raise KeyProblem(
                    f"steps[{i}].pause",
                    "needs a duration (e.g. 2m): a pause without one waits for a person; set manualPromotion: true if that is what you want",
                )
        return self

    def rollout_steps(self) -> list[dict[str, Any]]:
        """The Rollout's canary steps (a step at 100 % needs no pause: the rollout completes)."""
        out: list[dict[str, Any]] = []
        for step in self.steps:
            out.append({"setWeight": step.weight})
            if step.weight < 100:
                out.append({"pause": {"duration": step.pause} if step.pause else {}})
        return out


def analysis_template_spec(service_host: str, analysis: AnalysisConfig) -> dict[str, Any]:
    """Success rate and p95 latency of the service, from the Istio request metrics (reporter: destination).

    Without traffic both ratios are empty or NaN; `>= 0` drops NaN and the `or vector(...)`
    fallback makes that case what `noTraffic` says, never a query error that aborts.
    """
    window = analysis.interval
    selector = f'destination_service="{service_host}",reporter="destination"'
    quiet_rate, quiet_latency = ("1", "0") if analysis.no_traffic == "pass" else ("0", "1e9")
    success = (
        f'(sum(rate(istio_requests_total{{{selector},response_code!~"5.."}}[{window}])) '
        f"/ sum(rate(istio_requests_total{{{selector}}}[{window}]))) >= 0 or vector({quiet_rate})"
    )
    latency = (
        f"histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{{{selector}}}[{window}]))) >= 0 "
        f"or vector({quiet_latency})"
    )

    def metric(name: str, condition: str, query: str) -> dict[str, Any]:
        return {
            "name": name,
            "interval": window,
            "failureLimit": analysis.failure_limit,
            "successCondition": condition,
            "provider": {"prometheus": {"address": analysis.prometheus_url, "query": query}},
        }

    return {
        "metrics": [
            metric("success-rate", f"result[0] >= {analysis.success_rate_percent / 100:g}", success),
            metric("p95-latency", f"result[0] <= {analysis.p95_latency_ms}", latency),
        ]
    }


class RolloutsConfig(ProfiledModel):
    """`gitops-platform:rollouts`: the Argo Rollouts controller."""

    PROFILES: ClassVar[Profiles] = {
        "local": {"replicas": 1, "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}}},
        "aws": {"replicas": 2, "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}},
    }
    enabled: bool | None = Field(
        None, description="Install the Argo Rollouts controller. Unset: when a service of the stack needs it (the sample backend's canary)."
    )
    replicas: int = Field(ge=1, le=5, description="Controller replicas (leader election; 2+ gets a PodDisruptionBudget).")
    resources: ResourcesConfig = Field(description="Controller requests/limits.")


def rollouts_values(config: RolloutsConfig, service_monitors: bool) -> dict[str, Any]:
    """Values of the argo-rollouts chart (keys checked against the pinned chart by the render)."""
    return {
        # CRDs from the chart's templates: applied, and upgraded, with the chart.
        "installCRDs": True,
        "keepCRDs": True,
        "controller": {
            "replicas": config.replicas,
            "resources": config.resources.values(),
            "pdb": {"enabled": config.replicas > 1, "minAvailable": 1},
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": service_monitors}},
        },
        # Only the traffic router the platform uses.
        "providerRBAC": {
            "enabled": True,
            "providers": {p: p == "istio" for p in (
                "istio", "smi", "ambassador", "awsLoadBalancerController", "awsAppMesh", "traefik", "apisix", "contour", "glooPlatform", "gatewayAPI",
            )},
        },
        "dashboard": {"enabled": False},
    }


class RolloutsController(pulumi.ComponentResource):
    """Argo Rollouts (`helm.v4.Chart` in `argo-rollouts`, CRDs from the chart's templates)."""

    ready: list[pulumi.Resource]
    """What a Rollout or AnalysisTemplate waits for (the chart: its CRDs and controller)."""
    created_namespaces: list[pulumi.Resource]
    isolation: list[NamespaceIsolation]
    """What the controller's namespace must let through: the API server and Prometheus (analysis)."""

    def __init__(
        self,
        name: str,
        config: RolloutsConfig,
        *,
        service_monitors: bool = False,
        monitoring_ready: list[pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gitops-platform:index:RolloutsController", name, None, opts)
        ns = k8s.core.v1.Namespace(
            f"{name}-ns", metadata={"name": NAMESPACE, "labels": pod_security_labels("restricted")}, opts=pulumi.ResourceOptions(parent=self)
        )
        chart = install_chart(
            f"{name}-argo-rollouts",
            CHARTS["argo-rollouts"],
            NAMESPACE,
            rollouts_values(config, service_monitors),
            pulumi.ResourceOptions(parent=self, depends_on=[ns, *(monitoring_ready or [])]),
            RELEASE,
        )
        self.ready = [chart]
        self.created_namespaces = [ns]
        self.isolation = [NamespaceIsolation(NAMESPACE, namespace_input=ns.metadata.apply(lambda m: m["name"]))]
        self.register_outputs({})
