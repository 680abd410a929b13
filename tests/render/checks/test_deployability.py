"""render.checks.deployability: deployability: each check catches one planted defect, and the shipped stacks pass every check."""

from __future__ import annotations

import base64

import pytest

from helpers import pinned, release, render
from render.checks.deployability import (
    check_addresses,
    check_dropped_hooks,
    check_irsa,
    check_namespaces,
    check_renders,
    check_webhooks,
    deployability_report,
)
from render.checks.references import check_references
from render.engine.addresses import addresses_in
from render.engine.deployed import Deployed
from render.engine.facts import CloudRole, Facts, Prerequisite

LOCAL = Facts(environment="local")


def obj(kind: str, name: str, namespace: str = "apps", api_version: str = "v1", **fields) -> Deployed:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return Deployed({"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}, f"urn:{kind}:{name}", "program")


def namespace(name: str) -> Deployed:
    return obj("Namespace", name, namespace="")


def pod(name: str = "api", **spec) -> Deployed:
    spec.setdefault("containers", [{"name": "api", "image": "localhost:5001/api:1"}])
    spec.setdefault("serviceAccountName", "api")
    return obj("Deployment", name, api_version="apps/v1", spec={"template": {"spec": spec}})


def service(name: str, ns: str = "apps", port: int = 8080) -> Deployed:
    return obj("Service", name, namespace=ns, spec={"ports": [{"name": "http", "port": port}]})


BASE = [namespace("apps"), obj("ServiceAccount", "api")]


# --- references ---------------------------------------------------------------------------


def test_a_pod_mounting_a_secret_nobody_creates_is_an_error():
    defect = pod(volumes=[{"name": "tls", "secret": {"secretName": "api-tls"}}])

    [finding] = check_references([*BASE, defect], [], LOCAL)

    assert finding["object"] == "Deployment apps/api"
    assert "volume tls refers to Secret apps/api-tls, which nothing in the stack creates" in finding["message"]


def test_every_kind_of_pod_reference_is_resolved():
    defect = pod(
        serviceAccountName="ghost",
        volumes=[{"name": "cfg", "configMap": {"name": "api-config"}}, {"name": "data", "persistentVolumeClaim": {"claimName": "api-data"}}],
        containers=[{"name": "api", "envFrom": [{"secretRef": {"name": "api-env"}}],
                     "env": [{"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "flags", "key": "k"}}}]}],
    )

    messages = sorted(f["message"].split(" refers to ")[1].split(",")[0] for f in check_references([*BASE, defect], [], LOCAL))

    assert messages == ["ConfigMap apps/api-config", "ConfigMap apps/flags", "PersistentVolumeClaim apps/api-data", "Secret apps/api-env", "ServiceAccount apps/ghost"]


def test_optional_references_runtime_objects_and_prerequisites_pass():
    clean = pod(
        serviceAccountName="default",  # made by the serviceaccount controller
        volumes=[
            {"name": "ca", "configMap": {"name": "istio-ca-root-cert"}},  # made by istiod
            {"name": "maybe", "secret": {"secretName": "optional", "optional": True}},
            {"name": "tls", "secret": {"secretName": "user-tls"}},
        ],
    )
    facts = Facts("local", prerequisites=[Prerequisite("Secret", "apps", "user-tls", "some.key", "create it")])

    assert check_references([*BASE, clean], [], facts) == []


def test_an_istio_gateway_certificate_must_exist():
    gateway = obj("Gateway", "main", api_version="networking.istio.io/v1",
                  spec={"servers": [{"port": {"name": "https", "number": 443}, "tls": {"credentialName": "gateway-tls"}}]})

    [finding] = check_references([*BASE, gateway], [], LOCAL)

    assert "Secret apps/gateway-tls" in finding["message"]


def test_an_operator_resource_needs_the_secrets_it_gives_its_pods():
    alertmanager = obj("Alertmanager", "main", api_version="monitoring.coreos.com/v1",
                       spec={"serviceAccountName": "api", "secrets": ["alertmanager-receivers"]})

    [finding] = check_references([*BASE, alertmanager], [], LOCAL)

    assert finding["message"] == "spec.secrets refers to Secret apps/alertmanager-receivers, which nothing in the stack creates"


# --- addresses ----------------------------------------------------------------------------


def test_a_wired_in_address_with_no_service_is_an_error():
    config = obj("ConfigMap", "promtail", namespace="apps", data={"config.yaml": "url: http://loki.apps.svc.cluster.local:3100/push"})

    [finding] = check_addresses([*BASE, config], LOCAL)

    assert finding["object"] == "ConfigMap apps/promtail"
    assert "`http://loki.apps.svc.cluster.local:3100` names Service apps/loki, which does not exist" in finding["message"]


def test_an_address_on_a_port_the_service_does_not_serve_is_an_error():
    wired = pod(containers=[{"name": "api", "env": [{"name": "DB", "value": "db.apps:5433"}]}])

    [finding] = check_addresses([*BASE, service("db", port=5432), wired], LOCAL)

    assert "uses port 5433; Service apps/db serves [5432]" in finding["message"]


def test_addresses_in_values_and_secret_data_are_checked():
    secret = obj("Secret", "cfg", data={"c": base64.b64encode(b"endpoint: grpc://jaeger.apps:4317").decode()})
    facts = Facts("local", release_values={"urn:release": {"clients": [{"url": "http://loki.apps.svc:3100"}]}})

    findings = check_addresses([*BASE, secret], facts)

    assert sorted(f["message"].split("`")[1] for f in findings) == ["grpc://jaeger.apps:4317", "http://loki.apps.svc:3100"]


def test_istio_routes_must_reach_a_service_port():
    route = obj("VirtualService", "api", api_version="networking.istio.io/v1", spec={
        "hosts": ["api.example.com"],
        "http": [{"route": [{"destination": {"host": "api.apps.svc.cluster.local", "port": {"number": 80}}},
                            {"destination": {"host": "web", "port": {"number": 8080}}}]}],
    })
    rule = obj("DestinationRule", "gone", api_version="networking.istio.io/v1", spec={"host": "gone.apps.svc.cluster.local"})

    messages = sorted(f["message"] for f in check_addresses([*BASE, service("api", port=8080), route, rule], LOCAL))

    assert messages == [
        "host: host gone.apps names Service apps/gone, which does not exist",
        "http[0] destination: host web.apps names Service apps/web, which does not exist",
        "http[0] destination: port 80 of Service apps/api, which serves [8080]",
    ]


def test_public_hostnames_are_not_mistaken_for_services():
    namespaces = {"apps", "monitoring"}

    assert list(addresses_in("image: registry.k8s.io/pause:3.10 and https://github.com/x", namespaces)) == []
    assert list(addresses_in("file apps.yaml, label app.kubernetes.io/name", namespaces)) == []
    assert [a[:3] for a in addresses_in("http://kps-prometheus.monitoring:9090", namespaces)] == [("kps-prometheus", "monitoring", 9090)]


# --- webhooks -----------------------------------------------------------------------------


def test_a_webhook_pointing_at_a_missing_service_is_an_error():
    webhook = obj("ValidatingWebhookConfiguration", "policy", namespace="", api_version="admissionregistration.k8s.io/v1",
                  webhooks=[{"name": "policy.example.com", "clientConfig": {"service": {"name": "policy", "namespace": "apps", "port": 443}}}])

    [finding] = check_webhooks([*BASE, webhook], [], LOCAL)

    assert "webhook policy.example.com calls Service apps/policy, which nothing in the stack creates" in finding["message"]


def test_a_webhook_whose_ca_comes_from_a_dropped_hook_is_an_error():
    # The VPA chart's certgen Jobs create the admission controller's TLS Secret and patch
    # its webhook's caBundle; as a helm.v4.Chart both are dropped.
    stack = render(release("vertical-pod-autoscaler", pinned("vertical-pod-autoscaler"), "kube-system", name="vpa"))
    objects = [namespace("kube-system"), *stack.objects]

    [webhook] = check_webhooks(objects, stack.charts, LOCAL)
    secrets = [f for f in check_references(objects, stack.charts, LOCAL) if "Secret kube-system/vpa-tls-certs" in f["message"]]

    assert "no caBundle" in webhook["message"] and "helm.v4.Chart drops" in webhook["message"]
    assert secrets and "created only by hook Job vpa-vertical-pod-autoscaler-admission-certgen" in secrets[0]["message"]


# --- hooks --------------------------------------------------------------------------------


def test_a_v4_chart_that_needs_its_dropped_hooks_is_an_error():
    stack = render(release("vertical-pod-autoscaler", pinned("vertical-pod-autoscaler"), "kube-system", name="vpa"))

    findings = check_dropped_hooks(stack.charts)

    assert {f["object"] for f in findings} == {
        "Job vpa-vertical-pod-autoscaler-admission-certgen (release vpa)",
        "Job vpa-vertical-pod-autoscaler-admission-certgen-patch (release vpa)",
    }
    assert all("install it as a helm.v3.Release" in f["message"] for f in findings)


def test_the_same_chart_as_a_v3_release_runs_its_hooks_and_passes():
    stack = render(release("vertical-pod-autoscaler", pinned("vertical-pod-autoscaler"), "kube-system", v3=True, name="vpa"))
    objects = [namespace("kube-system"), *stack.objects]

    assert check_dropped_hooks(stack.charts) == []
    assert check_webhooks(objects, stack.charts, LOCAL) == []
    assert [f for f in check_references(objects, stack.charts, LOCAL) if "vpa-tls-certs" in f["message"]] == []


# --- namespaces ---------------------------------------------------------------------------


def test_a_hook_labelling_a_missing_namespace_is_an_error():
    values = {"postInstall": {"labelNamespace": {"extraNamespaces": ["kube-system", "istio-egress"]}}}
    stack = render(release("gatekeeper", pinned("gatekeeper"), "gatekeeper-system", values, v3=True, createNamespace=True))

    findings = check_namespaces(stack.objects, LOCAL)

    assert [f["message"] for f in findings] == [
        "container kubectl-label-extra labels namespace istio-egress, which does not exist on local: the hook fails"
    ]


def test_an_object_in_a_missing_namespace_is_an_error():
    [finding] = check_namespaces([namespace("apps"), service("api", ns="payments")], LOCAL)

    assert finding["message"] == "lives in namespace payments, which does not exist on local"


def test_builtin_namespaces_differ_per_environment():
    on_kind = service("storage", ns="local-path-storage")

    assert check_namespaces([on_kind], LOCAL) == []
    assert len(check_namespaces([on_kind], Facts("aws"))) == 1


# --- rendering ----------------------------------------------------------------------------


def test_a_chart_failing_to_render_is_an_error():
    # A required value left empty (as when a mock returns no bucket name) fails the render.
    stack = render(release("loki", pinned("loki"), "monitoring", {"deploymentMode": "SimpleScalable", "loki": {"storage": {"type": "s3", "bucketNames": {}}}}))

    [finding] = check_renders(stack.charts, stack.problems)

    assert finding["check"] == "render" and "Please define loki.storage.bucketNames.chunks" in finding["message"]


# --- the shipped stacks -------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_the_stacks_are_deployable(rendered, stack):
    _, data, _ = rendered(stack)

    assert data["deployability"]["errors"] == []
    assert data["deployability"]["checked"] > 400


def test_aws_needs_no_tls_secret_from_the_user(rendered):
    _, data, _ = rendered("aws")

    # cert-manager issues the gateway's and Vault's certificates (tests/components/test_certificates.py).
    assert data["deployability"]["prerequisites"] == []


def test_provided_tls_secrets_are_named_as_prerequisites():
    from components.config import parse_config
    from render.report import prerequisites

    config = parse_config({
        "environment": "aws", "region": "eu-west-1", "mesh": {"gateway": {"credentialName": "shop-tls"}},
        "tls": {"enabled": False}, "security": {"vault": {"tlsSecretName": "vault-tls"}}, "gitops": {"enabled": False},
    })

    assert {(p.namespace, p.name, p.key) for p in prerequisites(config, [])} == {
        ("istio-ingress", "shop-tls", "mesh.gateway.credentialName"),
        ("vault", "vault-tls", "security.vault.tlsSecretName"),
    }


def test_local_needs_no_prerequisites(rendered):
    _, data, _ = rendered("local")

    assert data["deployability"]["prerequisites"] == []


def test_report_shape():
    report = deployability_report([*BASE, pod()], [], LOCAL)

    assert {k: report[k] for k in ("checked", "errors", "prerequisites")} == {"checked": 3, "errors": [], "prerequisites": []}
    assert {"kind": "ConfigMap", "namespace": "*", "name": "istio-ca-root-cert", "created_by": "istiod (namespace controller), in every namespace"} in report["runtime_objects"]


def _injected_webhook(annotation: str, source: str) -> Deployed:
    hook = obj("ValidatingWebhookConfiguration", "checks", namespace="", api_version="admissionregistration.k8s.io/v1",
               webhooks=[{"name": "check.example.com", "clientConfig": {"service": {"namespace": "apps", "name": "api", "port": 443}}}])
    hook.obj["metadata"]["annotations"] = {annotation: source}
    return hook


def test_a_webhook_whose_ca_cert_manager_injects_needs_the_certificate_or_secret():
    service = obj("Service", "api", spec={"ports": [{"port": 443}]})
    certificate = obj("Certificate", "api-tls", api_version="cert-manager.io/v1", spec={"secretName": "api-tls"})

    from_certificate = _injected_webhook("cert-manager.io/inject-ca-from", "apps/api-tls")
    from_secret = _injected_webhook("cert-manager.io/inject-ca-from-secret", "apps/api-tls")

    [missing] = check_webhooks([*BASE, service, from_certificate], [], LOCAL)
    assert "Certificate apps/api-tls" in missing["message"] and "could not trust it" in missing["message"]
    [missing_secret] = check_webhooks([*BASE, service, from_secret], [], LOCAL)
    assert "Secret apps/api-tls" in missing_secret["message"]
    assert check_webhooks([*BASE, service, certificate, from_certificate], [], LOCAL) == []
    # The Secret a Certificate issues counts as created.
    assert check_webhooks([*BASE, service, certificate, from_secret], [], LOCAL) == []


def test_a_certificate_is_the_producer_of_its_secret():
    volume = pod(volumes=[{"name": "tls", "secret": {"secretName": "api-tls"}}])
    certificate = obj("Certificate", "api", api_version="cert-manager.io/v1", spec={"secretName": "api-tls"})

    [finding] = check_references([*BASE, volume], [], LOCAL)
    assert "Secret apps/api-tls" in finding["message"]
    assert check_references([*BASE, volume, certificate], [], LOCAL) == []


# --- IRSA: cloud identities are references too ------------------------------------------------

LOKI_ROLE = CloudRole("loki-irsa", "urn:loki-irsa", "arn:aws:iam::1:role/loki", ("system:serviceaccount:monitoring:loki",))


def account(name: str, namespace: str, role_arn: str | None) -> Deployed:
    annotations = {"eks.amazonaws.com/role-arn": role_arn} if role_arn else {}
    return Deployed({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace, "annotations": annotations}},
                    f"urn:sa:{name}", "chart")


def test_a_role_and_the_service_account_it_trusts_carrying_it_pass():
    assert check_irsa([account("loki", "monitoring", LOKI_ROLE.arn)], Facts("aws", cloud_roles=[LOKI_ROLE])) == []


def test_a_service_account_carrying_a_role_that_trusts_another_is_an_error():
    findings = check_irsa([account("loki", "monitoring", LOKI_ROLE.arn), account("loki-read", "monitoring", LOKI_ROLE.arn)], Facts("aws", cloud_roles=[LOKI_ROLE]))

    [finding] = findings
    assert finding["object"] == "ServiceAccount monitoring/loki-read"
    assert "whose trust names system:serviceaccount:monitoring:loki, not system:serviceaccount:monitoring:loki-read" in finding["message"]


def test_a_role_trusting_a_service_account_the_stack_does_not_create_is_an_error():
    [finding] = check_irsa([account("loki-sa", "monitoring", None)], Facts("aws", cloud_roles=[LOKI_ROLE]))

    assert "IAM role loki-irsa trusts system:serviceaccount:monitoring:loki, which the stack does not create" in finding["message"]


def test_the_trusted_service_account_without_the_role_annotation_is_an_error():
    [finding] = check_irsa([account("loki", "monitoring", None)], Facts("aws", cloud_roles=[LOKI_ROLE]))

    assert finding["object"] == "ServiceAccount monitoring/loki" and "carries eks.amazonaws.com/role-arn (none): annotate it" in finding["message"]


def test_an_unknown_role_arn_is_an_error_and_an_add_ons_role_is_its_own():
    addon = CloudRole("ebs-csi", "urn:ebs", "arn:aws:iam::1:role/ebs", ("system:serviceaccount:kube-system:ebs-csi-controller-sa",), bound_elsewhere=True)

    [finding] = check_irsa([account("app", "apps", "arn:aws:iam::1:role/typo")], Facts("aws", cloud_roles=[addon]))

    assert "which is no IAM role of the stack" in finding["message"]


@pytest.mark.parametrize("stack", ["aws", "aws-apps"])
def test_every_irsa_role_of_aws_is_carried_by_the_service_account_it_trusts(rendered, stack):
    from render.report import cloud_roles

    run, _, deployed = rendered(stack)
    roles = cloud_roles(run)

    assert len([r for r in roles if not r.bound_elsewhere]) >= 4  # cert-manager, cluster-autoscaler, Loki, Vault's unseal
    assert check_irsa(deployed.objects, Facts("aws", cloud_roles=roles)) == []
