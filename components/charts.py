"""The Helm charts the platform installs: one pinned version and https repository each.

Component config models take their chart pins from here as defaults, so a pin lives
in exactly one place. Every version equals the pinned upstream bundle
(`../shared/upstream/versions.json`; a test compares them): bumping a pin means
refreshing the bundle first, so the schema and values checks run against it.

    from components.charts import CHARTS
    chart = CHARTS["istiod"]     # Chart(name="istiod", version="1.30.3", repo="https://...")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class Chart:
    name: str
    """Chart name in its repository."""
    version: str
    """Exact chart version (never a range)."""
    repo: str
    """Helm repository URL (https only)."""
    upstream: str
    """Key of this chart's entry in the upstream bundle's versions.json."""


HOOK_JOB_RESOURCES: dict[str, Any] = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
"""Requests and limits of the short-lived containers charts run beside their workloads:
hook Jobs (certificate generation, namespace labels, CRD upgrades) and small helpers.
Set explicitly so the footprint and the quota account for them."""

_ISTIO = "https://istio-release.storage.googleapis.com/charts"
# kubernetes/autoscaler publishes both of its charts to one chart-releaser index.
_AUTOSCALER = "https://kubernetes.github.io/autoscaler"

CHARTS: dict[str, Chart] = {
    chart.name: chart
    for chart in (
        Chart("base", "1.30.3", _ISTIO, "istio"),
        Chart("istiod", "1.30.3", _ISTIO, "istio"),
        Chart("gateway", "1.30.3", _ISTIO, "istio"),
        Chart("cni", "1.30.3", _ISTIO, "istio"),
        Chart("gatekeeper", "3.23.0", "https://open-policy-agent.github.io/gatekeeper/charts", "gatekeeper"),
        Chart("trivy-operator", "0.34.0", "https://aquasecurity.github.io/helm-charts", "trivy-operator"),
        Chart("falco", "9.1.0", "https://falcosecurity.github.io/charts", "falco"),
        Chart("vault", "0.34.1", "https://helm.releases.hashicorp.com", "vault"),
        Chart("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack"),
        Chart("loki", "18.11.0", "https://grafana-community.github.io/helm-charts", "loki"),
        Chart("alloy", "1.11.1", "https://grafana.github.io/helm-charts", "alloy"),
        Chart("kiali-server", "2.29.0", "https://kiali.org/helm-charts", "kiali"),
        Chart("jaeger", "4.11.1", "https://jaegertracing.github.io/helm-charts", "jaeger"),
        Chart("keda", "2.20.2", "https://kedacore.github.io/charts", "keda"),
        Chart("metrics-server", "3.13.1", "https://kubernetes-sigs.github.io/metrics-server/", "metrics-server"),
        Chart("vertical-pod-autoscaler", "0.11.0", _AUTOSCALER, "vertical-pod-autoscaler"),
        Chart("cluster-autoscaler", "9.59.0", _AUTOSCALER, "cluster-autoscaler"),
        Chart("cert-manager", "v1.21.1", "https://charts.jetstack.io", "cert-manager"),
        Chart("argo-rollouts", "2.41.0", "https://argoproj.github.io/argo-helm", "argo-rollouts"),
        Chart("argo-cd", "10.1.1", "https://argoproj.github.io/argo-helm", "argo-cd"),
    )
}


def install_chart(
    name: str,
    chart: Chart,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    release: str | None = None,
    *,
    skip_crds: bool = False,
) -> k8s.helm.v4.Chart:
    """`chart` as a `helm.v4.Chart`: every object a Pulumi resource the engine orders and the policy pack sees.
    `skip_crds`: leave out the chart's `crds/` (when something else owns those CRDs)."""
    return k8s.helm.v4.Chart(
        name,
        chart=chart.name,
        version=chart.version,
        repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=chart.repo),
        namespace=namespace,
        name=release,
        values=values,
        skip_crds=skip_crds or None,
        opts=opts,
    )


def install_release(
    name: str,
    chart: Chart,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    release: str,
    *,
    create_namespace: bool = False,
    skip_crds: bool = False,
    timeout_seconds: int = 600,
) -> k8s.helm.v3.Release:
    """`chart` as a `helm.v3.Release`, for charts that need Helm hooks: atomic, cleaned up on failure."""
    return k8s.helm.v3.Release(
        name,
        chart=chart.name,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
        namespace=namespace,
        name=release,
        values=values,
        create_namespace=create_namespace,
        skip_crds=skip_crds,
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout_seconds,
        opts=opts,
    )
