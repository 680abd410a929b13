"""The Helm charts the platform installs: one pinned version, repository and digest each, from `charts.lock`.

The chart lock (`charts.lock` at the project's top level, shipped inside the wheel as
`components/charts.lock`) is the only place a chart's version is written: component
config models, the offline render and the tests all read it through `CHARTS`. What
each chart's containers are (`Chart.images`) is code, kept here beside the lock.

    from components.charts import CHARTS
    chart = CHARTS["istiod"]     # Chart(name="istiod", version=..., repo="https://...", digest="sha256:...")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

LOCK_FILE = "charts.lock"
_EXACT_VERSION = re.compile(r"v?[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")


@dataclass(frozen=True)
class Chart:
    name: str
    """Chart name in its repository."""
    version: str
    """Exact chart version (never a range)."""
    repo: str
    """Where the engine fetches it: an https chart repository URL or an `oci://` reference."""
    digest: str = ""
    """`sha256:<hex>` of the published archive, as the repository's index lists it; "" until
    `make charts-lock` records it."""
    images: tuple[str, ...] = ()
    """Where the chart's containers come from, as path prefixes of the repositories the container
    runtime reports (`docker.io/...` spelled out): the pods it renders and those its operators
    create at run time. Falco's unapproved-registry rule allows exactly these (the render's
    image inventory proves every image of both stacks matches one, and each one is used)."""


HOOK_JOB_RESOURCES: dict[str, Any] = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
"""Requests and limits of the short-lived containers charts run beside their workloads:
hook Jobs (certificate generation, namespace labels, CRD upgrades) and small helpers.
Set explicitly so the footprint and the quota account for them."""

IMAGES: dict[str, tuple[str, ...]] = {
    "istiod": ("docker.io/istio",),
    "gateway": ("docker.io/istio",),
    "cni": ("docker.io/istio",),
    "gatekeeper": ("docker.io/openpolicyagent", "docker.io/curlimages/curl"),
    "trivy-operator": ("mirror.gcr.io/aquasec", "ghcr.io/aquasecurity/node-collector"),
    "falco": ("docker.io/falcosecurity",),
    "vault": ("docker.io/hashicorp",),
    "secrets-store-csi-driver": ("registry.k8s.io/csi-secrets-store", "registry.k8s.io/sig-storage"),
    "kube-prometheus-stack": (
        "quay.io/prometheus-operator", "quay.io/prometheus", "docker.io/grafana/grafana", "quay.io/kiwigrid/k8s-sidecar",
        "registry.k8s.io/kube-state-metrics",
    ),
    "loki": ("docker.io/grafana/loki",),
    "alloy": ("docker.io/grafana/alloy",),
    "kiali-server": ("quay.io/kiali",),
    "jaeger": ("docker.io/jaegertracing",),
    "keda": ("ghcr.io/kedacore",),
    "metrics-server": ("registry.k8s.io/metrics-server",),
    "vertical-pod-autoscaler": ("registry.k8s.io/autoscaling",),
    "cluster-autoscaler": ("registry.k8s.io/autoscaling",),
    "cert-manager": ("quay.io/jetstack",),
    "argo-rollouts": ("quay.io/argoproj",),
    "argo-cd": ("quay.io/argoproj", "ecr-public.aws.com/docker/library/redis"),
}
"""`Chart.images` of each locked chart (a chart whose pods all come from another chart's sources has none)."""


class ChartLockError(ValueError):
    """The chart lock is missing or malformed: what is wrong, and where."""


def shipped_file(name: str) -> Path:
    """A file the wheel ships inside this package (setup.py copies it), else at the top of the checkout."""
    packaged = Path(__file__).with_name(name)
    return packaged if packaged.is_file() else Path(__file__).resolve().parents[1] / name


def read_shipped(path: Path, what: str, error: type[ValueError]) -> str:
    """The text of a shipped file, or `error` naming it."""
    try:
        return path.read_text()
    except OSError as problem:
        raise error(f"{path}: cannot read the {what} ({problem.strerror}); it ships with the project and its wheel") from None


def lock_path() -> Path:
    """The chart lock: inside the installed package (wheel), else at the top of the checkout."""
    return shipped_file(LOCK_FILE)


def parse_lock(text: str, source: str = LOCK_FILE) -> dict[str, Chart]:
    """The charts of a chart lock's text, by name; every entry checked (exact version, https or oci repository, digest form)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ChartLockError(f"{source}: not YAML: {error}") from None
    entries = data.get("charts") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ChartLockError(f"{source}: expected a non-empty `charts:` list")
    charts: dict[str, Chart] = {}
    for index, entry in enumerate(entries):
        where = f"{source}: charts[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"name", "repository", "version", "digest"}:
            raise ChartLockError(f"{where}: each entry has exactly name, repository, version and digest")
        name, repo, version, digest = (str(entry[k] or "") for k in ("name", "repository", "version", "digest"))
        if not name or name in charts:
            raise ChartLockError(f"{where}: name {name!r} is empty or listed twice")
        if not repo.startswith(("https://", "oci://")):
            raise ChartLockError(f"{where} ({name}): repository {repo!r} must be an https:// chart repository or an oci:// reference")
        if not _EXACT_VERSION.fullmatch(version):
            raise ChartLockError(f"{where} ({name}): version {version!r} must be one exact version, never a range")
        if digest and not (digest.startswith("sha256:") and len(digest) == 71 and all(c in "0123456789abcdef" for c in digest[7:])):
            raise ChartLockError(f"{where} ({name}): digest {digest!r} must be sha256:<64 lowercase hex> or \"\" (not recorded yet)")
        charts[name] = Chart(name, version, repo, digest, IMAGES.get(name, ()))
    return charts


def _read_lock() -> dict[str, Chart]:
    path = lock_path()
    return parse_lock(read_shipped(path, "chart lock", ChartLockError), str(path))


CHARTS: dict[str, Chart] = _read_lock()
"""Every chart any stack installs, by chart name, as `charts.lock` pins it."""


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
