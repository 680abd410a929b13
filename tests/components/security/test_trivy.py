"""components.security.trivy: the Trivy Operator scans fixed HIGH and CRITICAL findings with compliance reports; local runs the lighter scanner set."""

from __future__ import annotations

from helpers import installed_chart, pinned

CHART = "kubernetes:helm.sh/v4:Chart"


def test_trivy_scans_fixed_high_and_critical_with_compliance_reports(local_defaults):
    trivy = installed_chart(local_defaults, "trivy-operator", "SecurityStack")
    values = trivy.inputs["values"]

    assert trivy.type == CHART and trivy.inputs["version"] == pinned("trivy-operator") and trivy.inputs["namespace"] == "trivy-system"
    assert values["trivy"]["ignoreUnfixed"] is True
    assert values["trivy"]["severity"] == "HIGH,CRITICAL"
    assert values["compliance"]["specs"] == ["k8s-nsa-1.0", "k8s-cis-1.23"]
    assert values["operator"]["scanJobTimeout"] == "5m"
    assert values["serviceMonitor"] == {"enabled": True}, "the platform's Prometheus scrapes it"


def test_trivy_local_runs_the_lighter_scanner_set(local_defaults, aws_defaults):
    local_op = installed_chart(local_defaults, "trivy-operator", "SecurityStack").inputs["values"]["operator"]
    aws_op = installed_chart(aws_defaults, "trivy-operator", "SecurityStack").inputs["values"]["operator"]

    assert (local_op["scanJobsConcurrentLimit"], aws_op["scanJobsConcurrentLimit"]) == (1, 5)
    for scanner in ("infraAssessmentScannerEnabled", "exposedSecretScannerEnabled", "sbomGenerationEnabled"):
        assert local_op[scanner] is False and aws_op[scanner] is True
    assert local_op["vulnerabilityScannerEnabled"] is True
    assert installed_chart(local_defaults, "trivy-operator", "SecurityStack").inputs["values"]["resources"]["requests"] == {"cpu": "50m", "memory": "128Mi"}
