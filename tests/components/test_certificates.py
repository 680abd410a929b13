"""components.certificates: cert-manager and the platform's certificates: what is issued by whom, and bad TLS config refused."""

from __future__ import annotations

import json

import pytest

from components.certificates import ACME_SERVERS, TlsConfig, cert_manager_values, route53_policy
from components.config import ConfigError, parse_config
from helpers import AWS_ACME, aws, local, pinned
from render.engine.harness import run_program

CM = "kubernetes:cert-manager.io/v1"


def of_kind(run, kind):
    return [r for r in run.resources if r.type == f"{CM}:{kind}"]


def by_name(resources, name):
    [found] = [r for r in resources if r.inputs["metadata"]["name"] == name]
    return found


# --- cert-manager itself ------------------------------------------------------------------


def test_chart_installs_and_upgrades_its_crds_and_drops_the_hook_it_cannot_run(local_defaults):
    [chart] = [r for r in local_defaults.of_type("kubernetes:helm.sh/v4:Chart") if r.inputs["chart"] == "cert-manager"]
    values = chart.inputs["values"]

    assert chart.inputs["version"] == pinned("cert-manager") and chart.inputs["namespace"] == "cert-manager"
    assert values["crds"] == {"enabled": True, "keep": True}
    assert values["startupapicheck"] == {"enabled": False}
    for part in (values, values["webhook"], values["cainjector"]):
        assert part["resources"]["requests"] and part["resources"]["limits"]
    # The chart's ServiceMonitor would need the Prometheus CRDs first; CertManager.monitor makes it.
    assert values["prometheus"] == {"enabled": True, "servicemonitor": {"enabled": False}}
    [monitor] = [r for r in local_defaults.resources if r.type == "kubernetes:monitoring.coreos.com/v1:ServiceMonitor" and r.name == "platform-tls-servicemonitor"]
    assert monitor.inputs["spec"]["endpoints"][0]["port"] == "http-metrics"


def test_the_readiness_gate_is_a_job_every_issuer_and_certificate_waits_for(local_defaults):
    [job] = [r for r in local_defaults.of_type("kubernetes:batch/v1:Job") if r.name == "platform-tls-apicheck"]
    [chart] = [r for r in local_defaults.of_type("kubernetes:helm.sh/v4:Chart") if r.inputs["chart"] == "cert-manager"]
    [container] = job.inputs["spec"]["template"]["spec"]["containers"]

    assert container["image"] == f"quay.io/jetstack/cert-manager-startupapicheck:{pinned('cert-manager')}"
    assert container["args"][:2] == ["check", "api"]
    assert chart.urn in job.dependencies
    for resource in [*of_kind(local_defaults, "ClusterIssuer"), *of_kind(local_defaults, "Certificate")]:
        assert job.urn in resource.dependencies, resource.name


