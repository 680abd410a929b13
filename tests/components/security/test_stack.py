"""SecurityStack: Gatekeeper + constraint library, Trivy, Falco, Vault, namespace hardening, per profile."""

from __future__ import annotations

import json

import pytest
import yaml

from components.config import ConfigError
from components.security import HOST_EXEMPT_NAMESPACES, TEMPLATES
from helpers import aws, local, pinned
from policies.rego import rego_source
from render.engine.harness import Secret, reveal, run_program, run_program_recording

NS = "gitops-platform"
RELEASE = "kubernetes:helm.sh/v3:Release"
CHART = "kubernetes:helm.sh/v4:Chart"


@pytest.fixture(scope="module")
def local_sec():
    return run_program("local", local())


@pytest.fixture(scope="module")
def aws_sec():
    return run_program("aws", aws())


def release(run, chart):
    [found] = [r for r in run.of_type(RELEASE) + run.of_type(CHART) if r.inputs["chart"] == chart and "SecurityStack$" in r.urn]
    return found


def kind(run, k):
    return [r for r in run.resources if r.type.endswith(f":{k}")]


# --- Gatekeeper -----------------------------------------------------------------------


def test_gatekeeper_is_a_pinned_release_that_fails_open_and_skips_platform_namespaces(local_sec):
    gk = release(local_sec, "gatekeeper")

    assert gk.type == RELEASE, "its chart needs hooks"
    assert gk.inputs["version"] == pinned("gatekeeper")
    assert gk.inputs["repositoryOpts"]["repo"] == "https://open-policy-agent.github.io/gatekeeper/charts"
    assert gk.inputs["namespace"] == "gatekeeper-system" and gk.inputs["createNamespace"] is True
    values = gk.inputs["values"]
    assert values["validatingWebhookFailurePolicy"] == "Ignore"
    # Only the cluster's namespaces are skipped by the webhook itself; the rest is per constraint.
    assert values["controllerManager"]["exemptNamespaces"] == ["kube-system", "kube-public", "kube-node-lease"]
    assert values["postInstall"]["labelNamespace"]["extraNamespaces"] == ["kube-system", "kube-public", "kube-node-lease"]
    assert values["replicas"] == 1 and values["auditInterval"] == 60


def test_gatekeeper_is_ha_on_aws(aws_sec):
    assert release(aws_sec, "gatekeeper").inputs["values"]["replicas"] == 3


def test_templates_carry_the_rego_of_policies_and_wait_until_ingested(local_sec):
    templates = {t.inputs["metadata"]["name"]: t for t in kind(local_sec, "ConstraintTemplate")}
    gk = release(local_sec, "gatekeeper")

    assert len(templates) == len(TEMPLATES)
    allowed = templates["k8sallowedrepos"]
    [target] = allowed.inputs["spec"]["targets"]
    assert target["rego"] == rego_source("allowedrepos")
    assert target["libs"] == [rego_source("lib/workload")]
    for template in templates.values():
        annotations = dict(template.inputs["metadata"]["annotations"])
        assert annotations.pop("pulumi.com/waitFor") == "jsonpath={.status.created}=true"
        # Only the referential template says what it needs synced (tests/components/test_netpol.py).
        assert annotations == ({"metadata.gatekeeper.sh/requires-sync-data": annotations.get("metadata.gatekeeper.sh/requires-sync-data")}
                               if template.inputs["metadata"]["name"] == "k8snamespacedefaultdeny" else {})
        assert gk.urn in template.dependencies


def test_each_constraint_waits_for_its_template(local_sec):
    templates = {t.inputs["spec"]["crd"]["spec"]["names"]["kind"]: t for t in kind(local_sec, "ConstraintTemplate")}
    constraints = [r for r in local_sec.resources if r.type.startswith("kubernetes:constraints.gatekeeper.sh/")]

    assert len(constraints) == len(TEMPLATES)
    for constraint in constraints:
        kind_name = constraint.type.rsplit(":", 1)[-1]
        assert templates[kind_name].urn in constraint.dependencies
        assert constraint.inputs["spec"]["enforcementAction"] == "deny"
        if kind_name == "K8sAppProjectConfined":  # AppProjects live in Argo CD's platform namespace
            assert "excludedNamespaces" not in constraint.inputs["spec"]["match"]
        else:
            assert "kube-system" in constraint.inputs["spec"]["match"]["excludedNamespaces"]


