"""`make verify`: every check through the real Kubernetes client against a local API server,
with cluster states built from the offline render's own objects (ready and broken variants)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
from contextlib import contextmanager

import pytest
from kubernetes import config

from fake_api import Cluster, Pki, serving, serving_gateway
from render.engine.charts import ChartsUnavailable
from verify.checks import (
    CHECKS,
    crds_established,
    falco_rules,
    gateway_https,
    mesh_mtls,
    policy_denies,
    prometheus_rules,
    prometheus_targets,
    trivy_reports,
    ui_health,
    vault_unsealed,
    webhook_endpoints,
    workloads_ready,
)
from verify.cli import main
from verify.expected import expected_from


@pytest.fixture(scope="module")
def local_objects(rendered):
    _, _, stack = rendered("local")
    return stack.objects


@pytest.fixture(scope="module")
def expected(local_objects):
    return expected_from(local_objects, sample_host="app.localtest.me")


@pytest.fixture(scope="module")
def pki():
    return Pki()


FALCO_METRICS = """# HELP falcosecurity_falco_version_info https://falco.org/docs/metrics/
# TYPE falcosecurity_falco_version_info gauge
falcosecurity_falco_version_info{version="0.44.1"} 1
# TYPE falcosecurity_falco_sha256_rules_files_info gauge
falcosecurity_falco_sha256_rules_files_info{file_name="falco_rules.yaml",sha256="58a4f1"} 1
falcosecurity_falco_sha256_rules_files_info{sha256="6f0078",file_name="platform-rules.yaml"} 1
"""


def _falco_pod(name, labels, phase="Running"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "falco", "labels": dict(labels)}, "status": {"phase": phase},
            "spec": {"containers": [{"name": "falco", "image": "docker.io/falcosecurity/falco:0.44.1"}]}}


def healthy(objects, expected) -> Cluster:
    """The local stack as it runs when everything works."""
    cluster = Cluster()
    wanted = set(expected.workloads)
    for d in objects:
        if (d.kind, d.namespace, d.name) in wanted:
            cluster.workload(d.obj)
        elif d.kind == "CustomResourceDefinition" and d.name in expected.crds:
            cluster.crd(d.obj)
    for d in objects:
        if (d.kind, d.name) in expected.webhooks:
            cluster.objects[f"/apis/admissionregistration.k8s.io/v1/{d.kind.lower()}s/{d.name}"] = d.obj
            for webhook in d.obj.get("webhooks") or []:
                service = (webhook.get("clientConfig") or {}).get("service")
                if service:
                    cluster.endpoints(service["namespace"], service["name"])
    services = {(d.namespace, d.name): d.obj for d in objects if d.kind == "Service"}
    cluster.service(services[("monitoring", "kps-prometheus")], {
        "api/v1/targets": {"status": "success", "data": {"activeTargets": [
            {"scrapePool": "serviceMonitor/monitoring/istiod/0", "health": "up", "labels": {"namespace": "istio-system", "pod": "istiod-1"}},
        ]}},
        "api/v1/rules": {"status": "success", "data": {"groups": [{"name": g} for g in expected.rule_groups]}},
    })
    cluster.service(services[("vault", "vault")], {"v1/sys/seal-status": {"initialized": True, "sealed": False, "type": "shamir"}})
    cluster.pod_security = {expected.app_namespace: expected.app_pod_security}
    cluster.reports = [{"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReport", "metadata": {"name": "r", "namespace": "apps"}}]
    for _, namespace, service, _, path in expected.ui:
        cluster.service(services[(namespace, service)], {path: {"status": "ok"}})
    falco_labels = dict(term.split("=") for term in expected.falco.selector.split(","))
    cluster.pods = [_falco_pod("falco-x7k2p", falco_labels)]
    cluster.pod_http[("falco", "falco-x7k2p", 8765)] = {"metrics": FALCO_METRICS}
    return cluster


def gateway_answers(expected):
    """What a working gateway answers: each routed host's first path, and the sample's data."""
    answers = {(host, path): 200 for host, path in zip(expected.gateway.hosts, expected.gateway.paths, strict=True)}
    answers[expected.gateway.sample] = 200
    return answers


@contextmanager
def gateway_for(expected, pki, tmp_path, answers=None, names=("localhost", "*.localtest.me")):
    """A gateway serving `answers` with a certificate from `pki`; yields `expected` pointing at it and trusting the platform CA."""
    cert, key = pki.issue(list(names), tmp_path)
    with serving_gateway(gateway_answers(expected) if answers is None else answers, cert, key) as address:
        yield dataclasses.replace(expected, gateway=dataclasses.replace(expected.gateway, address=address, ca_pem=pki.ca_pem))


def client_for(kubeconfig):
    return config.new_client_from_config(config_file=str(kubeconfig))


def test_the_render_says_what_to_look_for(expected):
    assert ("Deployment", "istio-system", "istiod") in expected.workloads
    assert ("DaemonSet", "kube-system", "istio-cni-node") in expected.workloads
    assert "secretproviderclasses.secrets-store.csi.x-k8s.io" in expected.crds
    assert ("ValidatingWebhookConfiguration", "gatekeeper-validating-webhook-configuration") in expected.webhooks


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


def test_the_command_exits_0_or_1_and_speaks_json(local_objects, expected, pki, tmp_path, capsys):
    cluster = healthy(local_objects, expected)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(pki.ca_pem)
    with serving(cluster, tmp_path) as kubeconfig, gateway_for(expected, pki, tmp_path) as at_gateway:
        address = "{}:{}".format(*at_gateway.gateway.address)
        arguments = ["--kubeconfig", str(kubeconfig), "--ca-file", str(ca_file), "--gateway-address", address]
        assert main(["local", *arguments, "--json"], expected=expected) == 0
        report = json.loads(capsys.readouterr().out)
        cluster.endpoints("gatekeeper-system", "gatekeeper-webhook-service", ready=False)
        assert main(["local", *arguments], expected=expected) == 1
        text = capsys.readouterr().out
        ca_file.write_text("not a certificate")
        assert main(["local", *arguments], expected=expected) == 2
        bad_ca = capsys.readouterr().err.strip().splitlines()

    assert len(bad_ca) == 1 and f"error: the platform CA ({ca_file}) is not a readable PEM certificate" in bad_ca[0]
    assert report["passed"] is True and [c["check"] for c in report["checks"]] == [name for name, _, _ in CHECKS]
    assert "FAIL  webhook-endpoints" in text and "webhook-endpoints    FAIL" in text


def test_against_nothing_it_fails_with_one_line_naming_where_it_looked(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        f"clusters: [{{name: gone, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: gone, context: {cluster: gone, user: u}}]\n"
    )

    assert main(["local", "--kubeconfig", str(kubeconfig)]) == 2
    err = capsys.readouterr().err.strip().splitlines()

    assert len(err) == 1 and f"no cluster answers at http://127.0.0.1:{port}" in err[0] and str(kubeconfig) in err[0]


def test_help_documents_every_check(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out

    assert all(name in out for name, _, _ in CHECKS)


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


def test_the_footprint_sets_what_runs_beside_the_estimate(local_objects, expected, tmp_path):
    from verify.footprint import footprint_line, measure_footprint
    from verify.model import Expected

    cluster = healthy(local_objects, expected)
    cluster.pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "apps"}, "status": {"phase": "Running"},
                     "spec": {"containers": [{"name": "c", "image": "x:1", "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}}}]}}
                    for i in range(2)]
    cluster.pod_metrics = [{"metadata": {"name": "p0", "namespace": "apps"}, "containers": [{"name": "c", "usage": {"cpu": "12500000n", "memory": "64Mi"}}]}]
    with_estimate = Expected(estimate=(1580, 4024))

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        report = measure_footprint(api, with_estimate)
        cluster.pod_metrics = None
        without_metrics = measure_footprint(api, with_estimate)

    assert report == {"scheduled": {"cpu_millicores": 500, "memory_mib": 256}, "estimate": {"cpu_millicores": 1580, "memory_mib": 4024},
                      "used": {"cpu_millicores": 12, "memory_mib": 64}}
    assert "500m CPU / 256 MiB requested by running pods (render's estimate 1580m / 4024 MiB); in use 12m / 64 MiB" in footprint_line(report)
    assert without_metrics["used"] is None and "HTTP 404" in footprint_line(without_metrics)


def test_the_estimate_is_the_renders_footprint(rendered):
    from verify.expected import expected_for

    _, data, _ = rendered("local")

    local = expected_for("local")

    assert local.estimate == (data["footprint"]["cpu_millicores"], data["footprint"]["memory_mib"])
    assert local.gateway.address == ("localhost", 8443) and local.gateway.sample == ("app.localtest.me", "/api/data")


def test_the_render_says_where_to_probe_the_mesh_the_gateway_and_falco(expected):
    # istio-ingress is the first namespace without injection whose NetworkPolicies let a pod
    # reach the apps' pods: only their sidecars can refuse the plaintext call there.
    assert expected.plaintext_probes == {"istio-ingress": [("apps", "backend", 80), ("apps", "frontend", 80)]}
    assert (expected.gateway.namespace, expected.gateway.service) == ("istio-ingress", "istio-ingressgateway")
    assert expected.gateway.hosts == ["app.localtest.me", "argocd.localtest.me"] and expected.gateway.sample == ("app.localtest.me", "/api/data")
    assert expected.falco.rules_files == ["falco_rules.yaml", "platform-rules.yaml"] and expected.falco.port == 8765


def test_plaintext_that_is_answered_or_lost_fails_and_the_probe_pod_is_always_deleted(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    cluster.plaintext = {"backend.apps.svc.cluster.local:80": (0, "200"), "frontend.apps.svc.cluster.local:80": (28, "000")}

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        leaky = mesh_mtls(api, expected)
        cluster.probe_phase = "Pending"
        stuck = mesh_mtls(api, dataclasses.replace(expected, probe_timeout=0))

    assert leaky.failures == [
        "apps/backend:80: answered HTTP 200 to a plaintext request from istio-ingress: mTLS is not STRICT for it",
        "apps/frontend:80: inconclusive, curl exit 28 (no answer within 5 s: something dropped the request before the sidecar (a NetworkPolicy?))",
    ]
    assert stuck.failures == ["the plaintext probe pod in istio-ingress did not run: ProbeFailed: still Pending after 0 s (ImagePullBackOff)"]
    assert cluster.created == {} and len(cluster.deleted) == 2 and all(key.startswith("istio-ingress/verify-mtls-") for key in cluster.deleted)


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
    cluster.pods.append(_falco_pod("falco-q9w3e", labels))
    cluster.pod_http[("falco", "falco-q9w3e", 8765)] = {"metrics": "\n".join(line for line in FALCO_METRICS.splitlines() if "platform-rules" not in line)}
    cluster.pods.append(_falco_pod("falco-r4t5y", labels))  # its metrics do not answer

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        partial = falco_rules(api, expected)
        cluster.pods = [_falco_pod("falco-x7k2p", labels, phase="Pending")]
        none = falco_rules(api, expected)

    assert partial.checked == 3 and partial.failures[0] == (
        "Falco pod falco/falco-q9w3e: not loaded: platform-rules.yaml (loaded: falco_rules.yaml; kubectl -n falco logs falco-q9w3e -c falco)"
    )
    assert partial.failures[1] == ("Falco pod falco/falco-r4t5y: its metrics could not be read "
                                   "(ReadFailed: error forwarding port 8765 to pod falco-r4t5y: connection refused)")
    assert none.failures == ["no Falco pod is running in falco (kubectl -n falco get pods)"]


def test_the_probe_goes_where_the_network_policies_let_it_reach_the_sidecar(local_objects):
    from render.checks.network import plaintext_probes
    from verify.probes import PROBE_LABELS

    without_gateway_rule = [d for d in local_objects if not (d.kind == "NetworkPolicy" and d.namespace == "apps" and d.name == "allow-ingress-gateway")]
    without_apps = [d for d in local_objects if d.namespace != "apps" or d.kind not in ("Deployment", "Rollout")]

    # The backend admits only monitoring and its callers now; the exposed frontend still admits the gateway's namespace.
    assert plaintext_probes(without_gateway_rule, PROBE_LABELS) == {"istio-ingress": [("apps", "frontend", 80)], "monitoring": [("apps", "backend", 80)]}
    assert plaintext_probes(without_apps, PROBE_LABELS) == {}  # no pods behind the Services: nothing to probe


def test_with_wait_failing_checks_are_retried_until_they_pass_or_time_is_up(local_objects, expected, tmp_path, capsys):
    import threading

    from verify.cli import run_checks

    cluster = healthy(local_objects, expected)
    reports, cluster.reports = cluster.reports, []
    no_gateway = dataclasses.replace(expected, gateway=None)
    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        never = run_checks(api, no_gateway, wait=0.3, interval=0.1)
        threading.Timer(0.3, lambda: setattr(cluster, "reports", reports)).start()  # Trivy's first report arrives
        converged = run_checks(api, no_gateway, wait=10, interval=0.1)
    out = capsys.readouterr().out

    assert [r.name for r in never if not r.passed] == ["trivy-reports"] and all(r.passed for r in converged)
    assert re.search(r"waiting \d+ s for trivy-reports \(\d+ s left of --wait\)", out) and out.count("FAIL  trivy-reports") >= 3 and "PASS  trivy-reports" in out
    with pytest.raises(SystemExit):
        main(["local", "--wait", "-5"])
    assert "--wait: '-5': expected a number of seconds, 0 or more" in capsys.readouterr().err


def state_export(objects):
    """A `pulumi stack export` of a stack that deployed `objects`: each a resource under its
    Chart or ConfigGroup (or the stack), a v3 Release's objects only as its `resourceNames`."""
    stack = "urn:pulumi:local::gitops-platform::pulumi:pulumi:Stack::gitops-platform-local"
    resources = [{"urn": stack, "type": "pulumi:pulumi:Stack", "custom": False},
                 {"urn": f"{stack}$random:index/randomPassword:RandomPassword::p", "type": "random:index/randomPassword:RandomPassword", "custom": True,
                  "parent": stack, "outputs": {"result": "x"}},
                 {"urn": f"{stack}$kubernetes:core/v1:ConfigMap::gone", "type": "kubernetes:core/v1:ConfigMap", "custom": True, "delete": True,
                  "parent": stack, "outputs": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone", "namespace": "apps"}}}]
    releases: dict[str, dict] = {}
    for i, d in enumerate(objects):
        group, _, version = d.obj["apiVersion"].rpartition("/")
        if d.origin == "release":
            names = [o.namespace for o in objects if o.origin == "release" and o.release == d.release]
            release = releases.setdefault(d.release, {
                "urn": f"{stack}$kubernetes:helm.sh/v3:Release::{d.release}", "type": "kubernetes:helm.sh/v3:Release", "custom": True, "parent": stack,
                "outputs": {"namespace": max(set(names), key=names.count), "resourceNames": {}},
            })
            key = f"{d.kind}{'.' + group if group else ''}/{d.obj['apiVersion']}"
            short = d.name if d.namespace in ("", release["outputs"]["namespace"]) else f"{d.namespace}/{d.name}"
            release["outputs"]["resourceNames"].setdefault(key, []).append(short)
            continue
        if d.origin not in ("program", "chart", "crds", "config-group"):
            continue  # hooks: never resources of the state
        parent = stack
        if d.origin in ("chart", "crds"):
            parent = f"{stack}$kubernetes:helm.sh/v4:Chart::{d.release}"
            resources.append({"urn": parent, "type": "kubernetes:helm.sh/v4:Chart", "custom": False, "parent": stack})
        elif d.origin == "config-group":
            parent = f"{stack}$kubernetes:yaml/v2:ConfigGroup::crds"
            resources.append({"urn": parent, "type": "kubernetes:yaml/v2:ConfigGroup", "custom": False, "parent": stack})
        resources.append({"urn": f"{parent}$kubernetes:{group or 'core'}/{version}:{d.kind}::{i}", "type": f"kubernetes:{group or 'core'}/{version}:{d.kind}",
                          "custom": True, "parent": parent, "outputs": {**d.obj, "__inputs": {"kind": d.kind}}})
    return {"version": 3, "deployment": {"resources": resources + list(releases.values())}}


def test_without_the_pinned_charts_the_stacks_state_says_the_same(local_objects, expected, monkeypatch, tmp_path):
    from verify.expected import expected_for, objects_from_state

    from_state = expected_from(objects_from_state(state_export(local_objects)), sample_host="app.localtest.me")

    # Everything but Vault's listener: its config is a v3 Release's, whose objects the state knows by name only; the check then tries TLS first.
    assert from_state == dataclasses.replace(expected, vault=("vault", "vault", 8200, None))
    assert ("StatefulSet", "vault", "vault") in from_state.workloads
    # expected_for falls back to the state through the Pulumi CLI, and says what it tried when that fails.
    def no_charts():
        raise ChartsUnavailable("none of the pinned charts are in the chart cache")

    monkeypatch.setattr("render.engine.charts.available", no_charts)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"needs the pinned charts \(`make charts`\), or from its state: `pulumi stack export -s local` failed \(the Pulumi CLI is not installed\)"):
        expected_for("local")
    (tmp_path / "export.json").write_text(json.dumps(state_export(local_objects)))
    cat = shutil.which("cat", path=os.defpath)
    pulumi = tmp_path / "pulumi"
    pulumi.write_text(f'#!/bin/sh\n[ "$1 $2 $4" = "stack export local" ] && exec {cat} {tmp_path / "export.json"}\nexit 1\n')
    pulumi.chmod(0o755)
    through_cli = expected_for("local")
    assert dataclasses.replace(through_cli, estimate=None, gateway=dataclasses.replace(through_cli.gateway, address=None)) == from_state
    assert through_cli.gateway.address == ("localhost", 8443) and through_cli.estimate is not None


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