def test_pod_disruption_budgets_only_with_more_than_one_replica():
    assert cert_manager_values(TlsConfig.for_environment("local"), None)["podDisruptionBudget"] == {"enabled": False}
    aws_values = cert_manager_values(TlsConfig.for_environment("aws", acme=AWS_ACME), "arn:role")
    for part in (aws_values, aws_values["webhook"], aws_values["cainjector"]):
        assert part["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert aws_values["replicaCount"] == aws_values["webhook"]["replicaCount"] == 2
    assert aws_values["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:role"}


# --- issuers ------------------------------------------------------------------------------


def test_local_has_the_platform_ca_signed_by_a_self_signed_root(local_defaults):
    issuers = of_kind(local_defaults, "ClusterIssuer")
    root = by_name(of_kind(local_defaults, "Certificate"), "platform-root-ca")

    assert {i.inputs["metadata"]["name"] for i in issuers} == {"platform-selfsigned", "platform-ca"}
    assert by_name(issuers, "platform-selfsigned").inputs["spec"] == {"selfSigned": {}}
    assert by_name(issuers, "platform-ca").inputs["spec"] == {"ca": {"secretName": "platform-root-ca"}}
    assert root.inputs["spec"]["isCA"] is True and root.inputs["spec"]["issuerRef"]["name"] == "platform-selfsigned"
    assert root.inputs["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}


def test_the_ca_certificate_is_exported(monkeypatch):
    import pulumi

    import program

    exported: dict[str, object] = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.setdefault(key, value))
    run_program("local", local(), program=program.main)
    assert isinstance(exported["platformCaCertificate"], pulumi.Output)


def test_aws_solves_dns01_in_route53_with_a_role_limited_to_its_zones(aws_defaults):
    acme = by_name(of_kind(aws_defaults, "ClusterIssuer"), "platform-acme").inputs["spec"]["acme"]
    [role] = [r for r in aws_defaults.of_type("aws:iam/role:Role") if "cert-manager" in r.name]
    [policy] = [r for r in aws_defaults.of_type("aws:iam/rolePolicy:RolePolicy") if "cert-manager" in r.name]
    statements = json.loads(policy.inputs["policy"])["Statement"]

    assert acme["server"] == ACME_SERVERS["letsencrypt-staging"] and acme["email"] == "platform-team@example.com"
    assert acme["solvers"] == [
        {"selector": {"dnsZones": ["example.com"]}, "dns01": {"route53": {"region": "eu-west-1", "hostedZoneID": "Z0123456789ABCDEFGHIJ"}}}
    ]
    assert "system:serviceaccount:cert-manager:cert-manager" in role.inputs["assumeRolePolicy"]
    assert statements == json.loads(route53_policy(["Z0123456789ABCDEFGHIJ"]))["Statement"]
    assert all(s["Resource"] != "*" for s in statements)
    assert "http01" not in json.dumps(acme)


# --- certificates -------------------------------------------------------------------------


def test_aws_gateway_and_vault_certificates_come_from_their_issuers(aws_defaults):
    certificates = of_kind(aws_defaults, "Certificate")
    gateway = by_name(certificates, "gateway-tls")
    vault = by_name(certificates, "vault-server-tls")
    [release] = [r for r in aws_defaults.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "vault"]

    assert gateway.inputs["spec"]["issuerRef"]["name"] == "platform-acme"
    assert gateway.inputs["spec"]["dnsNames"] == ["app.example.com", "argocd.example.com"]
    assert gateway.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert vault.inputs["spec"]["issuerRef"]["name"] == "platform-ca"
    assert {"vault.vault.svc", "*.vault-internal", "vault-active.vault.svc.cluster.local"} <= set(vault.inputs["spec"]["dnsNames"])
    assert vault.urn in release.dependencies  # its pods mount the Secret at start
    assert release.inputs["values"]["server"]["volumes"] == [{"name": "tls", "secret": {"secretName": "vault-server-tls"}}]


def test_a_provided_gateway_secret_is_an_explicit_choice():
    run = run_program("aws", aws(mesh={"gateway": {"credentialName": "shop-tls", "hosts": ["shop.example.com"]}}))

    assert [c.inputs["metadata"]["name"] for c in of_kind(run, "Certificate") if c.inputs["metadata"]["name"] == "shop-tls"] == []
    assert "gateway-tls" not in [c.inputs["metadata"]["name"] for c in of_kind(run, "Certificate")]


def test_tls_off_keeps_nothing_of_cert_manager():
    run = run_program("local", local(tls={"enabled": False}))

    assert of_kind(run, "Certificate") == [] and of_kind(run, "ClusterIssuer") == []
    assert not [r for r in run.resources if r.type == "gitops-platform:index:CertManager"]


# --- bad input ----------------------------------------------------------------------------

AWS_BASE = {"environment": "aws", "region": "eu-west-1", "mesh": {"gateway": {"hosts": ["app.example.com"]}}, "gitops": {"enabled": False}}


def _acme(**changes):
    return {**AWS_BASE, "tls": {"acme": {**AWS_ACME, **changes}}}


@pytest.mark.parametrize(
    ("raw", "key", "text"),
    [
        (_acme(email="not-an-email"), "tls.acme.email", "email address"),
        (_acme(email="a@b"), "tls.acme.email", "email address"),
        (_acme(server="https://acme.example.com/directory"), "tls.acme.server", "allowCustomServer"),
        (_acme(server="letsencrypt"), "tls.acme.server", "letsencrypt-staging, letsencrypt-production"),
        (_acme(server="http://acme.example.com", allowCustomServer=True), "tls.acme.server", "https://"),
        (_acme(hostedZones=[{"id": "z123", "domain": "example.com"}]), "tls.acme.hostedZones[0].id", "hosted zone ID"),
        (_acme(hostedZones=[{"id": "Z123", "domain": "*.example.com"}]), "tls.acme.hostedZones[0].domain", "DNS domain"),
        (_acme(hostedZones=[]), "tls.acme.hostedZones", "at least 1"),
        ({**AWS_BASE}, "tls.acme", "required with issuer `acme`"),
        ({**_acme(), "mesh": {"gateway": {"hosts": ["app.other.org"]}}}, "mesh.gateway.hosts", "app.other.org"),
        ({**_acme(), "mesh": {"gateway": {"hosts": ["*"]}}}, "mesh.gateway.hosts", "hostedZones"),
        ({**_acme(), "mesh": {"gateway": {"hosts": ["app.example.com"], "credentialName": "mine"}}}, "mesh.gateway.credentialName", "gatewayCertificate: provided"),
        ({**_acme(), "tls": {"acme": AWS_ACME, "gatewayCertificate": "provided"}}, "mesh.gateway.credentialName", "required when"),
        ({"environment": "local", "tls": {"issuer": "existing"}}, "tls.existingIssuer", "required with issuer `existing`"),
        ({"environment": "local", "tls": {"acme": AWS_ACME}}, "tls.acme", "only used with issuer `acme`"),
        ({"environment": "local", "tls": {"issuer": "existing", "existingIssuer": "Bad_Name"}}, "tls.existingIssuer", "ClusterIssuer name"),
    ],
)
def test_bad_tls_config_is_refused_naming_the_key(raw, key, text):
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    message = str(error.value)
    assert key in message and text in message, message


def test_a_custom_acme_server_needs_the_explicit_override():
    config = parse_config(_acme(server="https://acme.example.com/directory", allowCustomServer=True))
    assert config.tls.acme is not None and config.tls.acme.directory == "https://acme.example.com/directory"


def test_wildcard_hosts_under_a_zone_are_served():
    assert parse_config({**_acme(), "mesh": {"gateway": {"hosts": ["*.example.com", "example.com"]}}}).tls.issuer == "acme"


def test_bad_tls_config_registers_no_resource():
    from render.engine.harness import run_program_recording

    run, error = run_program_recording("aws", aws(tls={"acme": {**AWS_ACME, "email": "nope"}}))

    assert isinstance(error, ConfigError) and run.resources == []


# --- webhooks: CA from the injector -------------------------------------------------------


@pytest.mark.parametrize("stack", ["local", "aws"])
def test_no_chart_still_needs_a_certificate_hook_and_injected_webhooks_leave_cabundle_to_the_injector(rendered, stack):
    _, data, deployed = rendered(stack)
    injected = [
        d for d in deployed.objects
        if d.kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
        and any(k.startswith("cert-manager.io/inject-ca-from") for k in (d.obj["metadata"].get("annotations") or {}))
    ]

    assert {d.name for d in injected} >= {"kps-admission", "vpa-vertical-pod-autoscaler-webhook-config", "cert-manager-webhook"}
    # Server-side apply: Pulumi owns only the fields it sets. A chart that set caBundle would
    # make every `pulumi up` fight the injector; none does, so none is ignored.
    assert all("caBundle" not in (w.get("clientConfig") or {}) for d in injected for w in d.obj["webhooks"])
    releases = {c["release"]: c for c in data["charts"]}
    assert releases["kps"]["install"] == releases["vpa"]["install"] == "v4"
    assert all(not c["hooks"]["dropped"] for c in data["charts"])
    assert data["deployability"]["errors"] == []


def test_the_policy_pack_sees_kube_prometheus_stack(rendered):
    from render.checks.policies import policy_resources

    run, data, deployed = rendered("local")
    seen, hidden = policy_resources(run, deployed)

    assert "kubernetes:apps/v1:Deployment" in {r.type for r in seen if r.name.startswith("platform-observability-kube-prometheus-stack:monitoring/kps-operator")}
    assert not [r for r in hidden if "monitoring/kps-" in r.name]
    assert data["policies"]["violations"] == []