def _constraint(run, kind_name):
    [c] = [r for r in run.resources if r.type == f"kubernetes:constraints.gatekeeper.sh/v1beta1:{kind_name}"]
    return c


def test_allowed_repos_are_the_stacks_registry_plus_upstream(local_sec, aws_sec):
    assert _constraint(local_sec, "K8sAllowedRepos").inputs["spec"]["parameters"] == {"repos": ["docker.io/istio/", "localhost:5001/"]}
    aws_repos = _constraint(aws_sec, "K8sAllowedRepos").inputs["spec"]["parameters"]["repos"]
    assert "123456789012.dkr.ecr.eu-west-1.amazonaws.com/" in aws_repos


def test_constraints_are_parameterised_from_config():
    run = run_program("local", local(security={"gatekeeper": {
        "requiredLabels": ["team"], "upstreamRegistries": ["docker.io/istio/", "ghcr.io/acme/"],
        "enforcement": {"hostPath": "warn", "requiredLabels": "dryrun"},
    }}))

    assert _constraint(run, "K8sRequiredLabels").inputs["spec"]["parameters"] == {"labels": ["team"]}
    assert _constraint(run, "K8sRequiredLabels").inputs["spec"]["enforcementAction"] == "dryrun"
    assert _constraint(run, "K8sHostPath").inputs["spec"]["enforcementAction"] == "warn"
    assert "ghcr.io/acme/" in _constraint(run, "K8sAllowedRepos").inputs["spec"]["parameters"]["repos"]
    assert _constraint(run, "K8sRunAsNonRoot").inputs["spec"]["parameters"] == {"exemptImages": []}  # Istio CNI: nothing exempt


# --- Trivy ----------------------------------------------------------------------------


def test_trivy_scans_fixed_high_and_critical_with_compliance_reports(local_sec):
    trivy = release(local_sec, "trivy-operator")
    values = trivy.inputs["values"]

    assert trivy.type == CHART and trivy.inputs["version"] == pinned("trivy-operator") and trivy.inputs["namespace"] == "trivy-system"
    assert values["trivy"]["ignoreUnfixed"] is True
    assert values["trivy"]["severity"] == "HIGH,CRITICAL"
    assert values["compliance"]["specs"] == ["k8s-nsa-1.0", "k8s-cis-1.23"]
    assert values["operator"]["scanJobTimeout"] == "5m"
    assert values["serviceMonitor"] == {"enabled": True}, "the platform's Prometheus scrapes it"


def test_trivy_local_runs_the_lighter_scanner_set(local_sec, aws_sec):
    local_op = release(local_sec, "trivy-operator").inputs["values"]["operator"]
    aws_op = release(aws_sec, "trivy-operator").inputs["values"]["operator"]

    assert (local_op["scanJobsConcurrentLimit"], aws_op["scanJobsConcurrentLimit"]) == (1, 5)
    for scanner in ("infraAssessmentScannerEnabled", "exposedSecretScannerEnabled", "sbomGenerationEnabled"):
        assert local_op[scanner] is False and aws_op[scanner] is True
    assert local_op["vulnerabilityScannerEnabled"] is True
    assert release(local_sec, "trivy-operator").inputs["values"]["resources"]["requests"] == {"cpu": "50m", "memory": "128Mi"}


# --- Falco ----------------------------------------------------------------------------


def test_falco_uses_modern_ebpf_least_privilege_and_json(local_sec):
    values = release(local_sec, "falco").inputs["values"]

    assert values["driver"] == {"kind": "modern_ebpf", "modernEbpf": {"leastPrivileged": True}}
    assert values["falco"]["json_output"] is True
    assert values["falcosidekick"]["enabled"] is True


