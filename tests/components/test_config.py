"""components.config: stack configuration: every key checked, every bad value named, before any resource exists."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from components.config import ConfigError, parse_config
from components.local_cluster import DEFAULT_NODE_IMAGE
from helpers import AWS_MINIMAL, aws, local
from render.engine.harness import run_program_recording

NS = "gitops-platform"

# (case id, engine config, key path the error must name, text the message must contain)
BAD_CONFIGS = [
    ("missing-environment", {f"{NS}:cluster": {"workers": 1}}, f"{NS}:environment", "required key is missing"),
    ("bad-environment", {f"{NS}:environment": "staging"}, f"{NS}:environment", "expected 'local' or 'aws'"),
    ("unknown-top-level-key", local(clustr={"workers": 1}), f"{NS}:clustr", "unknown key; allowed keys here: apps, autoscaling, cluster, environment, gitops, mesh, observability, region, registry, rollouts, security, tls"),
    ("unknown-cluster-key", local(cluster={"nodeImages": "x"}), f"{NS}:cluster.nodeImages", "allowed keys here:"),
    ("snake-case-key", local(cluster={"node_image": DEFAULT_NODE_IMAGE}), f"{NS}:cluster.node_image", "unknown key"),
    ("unknown-ingress-key", local(cluster={"ingress": {"httpPort": 80}}), f"{NS}:cluster.ingress.httpPort", "unknown key"),
    ("unknown-registry-key", local(registry={"port": 5001}), f"{NS}:registry.port", "unknown key"),
    ("bad-cluster-mode", local(cluster={"mode": "minikube"}), f"{NS}:cluster.mode", "expected 'kind' or 'existing'"),
    ("bad-registry-mode", local(registry={"mode": "harbor"}), f"{NS}:registry.mode", "expected 'container', 'external' or 'ecr'"),
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
    ("local-ecr-without-region", local(registry={"mode": "ecr"}), f"{NS}:region", "required when registry.mode is `ecr`"),
    ("local-region-without-ecr", local(region="eu-west-1"), f"{NS}:region", "only used when registry.mode is `ecr`"),
    ("local-ecr-settings-without-ecr-mode", local(registry={"ecr": {"services": ["api"]}}), f"{NS}:registry.ecr", "only used when mode is `ecr`"),
    # aws
    ("aws-missing-region", {f"{NS}:environment": "aws"}, f"{NS}:region", "required key is missing"),
    ("aws-bad-region", aws(region="Europe"), f"{NS}:region", "expected an AWS region name like eu-west-1"),
    ("aws-local-only-key", aws(cluster={"workers": 1}), f"{NS}:cluster.workers", "unknown key"),
    ("aws-one-az", aws(cluster={"availabilityZones": 1}), f"{NS}:cluster.availabilityZones", "greater than or equal to 2"),
    ("aws-more-nats-than-azs", aws(cluster={"natGateways": 3}), f"{NS}:cluster.natGateways", "at most one per AZ"),
    ("aws-min-above-max", aws(cluster={"nodeGroup": {"minSize": 6, "maxSize": 3, "desiredSize": 3}}), f"{NS}:cluster.nodeGroup.minSize", "at most maxSize"),
    ("aws-desired-outside-range", aws(cluster={"nodeGroup": {"desiredSize": 9}}), f"{NS}:cluster.nodeGroup.desiredSize", "between minSize (3) and maxSize (5)"),
    ("aws-bad-capacity-type", aws(cluster={"nodeGroup": {"capacityType": "spot"}}), f"{NS}:cluster.nodeGroup.capacityType", "'ON_DEMAND' or 'SPOT'"),
    ("aws-bad-instance-type", aws(cluster={"nodeGroup": {"instanceTypes": ["large"]}}), f"{NS}:cluster.nodeGroup.instanceTypes", "not EC2 instance types"),
    ("aws-endpoint-open-to-world", aws(cluster={"endpoint": {"publicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}}), f"{NS}:cluster.endpoint.publicAccessCidrs", "whole internet"),
    ("aws-public-endpoint-without-cidrs", aws(cluster={"endpoint": {"publicAccess": True}}), f"{NS}:cluster.endpoint.publicAccessCidrs", "required when publicAccess is true"),
    ("aws-cidrs-without-public-endpoint", aws(cluster={"endpoint": {"publicAccessCidrs": ["203.0.113.0/24"]}}), f"{NS}:cluster.endpoint.publicAccessCidrs", "only used when publicAccess"),
    ("aws-bad-endpoint-cidr", aws(cluster={"endpoint": {"publicAccess": True, "publicAccessCidrs": ["203.0.113.1/24"]}}), f"{NS}:cluster.endpoint.publicAccessCidrs", "is not a CIDR block"),
    ("aws-subnet-count-mismatch", aws(cluster={"privateSubnetCidrs": ["10.0.0.0/19"]}), f"{NS}:cluster.privateSubnetCidrs", "one CIDR per AZ (2)"),
    ("aws-subnet-outside-vpc", aws(cluster={"publicSubnetCidrs": ["10.0.224.0/22", "10.1.0.0/22"]}), f"{NS}:cluster.publicSubnetCidrs", "outside vpcCidr"),
    ("aws-subnets-overlap-defaults", aws(cluster={"publicSubnetCidrs": ["10.0.0.0/22", "10.0.228.0/22"]}), f"{NS}:cluster.publicSubnetCidrs", "10.0.0.0/19 overlaps 10.0.0.0/22"),
    ("aws-subnets-overlap-each-other", aws(cluster={"privateSubnetCidrs": ["10.0.0.0/19", "10.0.16.0/20"]}), f"{NS}:cluster.privateSubnetCidrs", "10.0.16.0/20 overlaps 10.0.0.0/19"),
    ("aws-bad-addon-version", aws(cluster={"ebsCsiVersion": "latest"}), f"{NS}:cluster.ebsCsiVersion", "add-on version like"),
    ("aws-vpc-too-small", aws(cluster={"vpcCidr": "10.0.0.0/24"}), f"{NS}:cluster.vpcCidr", "between /16 and /20"),
    ("aws-bad-k8s-version", aws(cluster={"kubernetesVersion": "1.35.2"}), f"{NS}:cluster.kubernetesVersion", "expected a Kubernetes minor version like 1.35"),
    ("aws-bad-log-retention", aws(cluster={"logRetentionDays": 10}), f"{NS}:cluster.logRetentionDays", "CloudWatch accepts only"),
    ("aws-bad-admin-arn", aws(cluster={"adminRoleArns": ["arn:aws:iam::123:user/bob"]}), f"{NS}:cluster.adminRoleArns", "not IAM role ARNs"),
    ("aws-force-delete", aws(registry={"forceDelete": True}), f"{NS}:registry.forceDelete", "only allowed on the local stack"),
    ("aws-lifecycle-count-zero", aws(registry={"keepTaggedImages": 0}), f"{NS}:registry.keepTaggedImages", "greater than or equal to 1"),
    ("aws-untagged-expiry-zero", aws(registry={"untaggedExpiryDays": 0}), f"{NS}:registry.untaggedExpiryDays", "greater than or equal to 1"),
    ("aws-no-services", aws(registry={"services": []}), f"{NS}:registry.services", "at least 1 item"),
    ("aws-duplicate-services", aws(registry={"services": ["api", "api"]}), f"{NS}:registry.services", "unique"),
    ("aws-bad-service-name", aws(registry={"services": ["Back_End!"]}), f"{NS}:registry.services", "not repository names"),
    ("aws-bad-kms-key", aws(registry={"kmsKeyArn": "alias/mine"}), f"{NS}:registry.kmsKeyArn", "expected a KMS key ARN"),
    ("aws-bad-pull-account", aws(registry={"pullAccountIds": ["12345"]}), f"{NS}:registry.pullAccountIds", "12-digit"),
]


@pytest.mark.parametrize(("config", "path", "text"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_fails_before_any_resource_naming_the_key(config, path, text):
    stack = "aws" if config.get(f"{NS}:environment") == "aws" else "local"
    run, error = run_program_recording(stack, config)

    assert isinstance(error, ConfigError), error
    assert run.resources == []
    [problem] = [p for p in error.problems if p.path == path]
    assert text in problem.message
    assert path in str(error) and f"Pulumi.{stack}.yaml" in str(error)


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

    with pytest.raises(ValidationError):
        config.cluster.workers = 3  # type: ignore[misc]


def test_python_callers_may_use_field_names():
    from components import LocalClusterConfig

    assert LocalClusterConfig(node_image=DEFAULT_NODE_IMAGE, workers=2).workers == 2


def test_aws_defaults_are_the_ha_profile():
    config = parse_config({**AWS_MINIMAL})

    assert config.cluster.availability_zones == 2
    assert config.cluster.node_group.min_size == 3
    assert config.cluster.endpoint.public_access is False
    assert config.cluster.subnet_cidrs() == (["10.0.224.0/22", "10.0.228.0/22"], ["10.0.0.0/19", "10.0.32.0/19"])
    assert config.registry.force_delete is False


def test_public_endpoint_open_to_the_world_is_accepted_only_when_said_explicitly():
    endpoint = {"publicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"], "allowPublicInternet": True}

    config = parse_config({**AWS_MINIMAL, "cluster": {"endpoint": endpoint}})

    assert config.cluster.endpoint.public_access_cidrs == ["0.0.0.0/0"]
