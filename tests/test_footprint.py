"""Footprint and critical path: the platform fits a laptop and deploys without long chains."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from components.footprint import footprint, pod_requests
from components.quantity import cpu_millicores, memory_mib
from components.harness import read_stack_file, run_program
from components.render import component_of, report


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


def test_manifests_count_requests_times_replicas_and_daemonsets_per_node():
    objects = [("urn:a", deployment("api", replicas=3)), ("urn:b", deployment("agent", kind="DaemonSet"))]

    result = footprint(objects, [], nodes=2, component_of=lambda urn: "apps")

    assert result["cpu_millicores"] == 3 * 100 + 2 * 100
    assert result["memory_mib"] == 5 * 128
    assert result["by_component"] == {"apps": {"cpu_millicores": 500, "memory_mib": 640}}
    assert result["unknown"] == []


def test_workloads_without_requests_are_listed_not_guessed():
    objects = [("urn:a", deployment("api", containers=[{"name": "api"}]))]

    result = footprint(objects, [], nodes=1, component_of=lambda urn: "apps")

    assert result["cpu_millicores"] == 0
    assert result["unknown"] == [{"urn": "urn:a", "workload": "Deployment/api", "reason": "containers without cpu+memory requests: api"}]


def test_helm_releases_count_the_requests_their_values_set():
    releases = [
        {"urn": "urn:istiod", "name": "istiod", "chart": "istiod", "values": {"replicaCount": 2, "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}}}},
        {"urn": "urn:gw", "name": "ingress", "chart": "gateway", "values": {}},
        {"urn": "urn:x", "name": "other", "chart": "mystery", "values": {}},
    ]

    result = footprint([], releases, nodes=1, component_of=lambda urn: "mesh")

    assert (result["cpu_millicores"], result["memory_mib"]) == (400, 1024)
    reasons = {u["workload"]: u["reason"] for u in result["unknown"]}
    assert reasons == {
        "ingress/gateway": "values do not set resources.requests cpu and memory",
        "mystery (all workloads)": "chart mystery has no row in footprint.CHART_WORKLOADS",
    }


def _render(root, stack):
    config, secrets = read_stack_file(root / f"Pulumi.{stack}.yaml")
    run = run_program(stack, config, secret_keys=secrets)
    return run, report(run, config)


def test_local_platform_fits_a_laptop_kind_cluster(root):
    # The local stack as shipped, i.e. with every component its profile enables. Each
    # component that lands enables itself in this profile, so this bound keeps holding
    # the whole platform to a laptop: <= 2 CPUs and 4 GiB requested, nothing unknown.
    _, data = _render(root, "local")

    assert data["footprint"]["cpu_millicores"] <= 2000
    assert data["footprint"]["memory_mib"] <= 4096
    assert data["footprint"]["unknown"] == []


def test_footprint_is_grouped_by_platform_component(root):
    run, _ = _render(root, "local")
    find = component_of(run)

    hosting = run.named("platform-registry-hosting")
    assert find(hosting.urn) == "platform-registry"


def test_critical_path_local_is_at_most_6(root):
    # cluster -> provider -> namespace -> CRD chart -> control plane -> app
    _, data = _render(root, "local")

    assert data["critical_path"]["length"] <= 6, data["critical_path"]["urns"]


def test_critical_path_aws_is_at_most_8(root):
    # aws provider -> VPC -> subnet -> EKS -> OIDC -> IRSA role -> EBS CSI add-on (7) today;
    # in-cluster chains start at EKS -> k8s provider and must stay within the same bound.
    _, data = _render(root, "aws")

    assert data["critical_path"]["length"] <= 8, data["critical_path"]["urns"]


def test_render_without_the_bundle_skips_schema_checks_visibly(root, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(root), "GITOPS_UPSTREAM": str(tmp_path / "absent")}
    proc = subprocess.run(
        [sys.executable, "-m", "components.render", "local", "--out", str(tmp_path / "out")],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )

    assert proc.returncode == 0, proc.stderr
    assert "schema checks SKIPPED" in proc.stdout
    import json

    assert json.loads((tmp_path / "out" / "report.json").read_text())["schema"]["skipped"] is True