def test_falco_custom_rules(local_sec):
    items = yaml.safe_load(release(local_sec, "falco").inputs["values"]["customRules"]["platform-rules.yaml"])
    by_name = {r["rule"]: r for r in items if "rule" in r}
    lists = {i["list"]: i["items"] for i in items if "list" in i}

    assert set(by_name) == {
        "Shell spawned in a platform container",
        "Sensitive file read in a container",
        "Crypto mining activity",
        "Container from an unapproved registry",
        "Undeclared egress from an app namespace",
    }
    assert all({"desc", "condition", "output", "priority"} <= set(r) for r in by_name.values())
    registry_rule = by_name["Container from an unapproved registry"]["condition"]
    # The stack's registry, the upstream ones and every platform chart's image sources.
    assert '"localhost:5001"' in registry_rule and '"docker.io/istio"' in registry_rule and '"quay.io/jetstack"' in registry_rule
    assert lists["platform_app_namespaces"] == ["apps"]


def test_falcosidekick_sends_to_alertmanager_when_wired():
    from components.security import SecurityConfig, SecurityStack

    def program():
        SecurityStack("sec", SecurityConfig.for_environment("local"), alertmanager_url="http://alertmanager.monitoring:9093")

    run = run_program("local", local(), program=program)
    sidekick = release(run, "falco").inputs["values"]["falcosidekick"]["config"]

    assert sidekick["alertmanager"] == {"hostport": "http://alertmanager.monitoring:9093", "minimumpriority": "warning"}


def test_slack_webhook_comes_only_from_secret_config_and_stays_out_of_helm_values():
    config = local(security={"falco": {"slackWebhookUrl": "https://hooks.slack.com/services/T/B/X"}})

    run = run_program("local", config, secret_keys=[f"{NS}:security"])

    [secret] = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.name.endswith("slack")]
    assert isinstance(secret.inputs["stringData"], Secret)
    assert reveal(secret.inputs["stringData"]) == {"SLACK_WEBHOOKURL": "https://hooks.slack.com/services/T/B/X"}
    sidekick = release(run, "falco").inputs["values"]["falcosidekick"]["config"]
    assert sidekick["existingSecret"] == "falcosidekick-slack"
    assert "hooks.slack.com" not in str(release(run, "falco").inputs["values"])


# --- Vault ----------------------------------------------------------------------------


