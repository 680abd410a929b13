"""`make verify`: every check through the real Kubernetes client against a local API server,
with cluster states built from the offline render's own objects (ready and broken variants)."""

from __future__ import annotations

import json
import socket

import pytest
from kubernetes import config

from fake_api import Cluster, serving
from verify.checks import (
    CHECKS,
    crds_established,
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
    return expected_from(local_objects)


def healthy(objects, expected) -> Cluster:
    """The local stack as it runs when everything works."""
    cluster = Cluster()
    wanted = set(expected.workloads)
    for d in objects:
        if (d.kind, d.namespace, d.name) in wanted:
            cluster.workload(d.obj)
        elif d.kind == "CustomResourceDefinition" and d.name in expected.crds:
            cluster.crd(d.obj)
    for _, namespace, service in expected.webhook_services:
        cluster.endpoints(namespace, service)
    cluster.proxied["monitoring/kps-prometheus:9090/api/v1/targets"] = {"status": "success", "data": {"activeTargets": [
        {"scrapePool": "serviceMonitor/monitoring/istiod/0", "health": "up", "labels": {"namespace": "istio-system", "pod": "istiod-1"}},
    ]}}
    cluster.proxied["vault/vault:8200/v1/sys/seal-status"] = {"initialized": True, "sealed": False, "type": "shamir"}
    cluster.reports = [{"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReport", "metadata": {"name": "r", "namespace": "apps"}}]
    for _, namespace, service, port, path in expected.ui:
        cluster.proxied[f"{namespace}/{service}:{port}/{path}"] = {"status": "ok"}
    cluster.proxied["monitoring/kps-prometheus:9090/api/v1/rules"] = {"status": "success", "data": {"groups": [{"name": g} for g in expected.rule_groups]}}
    return cluster


def client_for(kubeconfig):
    return config.new_client_from_config(config_file=str(kubeconfig))


def test_the_render_says_what_to_look_for(expected):
    assert ("Deployment", "istio-system", "istiod") in expected.workloads
    assert ("DaemonSet", "kube-system", "istio-cni-node") in expected.workloads
    assert "secretproviderclasses.secrets-store.csi.x-k8s.io" in expected.crds
    assert any(service == "gatekeeper-webhook-service" for _, _, service in expected.webhook_services)


def test_a_healthy_cluster_passes_every_check(local_objects, expected, tmp_path):
    with serving(healthy(local_objects, expected), tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        results = [check(api, expected) for _, check, _ in CHECKS]

    assert [r.failures for r in results] == [[]] * len(CHECKS)
    assert all(r.checked > 0 for r in results)


def test_a_deployment_below_its_replicas_and_a_missing_daemonset_fail(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    istiod = next(d for d in local_objects if d.kind == "Deployment" and d.name == "istiod")
    cluster.workload(istiod.obj, ready=0)
    del cluster.objects["/apis/apps/v1/namespaces/kube-system/daemonsets/istio-cni-node"]

    with serving(cluster, tmp_path) as kubeconfig:
        result = workloads_ready(client_for(kubeconfig), expected)

    assert sorted(result.failures) == ["DaemonSet kube-system/istio-cni-node: not found", "Deployment istio-system/istiod: 0/1 replicas ready"]


def test_a_crd_not_established_fails(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    crd = next(d for d in local_objects if d.kind == "CustomResourceDefinition" and d.name.startswith("secretproviderclasses."))
    cluster.crd(crd.obj, established=False)

    with serving(cluster, tmp_path) as kubeconfig:
        result = crds_established(client_for(kubeconfig), expected)

    assert result.failures == ["CRD secretproviderclasses.secrets-store.csi.x-k8s.io: not Established (False)"]


def test_a_webhook_without_a_ready_endpoint_fails(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    cluster.endpoints("gatekeeper-system", "gatekeeper-webhook-service", ready=False)

    with serving(cluster, tmp_path) as kubeconfig:
        result = webhook_endpoints(client_for(kubeconfig), expected)

    assert result.failures and all("gatekeeper-system/gatekeeper-webhook-service has no ready endpoint" in f for f in result.failures)


def test_the_command_exits_0_or_1_and_speaks_json(local_objects, expected, tmp_path, capsys):
    cluster = healthy(local_objects, expected)
    with serving(cluster, tmp_path) as kubeconfig:
        assert main(["local", "--kubeconfig", str(kubeconfig), "--json"], expected=expected) == 0
        report = json.loads(capsys.readouterr().out)
        cluster.endpoints("gatekeeper-system", "gatekeeper-webhook-service", ready=False)
        assert main(["local", "--kubeconfig", str(kubeconfig)], expected=expected) == 1
        text = capsys.readouterr().out

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

    assert enforced.failures == [] and enforced.checked == 3
    assert open_door.failures == ["verify-privileged: a privileged pod was admitted in apps", "verify-latest: a latest pod was admitted in apps"]


def test_a_down_target_an_unreadable_prometheus_a_sealed_vault_and_no_reports_fail(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    cluster.proxied["monitoring/kps-prometheus:9090/api/v1/targets"]["data"]["activeTargets"].append(
        {"scrapePool": "podMonitor/monitoring/envoy-stats/0", "health": "down", "labels": {"namespace": "apps", "pod": "backend-1"}, "lastError": "connection refused"}
    )
    cluster.proxied["vault/vault:8200/v1/sys/seal-status"] = {"initialized": True, "sealed": True}
    cluster.reports = []

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        targets, vault, trivy = prometheus_targets(api, expected), vault_unsealed(api, expected), trivy_reports(api, expected)
        del cluster.proxied["monitoring/kps-prometheus:9090/api/v1/targets"]
        unreadable = prometheus_targets(api, expected)

    assert targets.failures == ["podMonitor/monitoring/envoy-stats/0: apps/backend-1 is down (connection refused)"]
    assert vault.failures == ["Vault vault/vault: sealed"]
    assert trivy.failures and "no VulnerabilityReport yet" in trivy.failures[0]
    assert unreadable.failures and "its targets could not be read" in unreadable.failures[0]


def test_on_aws_vault_is_read_over_https(rendered):
    _, _, stack = rendered("aws")

    assert expected_from(stack.objects).vault == ("vault", "vault", 8200, True)


def test_a_ui_that_does_not_answer_and_a_rule_group_not_loaded_fail(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    del cluster.proxied["istio-system/kiali:20001/kiali/healthz"]
    groups = cluster.proxied["monitoring/kps-prometheus:9090/api/v1/rules"]["data"]["groups"]
    missing = groups.pop()["name"]

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        ui, rules = ui_health(api, expected), prometheus_rules(api, expected)

    assert [f.split(":")[0] for f in ui.failures] == ["Kiali (istio-system/kiali"] and "HTTP 503" in ui.failures[0]
    assert rules.failures == [f"rule group {missing}: not loaded (the operator has not picked up its PrometheusRule: check its labels and the operator's log)"]
    assert {what for what, *_ in expected.ui} == {"Grafana", "Loki", "Jaeger", "Kiali", "Argo CD"}


def test_the_footprint_sets_what_runs_beside_the_estimate(local_objects, expected, tmp_path):
    from verify.checks import Expected, footprint_line, measure_footprint

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

    assert expected_for("local").estimate == (data["footprint"]["cpu_millicores"], data["footprint"]["memory_mib"])
