"""The `aws` stack under mocks: hardened EKS, ECR, default tags, protection, parenting."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from components.config import parse_config
from components.ecr import EcrRegistry, EcrRegistryConfig, lifecycle_policy
from helpers import AWS_MINIMAL, aws, local
from render.engine.harness import Secret, reveal, run_program, run_stack

ROOT_TYPES = "gitops-platform:index:"


@pytest.fixture(scope="module")
def aws_run(root):
    return run_stack("aws", root / "Pulumi.aws.yaml")


def one(run, type_):
    [resource] = run.of_type(type_)
    return resource


def test_vpc_spans_two_zones_with_public_and_private_subnets(aws_run):
    subnets = aws_run.of_type("aws:ec2/subnet:Subnet")
    public = [s for s in subnets if "-public-" in s.name]
    private = [s for s in subnets if "-private-" in s.name]

    assert len(public) == len(private) == 2
    assert {s.inputs["availabilityZone"] for s in private} == {"eu-west-1a", "eu-west-1b"}
    assert all(s.inputs["tags"]["kubernetes.io/role/elb"] == "1" for s in public)
    assert all(s.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in public)


def test_one_nat_gateway_by_default_and_one_per_zone_for_ha():
    default = run_program("aws", aws())
    ha = run_program("aws", aws(cluster={"availabilityZones": 3, "natGateways": 3}))

    assert len(default.of_type("aws:ec2/natGateway:NatGateway")) == 1
    assert len(ha.of_type("aws:ec2/natGateway:NatGateway")) == 3
    routes = [r.inputs["routes"][0] for r in ha.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name]
    assert len({r["natGatewayId"] for r in routes}) == 3


def test_eks_encrypts_secrets_with_a_rotating_protected_key(aws_run):
    cluster = one(aws_run, "aws:eks/cluster:Cluster")
    [key] = [r for r in aws_run.of_type("aws:kms/key:Key") if r.name.endswith("secrets-key")]

    assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert cluster.inputs["encryptionConfig"]["provider"]["keyArn"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    assert key.protect and cluster.protect
    assert cluster.inputs["deletionProtection"] is True


def test_eks_enables_all_five_log_types_into_a_bounded_log_group(aws_run):
    cluster = one(aws_run, "aws:eks/cluster:Cluster")
    logs = one(aws_run, "aws:cloudwatch/logGroup:LogGroup")

    assert cluster.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert logs.inputs["name"] == "/aws/eks/gitops-platform/cluster"
    assert logs.inputs["retentionInDays"] == 90
    assert logs.urn in cluster.dependencies


def test_eks_endpoint_is_private_by_default(aws_run):
    vpc_config = one(aws_run, "aws:eks/cluster:Cluster").inputs["vpcConfig"]

    assert vpc_config["endpointPrivateAccess"] is True
    assert vpc_config["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc_config


def test_public_endpoint_is_restricted_to_the_listed_cidrs():
    run = run_program("aws", aws(cluster={"endpoint": {"publicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}}))
    vpc_config = one(run, "aws:eks/cluster:Cluster").inputs["vpcConfig"]

    assert vpc_config["endpointPublicAccess"] is True
    assert vpc_config["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_eks_uses_api_access_entries_for_the_deployer_by_default(aws_run):
    cluster = one(aws_run, "aws:eks/cluster:Cluster")
    entry = one(aws_run, "aws:eks/accessEntry:AccessEntry")
    association = one(aws_run, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")

    assert cluster.inputs["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert cluster.inputs["version"] == "1.35"
    assert entry.inputs["principalArn"] == "arn:aws:iam::123456789012:role/platform-deployer"
    assert association.inputs["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")


def test_configured_admin_roles_replace_the_deployer():
    roles = ["arn:aws:iam::123456789012:role/ci", "arn:aws:iam::123456789012:role/oncall"]
    run = run_program("aws", aws(cluster={"adminRoleArns": roles}))

    assert sorted(e.inputs["principalArn"] for e in run.of_type("aws:eks/accessEntry:AccessEntry")) == roles


def test_node_group_runs_in_private_subnets_with_an_imdsv2_launch_template(aws_run):
    group = one(aws_run, "aws:eks/nodeGroup:NodeGroup")
    template = one(aws_run, "aws:ec2/launchTemplate:LaunchTemplate")
    private_ids = {s.id for s in aws_run.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}

    assert set(group.inputs["subnetIds"]) == private_ids
    assert group.inputs["launchTemplate"]["id"] == template.id
    assert template.inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}
    [device] = template.inputs["blockDeviceMappings"]
    assert device["ebs"]["encrypted"] == "true" and device["ebs"]["volumeType"] == "gp3"
    assert group.inputs["scalingConfig"] == {"minSize": 3, "desiredSize": 3, "maxSize": 5}
    assert group.inputs["capacityType"] == "ON_DEMAND"


def test_node_group_waits_for_its_role_policies_and_leaves_desired_size_to_the_autoscaler(aws_run):
    group = one(aws_run, "aws:eks/nodeGroup:NodeGroup")
    attachments = {r.urn for r in aws_run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if "-node-" in r.name}

    assert len(attachments) == 3 and attachments <= set(group.dependencies)
    assert group.ignore_changes == ("scalingConfig.desiredSize",)


def test_spot_capacity_and_sizes_are_configurable():
    run = run_program("aws", aws(cluster={"nodeGroup": {"capacityType": "SPOT", "instanceTypes": ["m6i.large", "m5.large"], "minSize": 1, "desiredSize": 1, "maxSize": 3}}))
    group = one(run, "aws:eks/nodeGroup:NodeGroup")

    assert group.inputs["capacityType"] == "SPOT"
    assert group.inputs["instanceTypes"] == ["m6i.large", "m5.large"]
    assert group.inputs["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 3}


def test_oidc_provider_and_ebs_csi_irsa_role_are_scoped_to_its_service_account(aws_run):
    oidc = one(aws_run, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    addon = one(aws_run, "aws:eks/addon:Addon")
    role = aws_run.named("platform-cluster-ebs-csi-irsa")
    trust = json.loads(role.inputs["assumeRolePolicy"])

    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert addon.inputs["addonName"] == "aws-ebs-csi-driver"
    assert addon.inputs["serviceAccountRoleArn"] == role.outputs["arn"]
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"Federated": oidc.outputs["arn"]}
    conditions = statement["Condition"]["StringEquals"]
    issuer = oidc.inputs["url"].removeprefix("https://")
    assert conditions == {f"{issuer}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa", f"{issuer}:aud": "sts.amazonaws.com"}


def test_gp3_default_storage_class_is_encrypted(aws_run):
    sc = one(aws_run, "kubernetes:storage.k8s.io/v1:StorageClass")
    [provider] = aws_run.of_type("pulumi:providers:kubernetes")

    assert sc.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc.inputs["parameters"] == {"type": "gp3", "encrypted": "true", "fsType": "ext4"}
    assert sc.inputs["provisioner"] == "ebs.csi.aws.com"
    assert sc.inputs["reclaimPolicy"] == "Retain"
    assert sc.provider == provider.urn


def test_kubeconfig_is_secret_and_authenticates_with_aws_eks_get_token(aws_run):
    [provider] = aws_run.of_type("pulumi:providers:kubernetes")
    cluster = one(aws_run, "aws:eks/cluster:Cluster")

    assert isinstance(provider.inputs["kubeconfig"], Secret)
    kubeconfig = yaml.safe_load(reveal(provider.inputs["kubeconfig"]))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == cluster.outputs["endpoint"]
    user = kubeconfig["users"][0]["user"]["exec"]
    assert user["command"] == "aws"
    assert user["args"] == ["eks", "get-token", "--cluster-name", "gitops-platform", "--region", "eu-west-1", "--output", "json"]
    assert provider.inputs["clusterIdentifier"] == cluster.outputs["arn"]


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


def test_every_aws_resource_uses_the_tagged_regional_provider(aws_run):
    provider = one(aws_run, "pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]

    assert provider.inputs["region"] == "eu-west-1"
    assert tags == {"project": "gitops-platform", "environment": "aws", "stack": "aws", "managed-by": "pulumi"}
    aws_resources = [r for r in aws_run.resources if r.type.startswith("aws:")]
    assert aws_resources and all(r.provider == provider.urn for r in aws_resources)


def test_every_aws_child_is_parented_and_typed(aws_run):
    components = {r.urn: r for r in aws_run.resources if not r.custom}

    assert {c.type for c in components.values() if c.type.startswith(ROOT_TYPES)} == {f"{ROOT_TYPES}{c}" for c in ("Platform", "EksCluster", "EcrRegistry", "MeshStack", "SecurityStack", "AutoscalingStack", "ObservabilityStack", "CertManager", "GitopsStack", "Kiali")}
    for resource in aws_run.resources:
        if resource.name != "platform":
            assert resource.parent in components, resource.name


def test_local_stack_can_use_ecr_instead_of_the_registry_container():
    run = run_program("local", local(region="us-east-1", registry={"mode": "ecr", "ecr": {"services": ["api"], "forceDelete": True}}, apps={"enabled": False}))

    assert run.of_type("docker:index/container:Container") == []
    [repo] = run.of_type("aws:ecr/repository:Repository")
    assert repo.inputs["forceDelete"] is True and not repo.protect
    assert one(run, "pulumi:providers:aws").inputs["region"] == "us-east-1"
    assert "certs.d" not in one(run, "command:local:Command").inputs["create"]
