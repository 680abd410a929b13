"""Stack configuration: every key checked, every bad value named, before any resource exists."""

from __future__ import annotations

import pytest
from helpers import local

from components.config import ConfigError, parse_config
from components.harness import run_program_recording
from components.local_cluster import DEFAULT_NODE_IMAGE

NS = "gitops-platform"

# (case id, engine config, key path the error must name, text the message must contain)
BAD_CONFIGS = [
    ("missing-environment", {f"{NS}:cluster": {"workers": 1}}, f"{NS}:environment", "required key is missing"),
    ("bad-environment", {f"{NS}:environment": "staging"}, f"{NS}:environment", "expected 'local'"),
    ("unknown-top-level-key", local(clustr={"workers": 1}), f"{NS}:clustr", "unknown key; allowed keys here: cluster, environment, region, registry"),
    ("unknown-cluster-key", local(cluster={"nodeImages": "x"}), f"{NS}:cluster.nodeImages", "allowed keys here:"),
    ("snake-case-key", local(cluster={"node_image": DEFAULT_NODE_IMAGE}), f"{NS}:cluster.node_image", "unknown key"),
    ("unknown-ingress-key", local(cluster={"ingress": {"httpPort": 80}}), f"{NS}:cluster.ingress.httpPort", "unknown key"),
    ("unknown-registry-key", local(registry={"port": 5001}), f"{NS}:registry.port", "unknown key"),
    ("bad-cluster-mode", local(cluster={"mode": "minikube"}), f"{NS}:cluster.mode", "expected 'kind' or 'existing'"),
    ("bad-registry-mode", local(registry={"mode": "ecr"}), f"{NS}:registry.mode", "expected 'container', 'external' or 'ecr'"),
    ("workers-wrong-type", local(cluster={"workers": "two"}), f"{NS}:cluster.workers", "valid integer"),
    ("workers-out-of-range", local(cluster={"workers": 9}), f"{NS}:cluster.workers", "less than or equal to 5"),
    ("workers-negative", local(cluster={"workers": -1}), f"{NS}:cluster.workers", "greater than or equal to 0"),
    ("cluster-not-an-object", local(cluster="kind"), f"{NS}:cluster", "valid dictionary"),
    ("cluster-name-not-dns", local(cluster={"name": "My_Cluster"}), f"{NS}:cluster.name", "DNS-1123"),
    ("node-image-unpinned", local(cluster={"nodeImage": "kindest/node:v1.35.8"}), f"{NS}:cluster.nodeImage", "pin the node image by digest"),
    ("node-port-out-of-range", local(cluster={"ingress": {"httpNodePort": 8080}}), f"{NS}:cluster.ingress.httpNodePort", "greater than or equal to 30000"),
    ("host-port-out-of-range", local(cluster={"ingress": {"httpsHostPort": 70000}}), f"{NS}:cluster.ingress.httpsHostPort", "less than or equal to 65535"),
    ("same-host-ports", local(cluster={"ingress": {"httpHostPort": 9000, "httpsHostPort": 9000}}), f"{NS}:cluster.ingress.httpsHostPort", "must differ from httpHostPort"),
    ("same-node-ports", local(cluster={"ingress": {"httpNodePort": 30500, "httpsNodePort": 30500}}), f"{NS}:cluster.ingress.httpsNodePort", "must differ from httpNodePort"),
    ("existing-without-context", local(cluster={"mode": "existing"}, registry={"mode": "external", "host": "r.example.com"}), f"{NS}:cluster.context", "required when mode is `existing`"),
    ("context-with-kind", local(cluster={"context": "kind-dev"}), f"{NS}:cluster.context", "only used when mode is `existing`"),
    ("kubeconfig-path-with-kind", local(cluster={"kubeconfigPath": "/tmp/kc"}), f"{NS}:cluster.kubeconfigPath", "only used when mode is `existing`"),
    ("registry-image-latest", local(registry={"image": "registry:latest"}), f"{NS}:registry.image", "'latest' and untagged are rejected"),
    ("registry-image-untagged", local(registry={"image": "registry"}), f"{NS}:registry.image", "exact tag or digest"),
    ("registry-privileged-port", local(registry={"hostPort": 443}), f"{NS}:registry.hostPort", "greater than or equal to 1024"),
    ("external-without-host", local(registry={"mode": "external"}), f"{NS}:registry.host", "required when mode is `external`"),
    ("host-with-container", local(registry={"host": "localhost:5001"}), f"{NS}:registry.host", "only used when mode is `external`"),
    ("registry-host-with-scheme", local(registry={"mode": "external", "host": "https://r.example.com"}), f"{NS}:registry.host", "without scheme"),
    ("container-registry-on-existing-cluster", local(cluster={"mode": "existing", "context": "dev"}), f"{NS}:registry.mode", "only by a kind cluster"),
    ("registry-port-collides-with-ingress", local(registry={"hostPort": 8443}), f"{NS}:registry.hostPort", "already mapped"),
]


@pytest.mark.parametrize(("config", "path", "text"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_fails_before_any_resource_naming_the_key(config, path, text):
    run, error = run_program_recording("local", config)

    assert isinstance(error, ConfigError), error
    assert run.resources == []
    [problem] = [p for p in error.problems if p.path == path]
    assert text in problem.message
    assert path in str(error) and "Pulumi.local.yaml" in str(error)


def test_every_problem_is_reported_at_once_with_the_value_given():
    with pytest.raises(ConfigError) as caught:
        parse_config({"environment": "local", "cluster": {"mode": "kinde", "workers": 9}, "registri": {}})

    problems = {p.path: p for p in caught.value.problems}
    assert set(problems) == {f"{NS}:cluster.mode", f"{NS}:cluster.workers", f"{NS}:registri"}
    assert problems[f"{NS}:cluster.mode"].value == "kinde"
    assert "(got 'kinde')" in str(caught.value)
    assert "(got 9)" in str(caught.value)


def test_defaults_describe_a_kind_cluster_with_a_registry_container():
    config = parse_config({"environment": "local"})

    assert config.cluster.mode == "kind"
    assert config.cluster.node_image == DEFAULT_NODE_IMAGE
    assert config.cluster.workers == 0
    assert config.registry.mode == "container"
    assert config.registry.image_host() == "localhost:5001"


def test_config_is_frozen():
    config = parse_config({"environment": "local"})

    with pytest.raises(Exception):
        config.cluster.workers = 3  # type: ignore[misc]


def test_python_callers_may_use_field_names():
    from components import LocalClusterConfig

    assert LocalClusterConfig(node_image=DEFAULT_NODE_IMAGE, workers=2).workers == 2
