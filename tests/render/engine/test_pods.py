"""render.engine.pods: the pods a stack runs — each workload's group, operator-made pods, the cluster's own."""

from __future__ import annotations

from render.engine.deployed import Deployed
from render.engine.pods import MESH_ROOT_NAMESPACE, cluster_services, pod_groups, watched_namespaces

DEPLOYMENT = Deployed({
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "apps"},
    "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"serviceAccountName": "api", "containers": [{"name": "c"}]}}},
}, "urn:api", "program")
PROMETHEUS = Deployed({
    "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "metadata": {"name": "kps", "namespace": "monitoring"},
    "spec": {"replicas": 1, "serviceAccountName": "kps-prometheus", "podMetadata": {"labels": {"team": "platform"}}},
}, "urn:kps", "chart")


def test_a_workloads_pods_carry_its_template_labels_account_and_count():
    groups = pod_groups([DEPLOYMENT], environment="aws")

    [api] = [g for g in groups if g.owner is DEPLOYMENT]
    assert (api.namespace, dict(api.labels), api.service_account, api.replicas) == ("apps", {"app": "api"}, "api", 2)
    assert any(g.owner.origin == "cluster" and g.labels.get("k8s-app") == "kube-dns" for g in groups)


def test_the_operator_runs_prometheus_pods_with_its_own_labels():
    [prometheus] = [g for g in pod_groups([PROMETHEUS]) if g.owner is PROMETHEUS]

    assert prometheus.labels["app.kubernetes.io/name"] == "prometheus" and prometheus.labels["team"] == "platform"
    assert prometheus.service_account == "kps-prometheus"


def test_dropped_hooks_run_no_pods():
    hook = Deployed(DEPLOYMENT.obj, "urn:hook", "dropped-hook")

    assert [g for g in pod_groups([hook]) if g.owner is hook] == []


def test_a_service_monitor_watches_its_own_namespace_unless_it_says_otherwise():
    monitor = Deployed({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "m", "namespace": "apps"}, "spec": {}}, "", "chart")
    anywhere = Deployed({**monitor.obj, "spec": {"namespaceSelector": {"any": True}}}, "", "chart")

    assert watched_namespaces(monitor, ["apps", "shop"]) == ["apps"]
    assert watched_namespaces(anywhere, ["apps", "shop"]) == ["apps", "shop"]
    assert MESH_ROOT_NAMESPACE == "istio-system"


def test_the_cluster_and_the_operator_make_services_as_objects():
    operator = Deployed({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "op", "namespace": "monitoring"},
        "spec": {"template": {"spec": {"containers": [{"name": "op", "args": ["--kubelet-service=kube-system/kps-kubelet"]}]}}},
    }, "urn:op", "chart")

    names = {(s.namespace, s.name) for s in cluster_services([operator], "local")}

    assert {("default", "kubernetes"), ("kube-system", "kube-dns"), ("kube-system", "kps-kubelet")} <= names
