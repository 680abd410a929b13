"""components.platform: the whole platform under mocks — providers, parenting, type tokens and outputs on both stacks."""

from __future__ import annotations

import json

import yaml

from helpers import local, one
from render.engine.harness import run_program

PROVIDER = "pulumi:providers:kubernetes"
TYPES = "gitops-platform:index:"


def test_in_cluster_resources_use_the_cluster_provider(local_run):
    [provider] = local_run.of_type(PROVIDER)
    in_cluster = [r for r in local_run.resources if r.kubernetes_object]

    assert in_cluster, "the local stack declares Kubernetes objects"
    assert all(r.provider == provider.urn for r in in_cluster)
    [hosting] = [r for r in local_run.of_type("kubernetes:core/v1:ConfigMap") if r.name == "platform-registry-hosting"]
    assert hosting.inputs["metadata"] == {"name": "local-registry-hosting", "namespace": "kube-public"}
    assert yaml.safe_load(hosting.inputs["data"]["localRegistryHosting.v1"])["host"] == "localhost:5001"


def test_every_resource_is_parented_to_its_component(local_run):
    components = {r.urn: r for r in local_run.resources if not r.custom}
    platform = local_run.named("platform")

    assert platform.type == "gitops-platform:index:Platform"
    for resource in local_run.resources:
        if resource is platform:
            assert resource.parent.endswith("::gitops-platform-local")  # the stack
            continue
        assert resource.parent in components, f"{resource.name} is not parented to a component"
        assert resource.name.startswith(components[resource.parent].name + "-")


def test_component_type_tokens(local_defaults):
    types = {r.type for r in local_defaults.resources if r.type.startswith("gitops-platform:")}

    assert types == {
        "gitops-platform:index:Platform",
        "gitops-platform:index:LocalCluster",
        "gitops-platform:index:LocalRegistry",
        "gitops-platform:index:MeshStack",
        "gitops-platform:index:SecurityStack",
        "gitops-platform:index:AutoscalingStack",
        "gitops-platform:index:ObservabilityStack",
        "gitops-platform:index:CertManager",
        "gitops-platform:index:RolloutsController",
        "gitops-platform:index:GitopsStack",
        "gitops-platform:index:Kiali",
        "gitops-platform:index:SampleApps",
        "gitops-platform:index:MicroserviceStack",
    }


def test_outputs_registry_host_and_secret_kubeconfig():
    from components.platform import Platform

    seen = {}

    def program():
        from program import load_config

        platform = Platform("platform", load_config())
        platform.registry_host.apply(lambda v: seen.setdefault("host", v))
        platform.registry.repository_url("backend").apply(lambda v: seen.setdefault("repo", v))

        async def kubeconfig_is_secret():
            seen["secret"] = await platform.kubeconfig.is_secret()

        return kubeconfig_is_secret()

    run_program("local", local(), program=program)

    assert seen == {"host": "localhost:5001", "repo": "localhost:5001/backend", "secret": True}


def test_every_aws_resource_uses_the_tagged_regional_provider(aws_run):
    provider = one(aws_run, "pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]

    assert provider.inputs["region"] == "eu-west-1"
    assert tags == {"project": "gitops-platform", "environment": "aws", "stack": "aws", "managed-by": "pulumi"}
    aws_resources = [r for r in aws_run.resources if r.type.startswith("aws:")]
    assert aws_resources and all(r.provider == provider.urn for r in aws_resources)


def test_every_aws_child_is_parented_and_typed(aws_run):
    components = {r.urn: r for r in aws_run.resources if not r.custom}

    assert {c.type for c in components.values() if c.type.startswith(TYPES)} == {f"{TYPES}{c}" for c in ("Platform", "EksCluster", "EcrRegistry", "MeshStack", "SecurityStack", "AutoscalingStack", "ObservabilityStack", "CertManager", "GitopsStack", "Kiali")}
    for resource in aws_run.resources:
        if resource.name != "platform":
            assert resource.parent in components, resource.name
