"""components.eks: the `aws` stack under mocks — hardened EKS, its network, default tags, protection, parenting."""

from __future__ import annotations

import json

import yaml

from helpers import aws, one
from render.engine.harness import Secret, reveal, run_program

ROOT_TYPES = "gitops-platform:index:"


def test_vpc_spans_two_zones_with_public_and_private_subnets(aws_run):
    subnets = aws_run.of_type("aws:ec2/subnet:Subnet")
    public = [s for s in subnets if "-public-" in s.name]
    private = [s for s in subnets if "-private-" in s.name]

    assert len(public) == len(private) == 2
    assert {s.inputs["availabilityZone"] for s in private} == {"eu-west-1a", "eu-west-1b"}
    assert all(s.inputs["tags"]["kubernetes.io/role/elb"] == "1" for s in public)
    assert all(s.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in public)


def test_one_nat_gateway_by_default_and_one_per_zone_for_ha(aws_defaults):
    default = aws_defaults
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


