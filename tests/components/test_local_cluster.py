"""components.local_cluster: the kind cluster — created and deleted with the kind CLI, pinned node image, port mappings; or an existing cluster."""

from __future__ import annotations

import re

import pytest
import yaml

from components.images import KIND_NODE_IMAGES, KIND_RELEASE
from components.local_cluster import DEFAULT_NODE_IMAGE, LocalClusterConfig
from helpers import KIND_COMMAND, REGISTRY_CONTAINER, local, one
from render.engine.harness import Secret, reveal, run_program

PROVIDER = "pulumi:providers:kubernetes"


def test_kind_cluster_is_created_and_deleted_with_the_kind_cli(local_run):
    cmd = one(local_run, KIND_COMMAND)

    assert "kind create cluster --name gitops-platform --config - " in cmd.inputs["create"]
    assert cmd.inputs["create"].rstrip().endswith("kind get kubeconfig --name gitops-platform")
    assert cmd.inputs["delete"] == "kind delete cluster --name gitops-platform"
    assert cmd.inputs["interpreter"] == ["/bin/bash", "-c"]
    assert cmd.delete_before_replace, "kind cannot create a second cluster under the same name"
    assert "stdout" in cmd.additional_secret_outputs, "stdout is the kubeconfig"


def test_create_refuses_to_adopt_a_cluster_it_did_not_create(local_run):
    script = one(local_run, KIND_COMMAND).inputs["create"]

    assert "kind get clusters" in script and "already exists" in script
    assert script.index("kind get clusters") < script.index("kind create cluster")


def test_kind_node_image_is_pinned_and_maps_gateway_ports_to_host_loopback(local_run):
    document = yaml.safe_load(one(local_run, KIND_COMMAND).inputs["stdin"])

    [control_plane] = document["nodes"]
    assert control_plane["image"] == DEFAULT_NODE_IMAGE and "@sha256:" in DEFAULT_NODE_IMAGE
    assert control_plane["extraPortMappings"] == [
        {"containerPort": 30080, "hostPort": 8080, "listenAddress": "127.0.0.1", "protocol": "TCP"},
        {"containerPort": 30443, "hostPort": 8443, "listenAddress": "127.0.0.1", "protocol": "TCP"},
    ]
    assert document["networking"]["apiServerAddress"] == "127.0.0.1"


def test_workers_and_changes_to_node_layout_recreate_the_cluster():
    run = run_program("local", local(cluster={"workers": 2}))
    cmd = one(run, KIND_COMMAND)

    roles = [n["role"] for n in yaml.safe_load(cmd.inputs["stdin"])["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    assert cmd.inputs["triggers"][0] == cmd.inputs["stdin"]


def test_the_kind_release_is_checked_before_creating_the_cluster(local_defaults):
    script = one(local_defaults, KIND_COMMAND).inputs["create"]

    assert f'kind version | grep -q " {KIND_RELEASE}\\."' in script


def test_a_node_image_the_kind_release_does_not_publish_is_refused_before_any_resource():
    custom = "kindest/node:v1.34.11@sha256:" + "a" * 64

    with pytest.raises(ValueError) as error:
        LocalClusterConfig(node_image=custom)

    assert f"is not a node image kind {KIND_RELEASE} publishes (images.lock lists v" in str(error.value)
    assert LocalClusterConfig(node_image=KIND_NODE_IMAGES[-1]).node_image == KIND_NODE_IMAGES[-1]


def test_provider_uses_the_secret_kubeconfig_and_is_keyed_on_the_cluster(local_run):
    cmd = one(local_run, KIND_COMMAND)
    [provider] = local_run.of_type(PROVIDER)

    assert isinstance(provider.inputs["kubeconfig"], Secret)
    assert reveal(provider.inputs["kubeconfig"]) == cmd.outputs["stdout"]
    # Replaced only when the kind cluster is recreated, not when kubeconfig text changes.
    assert provider.inputs["clusterIdentifier"] == cmd.id
    assert cmd.urn in provider.dependencies
    assert provider.inputs["deleteUnreachable"] == "true"


def test_existing_mode_uses_the_context_and_creates_no_cluster(tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: dev\n")
    run = run_program(
        "local",
        local(
            cluster={"mode": "existing", "context": "dev", "kubeconfigPath": str(kubeconfig)},
            registry={"mode": "external", "host": "registry.example.com:5000"},
        ),
    )

    assert run.of_type(KIND_COMMAND) == []
    assert run.of_type(REGISTRY_CONTAINER) == []
    [provider] = run.of_type(PROVIDER)
    assert provider.inputs["context"] == "dev"
    assert provider.inputs["clusterIdentifier"] == "context:dev"
    assert reveal(provider.inputs["kubeconfig"]) == kubeconfig.read_text()
    assert isinstance(provider.inputs["kubeconfig"], Secret)


def test_existing_mode_with_a_missing_kubeconfig_names_the_key(tmp_path):
    import pulumi

    with pytest.raises(pulumi.RunError, match=re.escape("gitops-platform:cluster.kubeconfigPath")):
        run_program(
            "local",
            local(
                cluster={"mode": "existing", "context": "dev", "kubeconfigPath": str(tmp_path / "absent")},
                registry={"mode": "external", "host": "registry.example.com"},
            ),
        )


def test_kind_binds_the_control_plane_metrics_where_prometheus_scrapes_them(local_run, rendered):
    from components.local_cluster import CONTROL_PLANE_METRICS

    patches = [yaml.safe_load(p) for p in yaml.safe_load(one(local_run, KIND_COMMAND).inputs["stdin"])["kubeadmConfigPatches"]]
    by_version = {p["apiVersion"]: p for p in patches}
    _, _, stack = rendered("local")
    scraped = {
        d.name.removeprefix("kps-").removeprefix("kube-"): port["targetPort"]
        for d in stack.objects if d.kind == "Service" and d.namespace == "kube-system" and d.name.startswith("kps-kube-")
        for port in d.obj["spec"]["ports"] if port["name"].startswith("http")
    }

    # kubeadm's v1beta3 (kind for Kubernetes <= 1.35) takes maps, v1beta4 (>= 1.36) lists; kind applies the matching one.
    v3, v4 = by_version["kubeadm.k8s.io/v1beta3"], by_version["kubeadm.k8s.io/v1beta4"]
    assert v3["controllerManager"]["extraArgs"]["bind-address"] == v3["scheduler"]["extraArgs"]["bind-address"] == "0.0.0.0"
    assert {"name": "bind-address", "value": "0.0.0.0"} in v4["controllerManager"]["extraArgs"] and v4["scheduler"]["extraArgs"] == [{"name": "bind-address", "value": "0.0.0.0"}]
    assert {"name": "enable-hostpath-provisioner", "value": "true"} in v4["controllerManager"]["extraArgs"]  # kind's own, kept
    assert v3["etcd"]["local"]["extraArgs"] == {"listen-metrics-urls": "http://0.0.0.0:2381"}
    assert by_version["kubeproxy.config.k8s.io/v1alpha1"]["metricsBindAddress"] == "0.0.0.0:10249"
    # ... on the ports the kube-prometheus-stack Services scrape.
    assert scraped == {"controller-manager": CONTROL_PLANE_METRICS["kube-controller-manager"], "scheduler": CONTROL_PLANE_METRICS["kube-scheduler"],
                       "etcd": CONTROL_PLANE_METRICS["etcd"], "proxy": CONTROL_PLANE_METRICS["kube-proxy"]}
