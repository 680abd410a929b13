"""render.checks.scheduling: the scheduler on the stack's own nodes: each rule catches one planted defect; the shipped stacks pass."""

from __future__ import annotations

import pytest

from components.config import parse_config
from helpers import AWS_MINIMAL
from render.checks.scheduling import cluster_shape, eks_allocatable, scheduling_report
from render.engine.deployed import Deployed

LOCAL = parse_config({"environment": "local"})
AWS = parse_config(AWS_MINIMAL)


def workload(kind: str = "Deployment", replicas: int = 2, **spec) -> Deployed:
    labels = {"app": "api"}
    spec.setdefault("containers", [{"name": "api", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}])
    return Deployed({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "api", "namespace": "apps"},
                     "spec": {"replicas": replicas, "template": {"metadata": {"labels": labels}, "spec": spec}}}, "urn:api", "program")


def messages(config, *objects):
    return [f"{e['check']}: {e['message']}" for e in scheduling_report(list(objects), config)["errors"]]


def test_a_node_selector_no_node_carries_is_an_error():
    [error] = messages(LOCAL, workload(nodeSelector={"node.kubernetes.io/instance-type": "m6i.large"}))

    assert error.startswith("placement: no node matches its nodeSelector")


def test_a_tainted_control_plane_needs_a_toleration():
    with_worker = parse_config({"environment": "local", "cluster": {"workers": 1}})
    pinned = {"nodeSelector": {"node-role.kubernetes.io/control-plane": ""}}

    assert messages(LOCAL, workload(**pinned)) == []  # kind untaints a lone control plane
    assert len(messages(with_worker, workload(**pinned))) == 1
    tolerated = workload(tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}], **pinned)
    assert messages(with_worker, tolerated) == []


def test_required_anti_affinity_needs_a_node_per_replica():
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "api"}}, "topologyKey": "kubernetes.io/hostname"}]}}

    [error] = messages(LOCAL, workload(affinity=anti))

    assert "allows one pod per domain, but 2 replicas meet 1" in error


def test_a_zone_spread_on_kind_never_schedules():
    spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "api"}}}]

    assert messages(LOCAL, workload(topologySpreadConstraints=spread))[0].startswith("spread: DoNotSchedule topology spread on topology.kubernetes.io/zone")
    assert messages(AWS, workload(topologySpreadConstraints=spread)) == []


def test_a_claim_for_a_storage_class_that_does_not_exist_is_an_error():
    claim = Deployed({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "apps"},
                      "spec": {"storageClassName": "premium-rwo", "resources": {"requests": {"storage": "10Gi"}}}}, "urn:pvc", "program")

    [error] = messages(AWS, claim)

    assert "needs StorageClass premium-rwo, which the cluster does not have (it has gp3)" in error


def test_a_pod_larger_than_any_node_is_an_error():
    huge = workload(containers=[{"name": "api", "resources": {"requests": {"cpu": "3", "memory": "1Gi"}}}])

    [error] = messages(AWS, huge)

    assert error.startswith("capacity: one pod requests 3000m CPU") and "bigger nodes" in error


def test_eks_allocatable_reserves_for_the_kubelet():
    cpu, memory = eks_allocatable(2, 8)

    assert (cpu, memory) == (1930, 8192 - 255 - 11 * 29 - 100)
    assert len(cluster_shape(AWS).nodes) == 3 and {n.labels["topology.kubernetes.io/zone"] for n in cluster_shape(AWS).nodes} == {"eu-west-1a", "eu-west-1b"}


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_every_pod_of_the_stacks_finds_a_node(rendered, stack):
    _, data, _ = rendered(stack)

    assert data["scheduling"]["errors"] == []
    assert data["scheduling"]["checked"] > 30
