"""render.checks.consistency: things that must match each other: each rule catches one planted defect; the shipped stacks pass."""

from __future__ import annotations

import pytest

from render.checks.consistency import consistency_report
from render.engine.deployed import Deployed


def obj(kind: str, name: str, namespace: str = "apps", api_version: str = "v1", **fields) -> Deployed:
    return Deployed({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace, "labels": fields.pop("labels", {})}, **fields}, f"urn:{name}", "program")


def deployment(name: str = "api", labels=None, replicas: int = 2, account: str = "api", **container) -> Deployed:
    labels = labels or {"app": name, "version": "1"}
    spec = {"serviceAccountName": account, "containers": [{"name": name, "ports": [{"name": "http", "containerPort": 8080}], **container}]}
    return obj("Deployment", name, api_version="apps/v1", spec={"replicas": replicas, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": spec}})


BASE = [obj("Namespace", "apps", namespace=""), obj("ServiceAccount", "api"), deployment()]


def errors(*extra: Deployed) -> list[str]:
    return [f"{e['check']}: {e['message']}" for e in consistency_report([*BASE, *extra])["errors"]]


def test_a_service_selecting_no_pods_is_an_error():
    assert errors(obj("Service", "api", spec={"selector": {"app": "apy"}, "ports": [{"port": 80}]})) == [
        "services: selector {'app': 'apy'} selects no pods in apps: match the labels of the workload it fronts"
    ]


def test_a_destination_rule_subset_selecting_no_pods_is_an_error():
    service = obj("Service", "api", spec={"selector": {"app": "api"}, "ports": [{"port": 80}]})
    rule = obj("DestinationRule", "api", api_version="networking.istio.io/v1", spec={"host": "api", "subsets": [{"name": "canary", "labels": {"version": "2"}}]})

    [error] = errors(service, rule)

    assert error.startswith("subsets: subset canary ({'version': '2'}) selects no pods of apps/api")


def test_an_authorization_principal_must_run_somewhere():
    policy = obj("AuthorizationPolicy", "allow", api_version="security.istio.io/v1",
                 spec={"rules": [{"from": [{"source": {"principals": ["cluster.local/ns/apps/sa/web", "cluster.local/ns/apps/sa/api"]}}]}]})

    assert errors(policy) == ["principals: principal cluster.local/ns/apps/sa/web names ServiceAccount apps/web, which does not exist"]


def test_an_autoscaler_target_must_exist():
    hpa = obj("HorizontalPodAutoscaler", "web", api_version="autoscaling/v2", spec={"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 2})

    assert errors(hpa) == ["targets: targets Deployment apps/web, which the stack does not create"]


def test_a_probe_on_an_undeclared_port_name_is_an_error():
    probed = deployment("probed", readinessProbe={"httpGet": {"path": "/ready", "port": "metrics"}})

    assert errors(probed) == ["probes: container probed readinessProbe uses port 'metrics', which the container does not declare: name a declared port"]


def test_a_service_monitor_must_select_a_service_port_and_be_selected():
    service = obj("Service", "api", labels={"app": "api"}, spec={"selector": {"app": "api"}, "ports": [{"name": "http", "port": 80}]})
    monitor = obj("ServiceMonitor", "api", api_version="monitoring.coreos.com/v1", spec={"selector": {"matchLabels": {"app": "api"}}, "endpoints": [{"port": "metrics"}]})
    prometheus = obj("Prometheus", "main", namespace="monitoring", api_version="monitoring.coreos.com/v1", spec={"serviceMonitorSelector": {"matchLabels": {"release": "x"}}})

    assert errors(service, monitor, prometheus) == [
        "monitors: endpoint port 'metrics' is not a port name of the Services it selects",
        "monitors: no Prometheus selects it (its serviceMonitorSelector / podMonitorSelector and namespace selector)",
    ]


def test_a_disruption_budget_that_blocks_every_eviction_is_an_error():
    pdb = obj("PodDisruptionBudget", "api", api_version="policy/v1", spec={"minAvailable": 2, "selector": {"matchLabels": {"app": "api"}}})

    assert errors(pdb) == ["disruption: allows no voluntary eviction at 2 replica(s): node drains and upgrades block; lower minAvailable or run more replicas"]


def test_cluster_run_pods_back_the_services_that_select_them():
    dns = obj("Service", "kps-coredns", namespace="kube-system", spec={"selector": {"k8s-app": "kube-dns"}, "ports": [{"port": 9153}]})
    etcd = obj("Service", "kps-kube-etcd", namespace="kube-system", spec={"selector": {"component": "etcd"}, "ports": [{"port": 2381}]})

    assert consistency_report([*BASE, dns, etcd], environment="local")["errors"] == []
    # EKS runs etcd out of the cluster's reach: nothing backs that Service there.
    assert [e["object"] for e in consistency_report([*BASE, dns, etcd], environment="aws")["errors"]] == ["Service kube-system/kps-kube-etcd"]


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_the_stacks_are_consistent(rendered, stack):
    _, data, _ = rendered(stack)

    assert data["consistency"]["errors"] == []
