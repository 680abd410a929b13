"""Helm rules: charts are pinned and fetched over TLS."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import resource_policy

HELM_TYPES = frozenset({"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart"})
_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_LOCAL_CHART = re.compile(r"^(\.{0,2}/|[A-Za-z]:\\)")


def _name(obj: Mapping[str, Any]) -> str:
    return f"chart {obj.get('chart')} (release {obj.get('name') or '?'})"


def check_version(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    chart = str(obj.get("chart") or "")
    if _LOCAL_CHART.match(chart):
        return []  # a chart from this repository is pinned by the commit
    version = obj.get("version")
    if version and _EXACT_VERSION.match(str(version)):
        return []
    return [f"{_name(obj)} has version {version!r}; pin an exact chart version (e.g. 1.2.3), never a range or nothing"]


def check_repository(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    repo = str((obj.get("repositoryOpts") or {}).get("repo") or "")
    chart = str(obj.get("chart") or "")
    out = []
    if repo and not repo.startswith(("https://", "oci://")):
        out.append(f"{_name(obj)} comes from {repo}; use the repository's https:// (or oci://) URL")
    if chart.startswith("http://"):
        out.append(f"{_name(obj)} is fetched over plain http; use https")
    return out


POLICIES = [
    resource_policy(
        "helm-chart-version-pinned",
        "Helm charts are pinned to an exact version, so an upgrade is a reviewed change.",
        types=HELM_TYPES,
        check=check_version,
        severity=Severity.MEDIUM,
        remediation="Set `version` to an exact chart version (components/charts.py is the one place the platform's pins live).",
    ),
    resource_policy(
        "helm-chart-repository-https",
        "Helm charts are fetched over TLS.",
        types=HELM_TYPES,
        check=check_repository,
        severity=Severity.HIGH,
        remediation="Use the chart repository's https:// URL (or an oci:// registry).",
    ),
]
