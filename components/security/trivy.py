"""Trivy Operator: continuous vulnerability, misconfiguration and compliance scanning (trivy-system)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, cast

import pulumi
from pydantic import Field

from ..charts import CHARTS, install_chart
from ..model import Model, ProfiledModel, Profiles, ResourcesConfig
from ..podsecurity import NODE_AGENT_REASONS, Level

TRIVY_NAMESPACE = "trivy-system"

Severity = Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]


ComplianceSpec = Literal["k8s-cis-1.23", "k8s-nsa-1.0", "k8s-pss-baseline-0.1", "k8s-pss-restricted-0.1", "eks-cis-1.4"]


SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")


class TrivyScannersConfig(Model):
    """Which Trivy scanners run. `local` runs the lighter set (vulnerabilities, config audit, RBAC)."""

    vulnerability: bool = Field(True, description="Image vulnerability scans (VulnerabilityReports).")
    config_audit: bool = Field(True, description="Workload misconfiguration checks (ConfigAuditReports).")
    rbac_assessment: bool = Field(True, description="RBAC assessment (RbacAssessmentReports).")
    infra_assessment: bool = Field(description="Node/control-plane assessment: off on local, on on aws.")
    exposed_secrets: bool = Field(description="Secrets baked into images: off on local, on on aws.")
    sbom: bool = Field(description="SBOM generation: off on local, on on aws.")


class TrivyConfig(ProfiledModel):
    """Trivy Operator: continuous vulnerability, misconfiguration and compliance scanning."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "scanJobsConcurrentLimit": 1,
            "scanners": {"infraAssessment": False, "exposedSecrets": False, "sbom": False},
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
            "scanJobResources": {"requests": {"cpu": "50m", "memory": "100Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}},
        },
        "aws": {
            "scanJobsConcurrentLimit": 5,
            "scanners": {"infraAssessment": True, "exposedSecrets": True, "sbom": True},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "scanJobResources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}},
        },
    }
    enabled: bool = Field(True, description="Install the Trivy Operator in trivy-system.")
    ignore_unfixed: bool = Field(True, description="Report only vulnerabilities that have a fix (actionable findings).")
    severities: list[Severity] = Field(
        default_factory=lambda: list[Severity](["HIGH", "CRITICAL"]), min_length=1, description="Severities reported."
    )
    scan_jobs_concurrent_limit: int = Field(ge=1, le=50, description="Scan jobs at a time: local 1, aws 5.")
    scan_job_timeout_minutes: int = Field(5, ge=1, le=120, description="A scan job is abandoned after this long.")
    compliance_specs: list[ComplianceSpec] = Field(
        default_factory=lambda: list[ComplianceSpec](["k8s-nsa-1.0", "k8s-cis-1.23"]), description="Compliance reports generated (every 6 h)."
    )
    scanners: TrivyScannersConfig = Field(description="Scanner set.")
    resources: ResourcesConfig = Field(description="Operator requests/limits.")
    scan_job_resources: ResourcesConfig = Field(description="Each scan job's requests/limits.")


def trivy_level(config: TrivyConfig) -> tuple[Level, str | None]:
    """trivy-system's Pod Security level and its reason: its scan jobs run as non-root
    (`trivy_values`); the infra assessment's node-collector jobs read the node's files."""
    if config.scanners.infra_assessment:
        return "privileged", NODE_AGENT_REASONS[TRIVY_NAMESPACE]
    return "restricted", None


def trivy_values(config: TrivyConfig, service_monitors: bool) -> dict[str, Any]:
    scanners = config.scanners
    return {
        "operator": {
            "scanJobsConcurrentLimit": config.scan_jobs_concurrent_limit,
            "scanJobTimeout": f"{config.scan_job_timeout_minutes}m",
            "vulnerabilityScannerEnabled": scanners.vulnerability,
            "configAuditScannerEnabled": scanners.config_audit,
            "rbacAssessmentScannerEnabled": scanners.rbac_assessment,
            "infraAssessmentScannerEnabled": scanners.infra_assessment,
            "exposedSecretScannerEnabled": scanners.exposed_secrets,
            "sbomGenerationEnabled": scanners.sbom,
            "clusterComplianceEnabled": bool(config.compliance_specs),
        },
        "trivyOperator": {
            # Scan jobs run as non-root with the runtime's seccomp profile (the chart already drops
            # every capability and makes the root filesystem read-only): trivy-system passes
            # `restricted` unless the infra assessment's node-collector needs the host.
            "scanJobPodTemplatePodSecurityContext": {
                "runAsNonRoot": True, "runAsUser": 10000, "runAsGroup": 10000, "seccompProfile": {"type": "RuntimeDefault"},
            },
        },
        "trivy": {
            "ignoreUnfixed": config.ignore_unfixed,
            "severity": ",".join(s for s in SEVERITIES if s in config.severities),
            "resources": config.scan_job_resources.values(),
        },
        "compliance": {"specs": list(config.compliance_specs)},
        "serviceMonitor": {"enabled": service_monitors},
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": config.resources.values(),
    }


def install_trivy(name: str, config: TrivyConfig, service_monitors: bool, after: Sequence[pulumi.Resource], parent: pulumi.Resource) -> pulumi.Resource:
    """The operator's chart in trivy-system, after `after` (its namespace; the ServiceMonitor CRD)."""
    return cast(pulumi.Resource, install_chart(
        f"{name}-trivy", CHARTS["trivy-operator"], TRIVY_NAMESPACE, trivy_values(config, service_monitors),
        pulumi.ResourceOptions(parent=parent, depends_on=list(after)), "trivy-operator",
    ))
