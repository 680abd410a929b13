"""components.security.stack: SecurityStack — app-namespace hardening (labels, default deny, quota), parts switched off, bad config refused before any resource."""

from __future__ import annotations

import pytest

from components.config import ConfigError
from helpers import aws, local
from render.engine.harness import run_program, run_program_recording

NS = "gitops-platform"
RELEASE = "kubernetes:helm.sh/v3:Release"
CHART = "kubernetes:helm.sh/v4:Chart"


# --- Gatekeeper -----------------------------------------------------------------------


# --- Trivy ----------------------------------------------------------------------------


# --- Falco ----------------------------------------------------------------------------


# --- Vault ----------------------------------------------------------------------------


# --- namespaces -----------------------------------------------------------------------


def test_app_namespaces_carry_pod_security_labels(local_defaults):
    [apps] = [r for r in local_defaults.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "apps"]
    labels = apps.inputs["metadata"]["labels"]

    assert labels["istio-injection"] == "enabled"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"  # Istio CNI: no NET_ADMIN init container
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"


def test_app_namespaces_are_default_deny_with_the_platform_flows(local_defaults):
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in local_defaults.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}

    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["allow-dns"]["egress"][0]["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert policies["allow-istiod"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 15012}]
    assert policies["allow-ingress-gateway"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "istio-ingress"}
    assert policies["allow-monitoring"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}


def test_hardening_waits_for_the_namespace(local_defaults):
    [apps] = [r for r in local_defaults.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "apps"]

    for resource in local_defaults.of_type("kubernetes:core/v1:ResourceQuota") + local_defaults.of_type("kubernetes:core/v1:LimitRange"):
        assert apps.urn in resource.dependencies


def test_quota_and_limit_range_follow_the_profile(local_defaults, aws_defaults):
    [local_quota] = local_defaults.of_type("kubernetes:core/v1:ResourceQuota")
    [aws_quota] = aws_defaults.of_type("kubernetes:core/v1:ResourceQuota")
    [limits] = local_defaults.of_type("kubernetes:core/v1:LimitRange")

    assert local_quota.inputs["spec"]["hard"]["requests.cpu"] == "2" and local_quota.inputs["spec"]["hard"]["pods"] == "30"
    assert aws_quota.inputs["spec"]["hard"]["requests.cpu"] == "8"
    assert limits.inputs["spec"]["limits"][0]["defaultRequest"] == {"cpu": "50m", "memory": "64Mi"}


def test_parts_can_be_switched_off():
    run = run_program("local", local(security={"trivy": {"enabled": False}, "falco": {"enabled": False}, "vault": {"enabled": False}, "gatekeeper": {"enabled": False}, "networkIsolation": {"enabled": False}, "quota": {"enabled": False}}))

    assert [r for r in run.resources if "SecurityStack$" in r.urn and r.custom] == []


BAD = [
    ("unknown-enforcement-action", local(security={"gatekeeper": {"enforcement": {"hostPath": "block"}}}), "security.gatekeeper.enforcement.hostPath", "'deny', 'dryrun' or 'warn'"),
    ("unknown-constraint", local(security={"gatekeeper": {"enforcement": {"noRoot": "deny"}}}), "security.gatekeeper.enforcement.noRoot", "unknown key"),
    ("empty-upstream-registries", local(security={"gatekeeper": {"upstreamRegistries": []}}), "security.gatekeeper.upstreamRegistries", "at least 1 item"),
    ("registry-without-slash", local(security={"gatekeeper": {"upstreamRegistries": ["docker.io/istio"]}}), "security.gatekeeper.upstreamRegistries", "ending with '/'"),
    ("gatekeeper-zero-replicas", local(security={"gatekeeper": {"replicas": 0}}), "security.gatekeeper.replicas", "greater than or equal to 1"),
    ("audit-too-often", local(security={"gatekeeper": {"auditIntervalSeconds": 1}}), "security.gatekeeper.auditIntervalSeconds", "greater than or equal to 10"),
    ("bad-severity", local(security={"trivy": {"severities": ["SEVERE"]}}), "security.trivy.severities[0]", "'UNKNOWN', 'LOW', 'MEDIUM', 'HIGH' or 'CRITICAL'"),
    ("no-severity", local(security={"trivy": {"severities": []}}), "security.trivy.severities", "at least 1 item"),
    ("bad-compliance-spec", local(security={"trivy": {"complianceSpecs": ["pci"]}}), "security.trivy.complianceSpecs[0]", "expected 'k8s-cis-1.23'"),
    ("zero-scan-concurrency", local(security={"trivy": {"scanJobsConcurrentLimit": 0}}), "security.trivy.scanJobsConcurrentLimit", "greater than or equal to 1"),
    ("slack-in-plain-config", local(security={"falco": {"slackWebhookUrl": "https://hooks.slack.com/services/T/B/X"}}), "security.falco.slackWebhookUrl", "pulumi config set --secret"),
    ("slack-not-https", local(security={"falco": {"slackWebhookUrl": "http://hooks.slack.com/x"}}), "security.falco.slackWebhookUrl", "https://"),
    ("bad-falco-priority", local(security={"falco": {"minimumPriority": "high"}}), "security.falco.minimumPriority", "'emergency'"),
    ("vault-dev-on-aws", aws(security={"vault": {"mode": "dev"}}), "security.vault.mode", "use ha on aws"),
    ("vault-ha-without-tls", local(security={"vault": {"mode": "ha"}}, tls={"enabled": False}), "security.vault.tlsSecretName", "required in ha mode"),
    ("vault-even-replicas", aws(security={"vault": {"tlsSecretName": "t", "replicas": 4}}), "security.vault.replicas", "odd number"),
    ("vault-bad-mode", local(security={"vault": {"mode": "raft"}}), "security.vault.mode", "'dev' or 'ha'"),
    ("bad-psa-level", local(security={"podSecurity": {"warn": "strict"}}), "security.podSecurity.warn", "'privileged', 'baseline' or 'restricted'"),
    ("bad-exempt-namespace", local(security={"gatekeeper": {"exemptNamespaces": ["Tools"]}}), "security.gatekeeper.exemptNamespaces", "DNS-1123"),
    ("quota-zero-pods", local(security={"quota": {"pods": 0}}), "security.quota.pods", "greater than or equal to 1"),
]


@pytest.mark.parametrize(("config", "path", "text"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_security_config_is_rejected_before_any_resource(config, path, text):
    run, error = run_program_recording(config[f"{NS}:environment"], config)

    assert isinstance(error, ConfigError), error
    assert run.resources == []
    [problem] = [p for p in error.problems if p.path == f"{NS}:{path}"]
    assert text in problem.message


