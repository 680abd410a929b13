"""verify.checks: every check through the real Kubernetes client against a local API server, with cluster states built from the render's own objects (ready and broken variants)."""

from __future__ import annotations

import dataclasses

from fake_api import Pki, serving
from verify.checks import (
    CHECKS,
    crds_established,
    falco_rules,
    gateway_https,
    policy_denies,
    prometheus_rules,
    prometheus_targets,
    trivy_reports,
    ui_health,
    vault_unsealed,
    webhook_endpoints,
    workloads_ready,
)
from verify.expected import expected_from
from verify_fixtures import FALCO_METRICS, client_for, falco_pod, gateway_answers, gateway_for, healthy


def test_a_healthy_cluster_passes_every_check(local_objects, expected, pki, tmp_path):
    cluster = healthy(local_objects, expected)
    with serving(cluster, tmp_path) as kubeconfig, gateway_for(expected, pki, tmp_path) as at_gateway:
        api = client_for(kubeconfig)
        results = [check(api, at_gateway) for _, check, _ in CHECKS]

    assert [r.failures for r in results] == [[]] * len(CHECKS)
    assert all(r.checked > 0 for r in results)
    assert cluster.created == {} and len(cluster.deleted) == 1  # the plaintext probe, cleaned up


def test_a_deployment_below_its_replicas_a_missing_daemonset_and_a_degraded_rollout_fail(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    istiod = next(d for d in local_objects if d.kind == "Deployment" and d.name == "istiod")
    cluster.workload(istiod.obj, ready=0)
    del cluster.objects["/apis/apps/v1/namespaces/kube-system/daemonsets/istio-cni-node"]
    backend = cluster.objects["/apis/argoproj.io/v1alpha1/namespaces/apps/rollouts/backend"]
    backend["status"].update(phase="Degraded", message="RolloutAborted: metric \"success-rate\" assessed Failed")

    with serving(cluster, tmp_path) as kubeconfig:
        result = workloads_ready(client_for(kubeconfig), expected)

    assert ("Rollout", "apps", "backend") in expected.workloads
    assert sorted(result.failures) == [
        "DaemonSet kube-system/istio-cni-node: not found",
        "Deployment istio-system/istiod: 0/1 replicas ready",
        'Rollout apps/backend: 2/2 replicas ready, phase Degraded: RolloutAborted: metric "success-rate" assessed Failed',
    ]


def test_a_crd_not_established_fails(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    crd = next(d for d in local_objects if d.kind == "CustomResourceDefinition" and d.name.startswith("secretproviderclasses."))
    cluster.crd(crd.obj, established=False)

    with serving(cluster, tmp_path) as kubeconfig:
        result = crds_established(client_for(kubeconfig), expected)

    assert result.failures == ["CRD secretproviderclasses.secrets-store.csi.x-k8s.io: not Established (False)"]


def test_a_webhook_without_a_ready_endpoint_or_a_missing_configuration_fails(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    cluster.endpoints("gatekeeper-system", "gatekeeper-webhook-service", ready=False)
    del cluster.objects["/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector"]

    with serving(cluster, tmp_path) as kubeconfig:
        result = webhook_endpoints(client_for(kubeconfig), expected)

    assert result.failures == [
        "gatekeeper-mutating-webhook-configuration: Service gatekeeper-system/gatekeeper-webhook-service has no ready endpoint",
        "MutatingWebhookConfiguration istio-sidecar-injector: not found",
        "gatekeeper-validating-webhook-configuration: Service gatekeeper-system/gatekeeper-webhook-service has no ready endpoint",
    ]


def test_gatekeeper_that_admits_everything_fails_and_the_messages_name_the_constraints(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        enforced = policy_denies(api, expected)
        cluster.gatekeeper = False
        open_door = policy_denies(api, expected)
        cluster.gatekeeper, cluster.pod_security = True, {}
        no_pod_security = policy_denies(api, expected)

    assert enforced.failures == [] and enforced.checked == 4
    assert open_door.failures == [
        "privileged Deployment: admitted in apps, should be denied by platform-privileged",
        ":latest pod: admitted in apps, should be denied by platform-disallowedtags",
    ]
    # Pod Security not enforced in the app namespace: Gatekeeper denies the privileged pod, which is not the layer expected first.
    assert no_pod_security.failures == [
        "privileged pod: refused in apps, but not by PodSecurity: admission webhook \"validation.gatekeeper.sh\" denied the request: "
        "[platform-privileged] Pod verify-privileged: container probe is privileged"
    ]


def test_a_down_target_an_unreadable_prometheus_a_sealed_vault_and_no_reports_fail(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    prometheus = cluster.answers("monitoring", "kps-prometheus")
    prometheus["api/v1/targets"]["data"]["activeTargets"].append(
        {"scrapePool": "podMonitor/monitoring/envoy-stats/0", "health": "down", "labels": {"namespace": "apps", "pod": "backend-1"}, "lastError": "connection refused"}
    )
    cluster.answers("vault", "vault")["v1/sys/seal-status"] = {"initialized": True, "sealed": True}
    cluster.reports = []

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        targets, vault, trivy = prometheus_targets(api, expected), vault_unsealed(api, expected), trivy_reports(api, expected)
        prometheus["api/v1/targets"] = (503, "Service Unavailable")
        unreadable = prometheus_targets(api, expected)
        cluster.slices["monitoring/kps-prometheus"][0]["endpoints"][0]["conditions"]["ready"] = False
        no_pod = prometheus_targets(api, expected)

    assert targets.failures == ["podMonitor/monitoring/envoy-stats/0: apps/backend-1 is down (connection refused)"]
    assert vault.failures == ["Vault vault/vault: sealed"]
    assert trivy.failures and "no VulnerabilityReport yet" in trivy.failures[0]
    assert unreadable.failures == ["Prometheus monitoring/kps-prometheus: its targets could not be read (ReadFailed: HTTP 503 from /api/v1/targets)"]
    assert no_pod.failures == ["Prometheus monitoring/kps-prometheus: its targets could not be read (ReadFailed: no ready pod behind Service monitoring/kps-prometheus:9090)"]


def test_on_aws_vault_is_read_over_https(rendered, local_objects, expected, pki, tmp_path):
    _, _, stack = rendered("aws")
    cluster = healthy(local_objects, expected)
    cluster.pod_tls[("vault", "vault-0", 8200)] = pki.issue(["vault.vault.svc"], tmp_path)
    over_tls = dataclasses.replace(expected, vault=expected_from(stack.objects).vault)

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        unsealed = vault_unsealed(api, over_tls)
        cluster.answers("vault", "vault")["v1/sys/seal-status"] = {"initialized": False, "sealed": True}
        uninitialised = vault_unsealed(api, over_tls)

    assert over_tls.vault == ("vault", "vault", 8200, True) and unsealed.failures == []
    assert uninitialised.failures == ["Vault vault/vault: not initialised (the bootstrap Job initialises it: kubectl -n vault logs job/vault-bootstrap)"]


def test_a_ui_that_does_not_answer_and_a_rule_group_not_loaded_fail(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    cluster.answers("istio-system", "kiali")["kiali/healthz"] = (503, "not ready")
    del cluster.pod_http[("argocd", "argocd-server-0", 8080)]  # nothing listens inside the pod
    groups = cluster.answers("monitoring", "kps-prometheus")["api/v1/rules"]["data"]["groups"]
    missing = groups.pop()["name"]

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        ui, rules = ui_health(api, expected), prometheus_rules(api, expected)

    assert ui.failures == [
        "Kiali (istio-system/kiali:20001/kiali/healthz): ReadFailed: HTTP 503",
        "Argo CD (argocd/argocd-server:80/healthz): ReadFailed: error forwarding port 8080 to pod argocd-server-0: connection refused",
    ]
    assert rules.failures == [f"rule group {missing}: not loaded (the operator has not picked up its PrometheusRule: check its labels and the operator's log)"]
    assert {what for what, *_ in expected.ui} == {"Grafana", "Loki", "Jaeger", "Kiali", "Argo CD"}


def test_a_gateway_certificate_not_from_the_platform_ca_or_not_for_the_host_fails(local_objects, expected, pki, tmp_path):
    with gateway_for(expected, Pki("someone else's CA"), tmp_path) as foreign:
        untrusted = gateway_https(None, dataclasses.replace(foreign, gateway=dataclasses.replace(foreign.gateway, ca_pem=pki.ca_pem)))
    with gateway_for(expected, pki, tmp_path, names=("localhost",)) as narrow:
        wrong_host = gateway_https(None, narrow)

    assert len(untrusted.failures) == 3 and all("certificate not trusted for" in f and "unable to get local issuer certificate" in f for f in untrusted.failures)
    assert len(wrong_host.failures) == 3 and all("Hostname mismatch" in f for f in wrong_host.failures)


def test_a_sample_app_that_does_not_answer_200_and_a_gateway_that_is_not_there_fail(local_objects, expected, pki, tmp_path):
    answers = gateway_answers(expected)
    answers[("app.localtest.me", "/api/data")] = 503
    answers[("argocd.localtest.me", "/")] = 502
    with gateway_for(expected, pki, tmp_path, answers=answers) as at_gateway:
        broken = gateway_https(None, at_gateway)
    gone = gateway_https(None, at_gateway)  # its server has stopped

    assert broken.failures == [
        f"https://argocd.localtest.me/ (at 127.0.0.1:{at_gateway.gateway.address[1]}): HTTP 502: the gateway has no healthy backend for the route",
        f"https://app.localtest.me/api/data (at 127.0.0.1:{at_gateway.gateway.address[1]}): HTTP 503, expected 200",
    ]
    assert len(gone.failures) == 3 and all("ConnectionRefusedError" in f for f in gone.failures)


def test_without_an_address_the_gateway_check_says_how_to_give_one(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    service = next(d for d in local_objects if d.kind == "Service" and d.name == "istio-ingressgateway")
    cluster.objects["/api/v1/namespaces/istio-ingress/services/istio-ingressgateway"] = service.obj
    balanced = {**service.obj, "spec": {**service.obj["spec"], "type": "LoadBalancer"}, "status": {"loadBalancer": {}}}

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        node_port = gateway_https(api, expected)
        cluster.objects["/api/v1/namespaces/istio-ingress/services/istio-ingressgateway"] = balanced
        pending = gateway_https(api, expected)

    assert node_port.failures == ["Service istio-ingress/istio-ingressgateway is a NodePort: pass --gateway-address HOST:PORT "
                                  "(kind maps it to localhost:<cluster.ingress.httpsHostPort>)"]
    assert pending.failures == ["Service istio-ingress/istio-ingressgateway: its load balancer has no address yet"]


def test_a_falco_pod_without_the_platform_rules_unreadable_or_absent_fails(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    labels = cluster.pods[0]["metadata"]["labels"]
    cluster.pods.append(falco_pod("falco-q9w3e", labels))
    cluster.pod_http[("falco", "falco-q9w3e", 8765)] = {"metrics": "\n".join(line for line in FALCO_METRICS.splitlines() if "platform-rules" not in line)}
    cluster.pods.append(falco_pod("falco-r4t5y", labels))  # its metrics do not answer

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        partial = falco_rules(api, expected)
        cluster.pods = [falco_pod("falco-x7k2p", labels, phase="Pending")]
        none = falco_rules(api, expected)

    assert partial.checked == 3 and partial.failures[0] == (
        "Falco pod falco/falco-q9w3e: not loaded: platform-rules.yaml (loaded: falco_rules.yaml; kubectl -n falco logs falco-q9w3e -c falco)"
    )
    assert partial.failures[1] == ("Falco pod falco/falco-r4t5y: its metrics could not be read "
                                   "(ReadFailed: error forwarding port 8765 to pod falco-r4t5y: connection refused)")
    assert none.failures == ["no Falco pod is running in falco (kubectl -n falco get pods)"]


def test_vault_of_unknown_listener_is_read_over_tls_or_else_plain_http(local_objects, expected, pki, tmp_path):
    cluster = healthy(local_objects, expected)
    unknown = dataclasses.replace(expected, vault=("vault", "vault", 8200, None))

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        plain = vault_unsealed(api, unknown)
        cluster.stop()  # the pod's listener restarts with TLS
        cluster.pod_tls[("vault", "vault-0", 8200)] = pki.issue(["vault.vault.svc"], tmp_path)
        cluster.answers("vault", "vault")["v1/sys/seal-status"] = {"initialized": True, "sealed": True}
        over_tls = vault_unsealed(api, unknown)

    assert plain.failures == [] and over_tls.failures == ["Vault vault/vault: sealed"]
