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
    images: tuple[str, ...] = ()
    """Where the chart's containers come from, as path prefixes of the repositories the container
    runtime reports (`docker.io/...` spelled out): the pods it renders and those its operators
    create at run time. Falco's unapproved-registry rule allows exactly these (the render's
    image inventory proves every image of both stacks matches one, and each one is used)."""


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
        Chart("istiod", "1.30.3", _ISTIO, "istio", ("docker.io/istio",)),
        Chart("gateway", "1.30.3", _ISTIO, "istio", ("docker.io/istio",)),
        Chart("cni", "1.30.3", _ISTIO, "istio", ("docker.io/istio",)),
        Chart("gatekeeper", "3.23.0", "https://open-policy-agent.github.io/gatekeeper/charts", "gatekeeper", ("docker.io/openpolicyagent", "docker.io/curlimages/curl")),
        Chart("trivy-operator", "0.34.0", "https://aquasecurity.github.io/helm-charts", "trivy-operator", ("mirror.gcr.io/aquasec", "ghcr.io/aquasecurity/node-collector")),
        Chart("falco", "9.1.0", "https://falcosecurity.github.io/charts", "falco", ("docker.io/falcosecurity",)),
        Chart("vault", "0.34.1", "https://helm.releases.hashicorp.com", "vault", ("docker.io/hashicorp",)),
        Chart(
            "secrets-store-csi-driver", "1.6.0", "https://kubernetes-sigs.github.io/secrets-store-csi-driver/charts", "secrets-store-csi-driver",
            ("registry.k8s.io/csi-secrets-store", "registry.k8s.io/sig-storage"),
        ),
        Chart("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", (
            "quay.io/prometheus-operator", "quay.io/prometheus", "docker.io/grafana/grafana", "quay.io/kiwigrid/k8s-sidecar",
            "registry.k8s.io/kube-state-metrics",
        )),
        Chart("loki", "18.11.0", "https://grafana-community.github.io/helm-charts", "loki", ("docker.io/grafana/loki",)),
        Chart("alloy", "1.11.1", "https://grafana.github.io/helm-charts", "alloy", ("docker.io/grafana/alloy",)),
        Chart("kiali-server", "2.29.0", "https://kiali.org/helm-charts", "kiali", ("quay.io/kiali",)),
        Chart("jaeger", "4.11.1", "https://jaegertracing.github.io/helm-charts", "jaeger", ("docker.io/jaegertracing",)),
        Chart("keda", "2.20.2", "https://kedacore.github.io/charts", "keda", ("ghcr.io/kedacore",)),
        Chart("metrics-server", "3.13.1", "https://kubernetes-sigs.github.io/metrics-server/", "metrics-server", ("registry.k8s.io/metrics-server",)),
        Chart("vertical-pod-autoscaler", "0.11.0", _AUTOSCALER, "vertical-pod-autoscaler", ("registry.k8s.io/autoscaling",)),
        Chart("cluster-autoscaler", "9.59.0", _AUTOSCALER, "cluster-autoscaler", ("registry.k8s.io/autoscaling",)),
        Chart("cert-manager", "v1.21.1", "https://charts.jetstack.io", "cert-manager", ("quay.io/jetstack",)),
        Chart("argo-rollouts", "2.41.0", "https://argoproj.github.io/argo-helm", "argo-rollouts", ("quay.io/argoproj",)),
        Chart("argo-cd", "10.1.1", "https://argoproj.github.io/argo-helm", "argo-cd", ("quay.io/argoproj", "ecr-public.aws.com/docker/library/redis")),
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


def image_sources() -> list[str]:
    """Every repository path prefix the platform's charts run containers from (see `Chart.images`)."""
    return sorted({prefix for chart in CHARTS.values() for prefix in chart.images})


def runtime_repository(image: str) -> str:
    """The repository of `image` as the container runtime reports it: Docker Hub's implicit
    registry (and `library/` for official images) spelled out, tag and digest dropped."""
    repository = image.split("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:
        repository = repository[: len(repository) - len(last)] + last.split(":", 1)[0]
    first = repository.split("/", 1)[0]
    if "/" not in repository:
        return f"docker.io/library/{repository}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{repository}"
    return repository


def path_prefix_of(repository: str, prefixes: list[str]) -> bool:
    """Whether `repository` is under one of `prefixes` by whole path components (Falco's `pmatch`)."""
    return any(repository == p.rstrip("/") or repository.startswith(p.rstrip("/") + "/") for p in prefixes)
