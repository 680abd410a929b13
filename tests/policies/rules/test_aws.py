"""policies.rules.aws: ECR, EKS, IAM and protection rules, each with a good and a bad resource; unknown documents are skipped."""

from __future__ import annotations

import json

import pytest

from policies.evaluate import Resource
from policy_fixtures import REPO, messages, repo, stack_messages


def cluster(**overrides):
    props = {
        "name": "gitops-platform",
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:eu-west-1:123456789012:key/k"}},
        "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
        "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": ["subnet-1"]},
    }
    props.update(overrides)
    return props


def role_policy(document):
    return {"name": "ci-pull", "role": "ci", "policy": json.dumps(document)}


ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


SCOPED = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ecr:BatchGetImage"], "Resource": "*"}, {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::bucket/*"}]}


AWS_CASES = [
    ("ecr-repository-scan-on-push", REPO, repo(), repo(imageScanningConfiguration={"scanOnPush": False}), "ECR repository gitops-platform/backend does not scan on push"),
    ("ecr-repository-immutable-tags", REPO, repo(), repo(imageTagMutability="MUTABLE"), "has mutable tags; set imageTagMutability: IMMUTABLE"),
    ("ecr-repository-kms-encryption", REPO, repo(), repo(encryptionConfigurations=[{"encryptionType": "AES256"}]), "is not KMS-encrypted"),
    ("eks-cluster-secrets-encryption", "aws:eks/cluster:Cluster", cluster(), cluster(encryptionConfig=None), "EKS cluster gitops-platform does not encrypt secrets"),
    ("eks-cluster-all-log-types", "aws:eks/cluster:Cluster", cluster(), cluster(enabledClusterLogTypes=["api", "authenticator", "controllerManager", "scheduler"]), "does not log ['audit']"),
    ("eks-cluster-endpoint-not-public", "aws:eks/cluster:Cluster", cluster(), cluster(vpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}), "exposes its API endpoint to the whole internet"),
    ("eks-cluster-endpoint-not-public", "aws:eks/cluster:Cluster", cluster(vpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}), cluster(vpcConfig={"subnetIds": ["subnet-1"]}), "whole internet"),
    ("eks-launchtemplate-imdsv2", "aws:ec2/launchTemplate:LaunchTemplate", {"name": "nodes", "metadataOptions": {"httpTokens": "required"}}, {"name": "nodes", "metadataOptions": {"httpTokens": "optional"}}, "launch template nodes allows IMDSv1"),
    ("iam-policy-no-admin-wildcard", "aws:iam/rolePolicy:RolePolicy", role_policy(SCOPED), role_policy(ADMIN), "IAM policy ci-pull allows Action * on Resource *"),
    ("iam-policy-no-admin-wildcard", "aws:iam/role:Role", {"name": "r", "inlinePolicies": [{"name": "p", "policy": json.dumps(SCOPED)}]}, {"name": "r", "inlinePolicies": [{"name": "p", "policy": json.dumps(ADMIN)}]}, "IAM policy r allows Action *"),
]


@pytest.mark.parametrize(("policy", "type_", "good", "bad", "text"), AWS_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(AWS_CASES)])
def test_aws_rules(policy, type_, good, bad, text):
    assert messages(policy, type_, good) == []
    [message] = messages(policy, type_, bad)
    assert text in message


def _repo_resource(protect=True):
    return Resource(REPO, "urn:repo", "registry-backend", repo(), protect=protect)


def test_every_repository_needs_a_lifecycle_policy():
    lifecycle = Resource("aws:ecr/lifecyclePolicy:LifecyclePolicy", "urn:lc", "lc", {"repository": "gitops-platform/backend", "policy": "{}"}, property_dependencies={"repository": ["urn:repo"]})

    assert stack_messages("ecr-repository-lifecycle-policy", [_repo_resource(), lifecycle]) == []
    [missing] = stack_messages("ecr-repository-lifecycle-policy", [_repo_resource()])
    assert missing["urn"] == "urn:repo" and "has no lifecycle policy" in missing["message"]


def test_stateful_aws_resources_must_be_protected():
    eks = Resource("aws:eks/cluster:Cluster", "urn:eks", "eks", cluster(), protect=True)
    key = Resource("aws:kms/key:Key", "urn:key", "key", {}, protect=True)
    pvc = Resource("kubernetes:core/v1:PersistentVolumeClaim", "urn:pvc", "data", {}, protect=True)

    assert stack_messages("aws-stateful-resources-protected", [eks, key, pvc, _repo_resource()]) == []
    [violation] = stack_messages("aws-stateful-resources-protected", [eks, Resource("aws:kms/key:Key", "urn:key", "key", {}), pvc, _repo_resource()])
    assert violation["urn"] == "urn:key" and "is not protected" in violation["message"]
    store = Resource("kubernetes:apps/v1:StatefulSet", "urn:sts", "db", {"spec": {"volumeClaimTemplates": [{}]}})
    assert len(stack_messages("aws-stateful-resources-protected", [eks, store])) == 1
    # Without an EKS cluster it is not an aws stack: local ECR repositories may be disposable.
    assert stack_messages("aws-stateful-resources-protected", [_repo_resource(protect=False)]) == []


def test_an_unknown_iam_policy_document_is_skipped_not_a_crash():
    from policies.normalize import UNKNOWN

    assert messages("iam-policy-no-admin-wildcard", "aws:iam/rolePolicy:RolePolicy", {"name": "p", "policy": UNKNOWN}) == []
