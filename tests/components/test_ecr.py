"""components.ecr: EcrRegistry — scanned, immutable, encrypted, protected repositories, lifecycle, pull grants."""

from __future__ import annotations

import json
import re

import pytest

from components.config import parse_config
from components.ecr import EcrRegistry, EcrRegistryConfig, lifecycle_policy
from helpers import AWS_MINIMAL, aws, local, one
from render.engine.harness import run_program


def test_ecr_repositories_scan_are_immutable_encrypted_and_protected(aws_run):
    repositories = aws_run.of_type("aws:ecr/repository:Repository")

    assert sorted(r.inputs["name"] for r in repositories) == ["gitops-platform/backend", "gitops-platform/frontend"]
    for repo in repositories:
        assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS"}]
        assert repo.inputs["forceDelete"] is False
        assert repo.protect


def test_each_repository_has_the_lifecycle_policy(aws_run):
    policies = aws_run.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    repositories = {r.outputs["name"] for r in aws_run.of_type("aws:ecr/repository:Repository")}

    assert {p.inputs["repository"] for p in policies} == repositories
    rules = json.loads(policies[0].inputs["policy"])["rules"]
    assert rules[0]["selection"] == {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}
    assert rules[1]["selection"]["countType"] == "imageCountMoreThan" and rules[1]["selection"]["countNumber"] == 30


def test_customer_key_and_cross_account_pull_are_opt_in():
    key = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    run = run_program("aws", aws(registry={"kmsKeyArn": key, "pullAccountIds": ["210987654321"], "services": ["api"]}))

    [repo] = run.of_type("aws:ecr/repository:Repository")
    assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key}]
    [policy] = run.of_type("aws:ecr/repositoryPolicy:RepositoryPolicy")
    statement = json.loads(policy.inputs["policy"])["Statement"][0]
    assert statement["Principal"] == {"AWS": ["arn:aws:iam::210987654321:root"]}
    assert "ecr:PutImage" not in statement["Action"]


def test_grant_pull_allows_pulling_only_these_repositories():
    import pulumi_aws

    def program():
        registry = EcrRegistry("registry", EcrRegistryConfig())
        role = pulumi_aws.iam.Role("ci", assume_role_policy="{}")
        registry.grant_pull(role)
        return registry.repository_url("backend")

    run = run_program("aws", aws(), program=program)
    [policy] = run.of_type("aws:iam/rolePolicy:RolePolicy")
    pull, login = json.loads(policy.inputs["policy"])["Statement"]

    assert pull["Resource"] == [r.outputs["arn"] for r in sorted(run.of_type("aws:ecr/repository:Repository"), key=lambda r: r.name)]
    assert set(pull["Action"]) == {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
    assert login == {"Sid": "Login", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
    assert policy.parent == run.named("registry").urn


def test_unknown_service_repository_is_a_clear_error():
    def program():
        EcrRegistry("registry", EcrRegistryConfig()).repository_url("billing")

    with pytest.raises(ValueError, match=re.escape("add it to gitops-platform:registry.services")):
        run_program("aws", aws(), program=program)


def test_lifecycle_counts_come_from_config():
    config = parse_config({**AWS_MINIMAL, "registry": {"keepTaggedImages": 5, "untaggedExpiryDays": 2}})
    rules = json.loads(lifecycle_policy(config.registry))["rules"]

    assert rules[0]["selection"]["countNumber"] == 2
    assert rules[1]["selection"]["countNumber"] == 5


def test_local_stack_can_use_ecr_instead_of_the_registry_container():
    run = run_program("local", local(region="us-east-1", registry={"mode": "ecr", "ecr": {"services": ["api"], "forceDelete": True}}, apps={"enabled": False}))

    assert run.of_type("docker:index/container:Container") == []
    [repo] = run.of_type("aws:ecr/repository:Repository")
    assert repo.inputs["forceDelete"] is True and not repo.protect
    assert one(run, "pulumi:providers:aws").inputs["region"] == "us-east-1"
    assert "certs.d" not in one(run, "command:local:Command").inputs["create"]
