"""render.checks.footprint: footprint and critical path: the platform fits a laptop and deploys without long chains."""

from __future__ import annotations

import json

import pytest

from components.quantity import cpu_millicores, memory_mib
from render.checks.footprint import footprint
from render.checks.images import image_inventory
from render.engine.deployed import Deployed
from render.engine.workloads import pod_requests
from render.report import component_of, report


def deployment(name, replicas=1, containers=None, init=None, kind="Deployment"):
    containers = containers if containers is not None else [{"name": name, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]
    spec = {"containers": containers}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": {"replicas": replicas, "template": {"spec": spec}}}


def test_quantities():
    assert cpu_millicores("250m") == 250
    assert cpu_millicores("0.5") == 500
    assert cpu_millicores(2) == 2000
    assert memory_mib("128Mi") == 128
    assert memory_mib("1Gi") == 1024
    assert memory_mib("1G") == pytest.approx(953.67, rel=1e-3)
    assert memory_mib(1048576) == 1
    with pytest.raises(ValueError):
        cpu_millicores("1Gi")


def test_init_containers_count_as_the_scheduler_does():
    spec = {
        "initContainers": [
            {"name": "migrate", "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}}},
            {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}},
        ],
        "containers": [{"name": "app", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
    }

    assert pod_requests(spec) == (500, 192, [])


def _objects(*objs, origin="program"):
    return [Deployed(o, f"urn:{o['metadata']['name']}", origin) for o in objs]


def test_pods_count_requests_times_replicas_and_daemonsets_per_node():
    objects = _objects(deployment("api", replicas=3), deployment("agent", kind="DaemonSet"))

    result = footprint(objects, nodes=2, component_of=lambda urn: "apps")

    assert result["cpu_millicores"] == 3 * 100 + 2 * 100
    assert result["memory_mib"] == 5 * 128
    assert result["by_component"] == {"apps": {"cpu_millicores": 500, "memory_mib": 640}}
    assert result["unrequested"] == []


def test_containers_without_requests_are_listed_not_guessed():
    objects = _objects(deployment("api", containers=[{"name": "api"}, {"name": "proxy", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]))

    result = footprint(objects, nodes=1, component_of=lambda urn: "apps")

    assert (result["cpu_millicores"], result["memory_mib"]) == (10, 16)
    assert result["unrequested"] == [{"urn": "urn:api", "workload": "Deployment api", "container": "api"}]


def test_jobs_are_transient_and_dropped_hooks_never_run():
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"}, "spec": {"template": {"spec": {"containers": [
        {"name": "migrate", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]}}}}
    dropped = _objects(deployment("certgen", containers=[{"name": "certgen"}]), origin="dropped-hook")

    result = footprint(_objects(job) + dropped, nodes=1, component_of=lambda urn: "x")

    assert result["cpu_millicores"] == 0 and result["unrequested"] == []
    assert result["transient"] == [{"workload": "Job migrate", "cpu_millicores": 500, "memory_mib": 256, "hook": False}]


def test_operator_run_pods_count_from_their_custom_resource():
    prometheus = {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "metadata": {"name": "kps", "namespace": "monitoring"},
                  "spec": {"replicas": 2, "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}}}}

    result = footprint(_objects(prometheus), nodes=1, component_of=lambda urn: "observability")

    assert (result["cpu_millicores"], result["memory_mib"]) == (1000, 4096)


def test_images_without_a_fixed_tag_are_errors_and_istio_auto_is_the_proxy():
    injector = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio-sidecar-injector", "namespace": "istio-system"},
                "data": {"values": json.dumps({"global": {"hub": "docker.io/istio", "tag": "1.0.0", "proxy": {"image": "proxyv2"}}})}}
    objects = _objects(
        injector,
        deployment("gw", containers=[{"name": "istio-proxy", "image": "auto"}]),
        deployment("web", containers=[{"name": "web", "image": "nginx:latest"}, {"name": "side", "image": "registry.k8s.io/pause"}]),
        deployment("ok", containers=[{"name": "ok", "image": "localhost:5001/ok@sha256:abc"}]),
    )

    inventory = image_inventory(objects)

    assert {i["image"] for i in inventory["images"]} == {"docker.io/istio/proxyv2:1.0.0", "nginx:latest", "registry.k8s.io/pause", "localhost:5001/ok@sha256:abc"}
    assert sorted(e["image"] for e in inventory["errors"]) == ["nginx:latest", "registry.k8s.io/pause"]


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_every_image_the_stacks_run_has_a_fixed_tag(rendered, stack):
    _, data, _ = rendered(stack)

    assert data["images"]["errors"] == []
    assert len(data["images"]["images"]) > 25


def test_local_platform_fits_a_laptop_kind_cluster(rendered):
    # The local stack as shipped, i.e. with every component its profile enables, counted
    # from the pods the charts actually render (sidecars and helpers included).
    _, data, _ = rendered("local")

    assert data["footprint"]["cpu_millicores"] <= 2000
    assert data["footprint"]["memory_mib"] <= 4096
    # Every container of every pod states its requests, hook Jobs included.
    assert data["footprint"]["unrequested"] == []
    assert any(w["workload"] == "Deployment istio-system/istiod" for w in data["footprint"]["workloads"])


def _render(request, stack):
    """The shipped stack's run (shared) and its program-only report."""
    run = request.getfixturevalue(f"{stack}_run")
    return run, report(run, charts=None)


def test_footprint_is_grouped_by_platform_component(request):
    run, _ = _render(request, "local")
    find = component_of(run)

    hosting = run.named("platform-registry-hosting")
    assert find(hosting.urn) == "platform-registry"


def test_critical_path_local_is_at_most_6(request):
    # cluster -> provider -> namespace -> CRD chart -> control plane -> app
    _, data = _render(request, "local")

    assert data["critical_path"]["length"] <= 6, data["critical_path"]["urns"]


def test_critical_path_aws_is_at_most_10(request):
    # aws provider -> VPC -> subnet -> EKS -> k8s provider, then cert-manager's namespace ->
    # chart -> readiness gate -> Vault's listener certificate (its pods mount it at start)
    # -> Vault; Gatekeeper's namespaces -> release -> template -> constraint runs beside it.
    _, data = _render(request, "aws")

    assert data["critical_path"]["length"] <= 10, data["critical_path"]["urns"]
