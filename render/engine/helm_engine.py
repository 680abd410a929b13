"""The real Helm engine, offline: render a chart directory as `helm template` would, for a target cluster.

This is the only module that renders with `helm_python` (Helm's Go SDK through its C
library, no helm binary; `render.engine.charts` pulls and unpacks charts with its public API).
The SDK's public `Chart.render()` takes no Kubernetes version and no
API version list, yet charts branch on both (`.Capabilities.KubeVersion`,
`.Capabilities.APIVersions.Has "monitoring.coreos.com/v1"`), so `render_templates`
calls the library's native `helm_render` with them; the SDK's private surface stays
here and nowhere else.

    templates = render_templates(charts.directory("istiod", CHARTS["istiod"].version), {"replicaCount": 2},
                                 release="istiod", namespace="istio-system",
                                 kube_version="v1.35.0", api_versions=("monitoring.coreos.com/v1",))
    crds = chart_crd_files(charts.directory("gatekeeper", CHARTS["gatekeeper"].version))

What comes back is raw: one text per template path, hooks still in, `crds/` not in,
exactly what Helm's template engine produced. Deciding what an install keeps (hooks
dropped by `helm.v4.Chart`, `crds/` skipped by `skipCrds`) is the caller's job.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


class HelmRenderError(RuntimeError):
    """A chart failed to load or render (the engine's own message: template, line, cause)."""


@functools.cache
def _load(directory: str) -> Any:
    # Charts are immutable once loaded and safe to share; loading is the slow part for
    # big charts (istio-base embeds every CRD), so each is loaded once per process.
    from helm_python import Chart
    from helm_python.errors import HelmError

    try:
        return Chart.load(directory)
    except HelmError as error:
        raise HelmRenderError(f"cannot load chart {directory}: {error}") from None


def render_templates(
    chart_dir: Path,
    values: Mapping[str, Any],
    *,
    release: str,
    namespace: str,
    kube_version: str,
    api_versions: Iterable[str] = (),
) -> dict[str, str]:
    """Template path -> rendered text, for an install of `chart_dir` with `values` (hooks included)."""
    from helm_python import _native
    from helm_python.errors import HelmError

    chart = _load(str(chart_dir))
    options = {
        "name": release,
        "namespace": namespace,
        "is_install": True,
        "kube_version": kube_version,
        "api_versions": sorted(set(api_versions)),
    }
    try:
        rendered = _native.call_string("helm_render", chart._raw(), json.dumps(dict(values)), json.dumps(options))
    except HelmError as error:
        raise HelmRenderError(str(error)) from None
    templates: dict[str, str] = json.loads(rendered)
    return templates


def chart_crd_files(chart_dir: Path) -> list[tuple[str, str, str]]:
    """(file name, subchart or "", text) of every file under the chart's and its subcharts' `crds/`.

    Helm installs a subchart's `crds/` only when the subchart is enabled (its `condition`
    holds); the subchart name tells the caller which files that rule applies to.
    """
    chart = _load(str(chart_dir))
    top = chart.name
    found = []
    for crd in chart.crds:
        # File names are "<chart>/crds/x.yaml" or "<chart>/charts/<sub>/crds/x.yaml".
        parts = crd["filename"].split("/")
        sub = parts[2] if len(parts) > 3 and parts[0] == top and parts[1] == "charts" else ""
        found.append((crd["filename"], sub, crd["data"]))
    return found


def chart_metadata(chart_dir: Path) -> dict[str, Any]:
    """The chart's Chart.yaml (name, version, dependencies with their conditions)."""
    metadata: dict[str, Any] = _load(str(chart_dir)).metadata
    return metadata


def merged_values(chart_dir: Path, values: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's defaults coalesced with `values`, as an install computes them."""
    merged: dict[str, Any] = _load(str(chart_dir)).merge_values(dict(values))
    return merged


@functools.cache
def uses_api_versions(chart_dir: Path) -> bool:
    """Whether any template of the chart (subcharts included, unpacked or as archives) reads `.Capabilities.APIVersions`."""
    import tarfile

    if any("APIVersions" in t["data"] for t in _load(str(chart_dir)).templates) or any(
        "APIVersions" in path.read_text(errors="replace") for path in chart_dir.glob("charts/**/templates/**/*") if path.is_file()
    ):
        return True
    for archive in chart_dir.glob("charts/*.tgz"):
        with tarfile.open(archive) as tar:
            for member in tar:
                file = tar.extractfile(member) if member.isfile() and "/templates/" in member.name else None
                if file is not None and b"APIVersions" in file.read():
                    return True
    return False


# A line starting a new YAML document ("---", optionally followed by a comment).
_SEPARATOR = re.compile(r"^---[ \t]*(?:#[^\n]*)?$", re.MULTILINE)


def parse_documents(text: str) -> list[Any]:
    """The documents of a multi-document YAML text, parsed as Kubernetes parses them.

    Helm's YAML-to-JSON conversion (sigs.k8s.io/yaml, the one kubectl and the API
    machinery use) instead of PyYAML: YAML 1.1 scalars (`yes`, `0777`, a bare `=`)
    mean what they mean to the cluster, and it is about ten times faster on the
    multi-megabyte CRDs. Empty documents come back as None.
    """
    from helm_python import _native
    from helm_python.errors import HelmError

    out = []
    for document in _SEPARATOR.split(text):
        if not document.strip():
            continue
        try:
            parsed = json.loads(_native.call_string("helm_values_from_yaml", document))
        except HelmError as error:
            raise HelmRenderError(f"invalid YAML: {error}") from None
        out.append(parsed or None)
    return out
