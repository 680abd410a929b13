"""components.local_registry: the registry container beside kind — hardened, on loopback, trusted by the nodes; or none."""

from __future__ import annotations

import yaml

from helpers import KIND_COMMAND, REGISTRY_CONTAINER, local, one
from render.engine.harness import run_program


def test_kind_nodes_trust_the_registry_container(local_run):
    cmd = one(local_run, KIND_COMMAND)
    document = yaml.safe_load(cmd.inputs["stdin"])

    assert 'config_path = "/etc/containerd/certs.d"' in document["containerdConfigPatches"][0]
    assert "/etc/containerd/certs.d/localhost:5001" in cmd.inputs["create"]
    assert '[host."http://kind-registry:5000"]' in cmd.inputs["create"]


def test_registry_container_is_hardened_and_published_on_loopback(local_run):
    [container] = local_run.of_type(REGISTRY_CONTAINER)
    inputs = container.inputs

    assert inputs["name"] == "kind-registry"
    assert inputs["ports"] == [{"internal": 5000, "external": 5001, "ip": "127.0.0.1"}]
    assert inputs["networksAdvanced"] == [{"name": "kind", "aliases": ["kind-registry"]}]
    assert inputs["readOnly"] is True
    assert inputs["capabilities"] == {"drops": ["ALL"]}
    assert inputs["securityOpts"] == ["no-new-privileges:true"]
    assert inputs["volumes"] == [{"volumeName": "kind-registry-data", "containerPath": "/var/lib/registry"}]
    [image] = local_run.of_type("docker:index/remoteImage:RemoteImage")
    assert image.inputs["name"] == "registry:3.0.0"


def test_registry_joins_the_kind_network_only_after_the_cluster_exists(local_run):
    [container] = local_run.of_type(REGISTRY_CONTAINER)

    assert one(local_run, KIND_COMMAND).urn in container.property_dependencies["networksAdvanced"]


def test_external_registry_on_kind_creates_no_container_and_no_mirror():
    run = run_program("local", local(registry={"mode": "external", "host": "registry.example.com"}))

    assert run.of_type(REGISTRY_CONTAINER) == []
    assert "certs.d" not in one(run, KIND_COMMAND).inputs["create"]