def test_ha_vault_on_aws_unseals_itself_with_its_own_kms_key(aws_sec):
    [key] = [r for r in aws_sec.of_type("aws:kms/key:Key") if r.name.endswith("vault-unseal")]
    [role] = [r for r in aws_sec.of_type("aws:iam/role:Role") if "vault-unseal" in r.name]
    [policy] = [r for r in aws_sec.of_type("aws:iam/rolePolicy:RolePolicy") if "vault-unseal" in r.name]
    server = release(aws_sec, "vault").inputs["values"]["server"]

    assert key.protect and key.inputs["enableKeyRotation"] is True
    statement = json.loads(policy.inputs["policy"])["Statement"]
    assert statement == [{"Sid": "UnsealWithThisKeyOnly", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
                          "Resource": key.outputs["arn"]}]
    assert "system:serviceaccount:vault:vault" in role.inputs["assumeRolePolicy"]
    assert 'seal "awskms"' in server["ha"]["raft"]["config"] and 'region     = "eu-west-1"' in server["ha"]["raft"]["config"]
    assert server["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    # Vault's namespace lets it reach KMS and STS (443).
    egress = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in aws_sec.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
              if r.inputs["metadata"]["namespace"] == "vault"}
    assert egress["allow-external"]["egress"][0]["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_vaults_csi_provider_has_the_secrets_store_driver_it_plugs_into(local_sec):
    driver = next(r for r in local_sec.of_type(CHART) if r.inputs["chart"] == "secrets-store-csi-driver")
    values = driver.inputs["values"]

    assert (driver.inputs["version"], driver.inputs["namespace"]) == (pinned("secrets-store-csi-driver"), "kube-system")
    assert values["tokenRequests"] == [{"audience": "vault"}]  # each pod's own token, for Vault's Kubernetes auth
    assert values["syncSecret"] == {"enabled": True} and values["enableSecretRotation"] is True
    assert values["linux"]["crds"] == {"enabled": False}  # no Helm hook: the engine owns the CRDs from crds/
    assert release(local_sec, "vault").inputs["values"]["injector"]["enabled"] is False  # secrets come through CSI


def test_without_the_csi_provider_there_is_no_driver():
    run = run_program("local", local(security={"vault": {"csi": False}}))

    assert not [r for r in run.of_type(CHART) if r.inputs["chart"] == "secrets-store-csi-driver"]


def test_vault_is_a_single_dev_pod_on_local(local_sec):
    vault = release(local_sec, "vault")
    values = vault.inputs["values"]

    assert vault.type == RELEASE and vault.inputs["version"] == pinned("vault")
    assert values["server"]["dev"] == {"enabled": True}
    assert "ha" not in values["server"]
    assert values["ui"] == {"enabled": True, "serviceType": "ClusterIP"}
    assert values["injector"]["replicas"] == 1 and values["csi"]["enabled"] is True


def test_vault_is_ha_raft_with_tls_and_audit_storage_on_aws(aws_sec):
    values = release(aws_sec, "vault").inputs["values"]
    server = values["server"]

    assert server["ha"]["enabled"] is True and server["ha"]["replicas"] == 3
    assert server["ha"]["raft"]["enabled"] is True
    assert 'tls_cert_file = "/vault/userconfig/tls/tls.crt"' in server["ha"]["raft"]["config"]
    assert "tls_disable" not in server["ha"]["raft"]["config"]
    assert server["volumes"] == [{"name": "tls", "secret": {"secretName": "vault-server-tls"}}]
    assert server["auditStorage"] == {"enabled": True, "size": "10Gi"}
    assert values["global"]["tlsDisable"] is False
    assert values["injector"]["replicas"] == 2


# --- namespaces -----------------------------------------------------------------------


def test_app_namespaces_carry_pod_security_labels(local_sec):
    [apps] = [r for r in local_sec.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "apps"]
    labels = apps.inputs["metadata"]["labels"]

    assert labels["istio-injection"] == "enabled"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"  # Istio CNI: no NET_ADMIN init container
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"


def test_app_namespaces_are_default_deny_with_the_platform_flows(local_sec):
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in local_sec.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}

    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["allow-dns"]["egress"][0]["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert policies["allow-istiod"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 15012}]
    assert policies["allow-ingress-gateway"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "istio-ingress"}
    assert policies["allow-monitoring"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}


def test_hardening_waits_for_the_namespace(local_sec):
    [apps] = [r for r in local_sec.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "apps"]

    for resource in local_sec.of_type("kubernetes:core/v1:ResourceQuota") + local_sec.of_type("kubernetes:core/v1:LimitRange"):
        assert apps.urn in resource.dependencies


def test_quota_and_limit_range_follow_the_profile(local_sec, aws_sec):
    [local_quota] = local_sec.of_type("kubernetes:core/v1:ResourceQuota")
    [aws_quota] = aws_sec.of_type("kubernetes:core/v1:ResourceQuota")
    [limits] = local_sec.of_type("kubernetes:core/v1:LimitRange")

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


def test_constraints_skip_the_minimal_namespaces_for_their_kind(local_sec):
    privileged = _constraint(local_sec, "K8sPSPPrivileged").inputs["spec"]["match"]["excludedNamespaces"]
    labels = _constraint(local_sec, "K8sRequiredLabels").inputs["spec"]["match"]["excludedNamespaces"]

    # Host-access rules skip only the node agents' namespaces (each with a reason in HOST_EXEMPT_NAMESPACES).
    assert set(privileged) == set(HOST_EXEMPT_NAMESPACES)
    assert {"argocd", "istio-system", "keda", "cert-manager"}.isdisjoint(privileged)
    # Convention rules skip every platform namespace: chart pods carry the charts' labels.
    assert {"argocd", "istio-system", "falco", "monitoring"} <= set(labels)
    assert "apps" not in labels and "apps" not in privileged
    assert all(reason.strip() for reason in HOST_EXEMPT_NAMESPACES.values())
