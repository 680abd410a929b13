"""render.engine.cluster: what each environment's cluster runs before the program, each entry saying who provides it."""

from __future__ import annotations

import pytest

from render.engine.cluster import BUILTIN_NAMESPACES, CLUSTER_PODS, CLUSTER_SERVICES, OPERATOR_POD_PORTS, operator_services


@pytest.mark.parametrize("environment", ["local", "aws"])
def test_every_environment_has_dns_and_the_api_server_and_says_who_runs_them(environment):
    assert {"default", "kube-system"} <= BUILTIN_NAMESPACES[environment]
    services = {(s.namespace, s.name) for s in CLUSTER_SERVICES[environment]}
    assert {("default", "kubernetes"), ("kube-system", "kube-dns")} <= services
    assert all(p.who and p.namespace in BUILTIN_NAMESPACES[environment] for p in CLUSTER_PODS[environment])


def test_only_kind_shows_its_control_plane_and_storage_provisioner():
    local = {p.labels.get("component") for p in CLUSTER_PODS["local"]}
    assert {"etcd", "kube-apiserver"} <= local
    assert not {"etcd", "kube-apiserver"} & {p.labels.get("component") for p in CLUSTER_PODS["aws"]}
    assert "local-path-storage" in BUILTIN_NAMESPACES["local"] and "local-path-storage" not in BUILTIN_NAMESPACES["aws"]


def test_the_prometheus_operator_makes_the_kubelet_service_its_flag_names():
    [service] = operator_services(["--log-level=info", "--kubelet-service=kube-system/kps-kubelet"])

    assert (service.namespace, service.name) == ("kube-system", "kps-kubelet")
    assert "https-metrics" in service.ports and service.who == "the Prometheus operator"
    assert OPERATOR_POD_PORTS["Prometheus"]["web"] == 9090
