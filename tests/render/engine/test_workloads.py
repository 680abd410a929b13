"""render.engine.workloads: the pods a workload makes — spec, labels, count, probes and what they reserve."""

from __future__ import annotations

import pytest

from render.engine.workloads import WORKLOAD_KINDS, containers, pod_metadata, pod_requests, pod_spec, probe_ports, replicas, resource_requests

TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c"}]}}


@pytest.mark.parametrize(("obj", "count"), [
    ({"kind": "Deployment", "spec": {"replicas": 3, "template": TEMPLATE}}, 3),
    ({"kind": "Deployment", "spec": {"template": TEMPLATE}}, 1),
    ({"kind": "DaemonSet", "spec": {"template": TEMPLATE}}, 4),
    ({"kind": "Job", "spec": {"parallelism": 2, "template": TEMPLATE}}, 2),
    ({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}}, 1),
    ({"kind": "Pod", "metadata": {"labels": {"app": "x"}}, "spec": TEMPLATE["spec"]}, 1),
])
def test_each_workload_kind_gives_its_pod_spec_labels_and_count(obj, count):
    assert obj["kind"] in WORKLOAD_KINDS
    assert pod_spec(obj) == TEMPLATE["spec"]
    assert pod_metadata(obj)["labels"] == {"app": "x"}
    assert replicas(obj, nodes=4) == count


def test_objects_that_run_no_pods_have_no_pod_spec():
    assert pod_spec({"kind": "Service", "spec": {"template": TEMPLATE}}) is None


def test_every_container_and_every_probe_port_is_walked():
    spec = {
        "initContainers": [{"name": "init"}],
        "containers": [{"name": "app", "livenessProbe": {"httpGet": {"port": "http"}}, "readinessProbe": {"tcpSocket": {"port": 8080}},
                        "startupProbe": {"exec": {"command": ["true"]}}}],
        "ephemeralContainers": [{"name": "debug"}],
    }

    assert [(field, c["name"]) for field, c in containers(spec)] == [("initContainers", "init"), ("containers", "app"), ("ephemeralContainers", "debug")]
    assert list(probe_ports(spec["containers"][0])) == [("livenessProbe", "http"), ("readinessProbe", 8080)]


def test_a_pod_reserves_its_containers_sum_or_its_largest_init_container():
    small = {"requests": {"cpu": "100m", "memory": "64Mi"}}
    spec = {
        "initContainers": [{"name": "migrate", "resources": {"requests": {"cpu": "500m", "memory": "32Mi"}}}],
        "containers": [{"name": "a", "resources": small}, {"name": "b", "resources": small}, {"name": "c"}],
    }

    cpu, memory, missing = pod_requests(spec)

    assert (cpu, memory, missing) == (500, 128, ["c"])
    assert resource_requests({"requests": {"cpu": "1"}}) is None
