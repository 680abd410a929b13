"""verify.model: what verify expects of a cluster and how a check reports."""

from __future__ import annotations

from components.charts import CHARTS
from verify.model import CheckResult, Expected


def test_a_check_passes_only_without_failures_and_reports_as_json():
    result = CheckResult("workloads-ready", "3 workloads ready", checked=3)
    assert result.passed and result.as_dict() == {"check": "workloads-ready", "passed": True, "checked": 3, "summary": "3 workloads ready", "failures": []}

    result.failures.append("Deployment apps/backend: 1/2 ready")
    assert not result.passed and result.as_dict()["failures"] == ["Deployment apps/backend: 1/2 ready"]


def test_the_dry_runs_image_is_istios_proxy_at_the_pinned_version():
    assert Expected().compliant_image == f"docker.io/istio/proxyv2:{CHARTS['istiod'].version}"
    assert Expected().app_namespace is None  # no Gatekeeper dry runs unless the render names an app namespace
