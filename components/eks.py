"""EksCluster: a hardened EKS cluster in its own VPC, built from pulumi-aws resources directly.

Every resource is a plain pulumi-aws resource (no remote eks/awsx components), so tests
and policies see all of them.

    cluster = EksCluster("eks", EksClusterConfig(), region="eu-west-1",
                         opts=pulumi.ResourceOptions(providers={"aws": aws_provider}))
    role = cluster.irsa_role("autoscaler", namespace="kube-system", service_account="cluster-autoscaler",
                             policy_arns=[...])
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import Field, field_validator, model_validator

from ._extras import optional_module
from .local_cluster import KUBERNETES_VERSION
from .model import KeyProblem, Model

if TYPE_CHECKING:
    import pulumi_aws as aws
else:
    aws = optional_module("pulumi_aws", "EksCluster")

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""All five EKS control-plane log types; every one is enabled."""

LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
"""Retention values CloudWatch Logs accepts."""

_EKS_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,99}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")

_ASSUME_ROLE = "sts:AssumeRole"


class EndpointConfig(Model):
    """Who can reach the Kubernetes API server.

    The private endpoint is always on (nodes and in-VPC runners use it). The public
    endpoint is off by default; turning it on requires the CIDRs allowed to reach it,
    and `0.0.0.0/0` additionally requires `allowPublicInternet: true`.
    """

    public_access: bool = Field(False, description="Expose the API server endpoint outside the VPC (restricted to `publicAccessCidrs`).")
    public_access_cidrs: list[str] = Field(default_factory=list, description="CIDRs allowed to reach the public endpoint (your office / CI egress).")
    allow_public_internet: bool = Field(False, description="Explicitly allow a /0 CIDR in `publicAccessCidrs`. Leave off.")

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as error:
                raise ValueError(f"{cidr!r} is not a CIDR block like 203.0.113.0/24 ({error})") from None
        return value

    @model_validator(mode="after")
    def _exposure(self) -> EndpointConfig:
        if self.public_access and not self.public_access_cidrs:
            raise KeyProblem(
                "publicAccessCidrs",
                "required when publicAccess is true: list the CIDRs allowed to reach the API server",
                [],
            )
        if not self.public_access and self.public_access_cidrs:
            raise KeyProblem("publicAccessCidrs", "only used when publicAccess is true; set publicAccess: true or remove it", self.public_access_cidrs)
        world = [c for c in self.public_access_cidrs if ipaddress.ip_network(c).prefixlen == 0]
        if world and not self.allow_public_internet:
            raise KeyProblem(
                "publicAccessCidrs",
                "opens the API server to the whole internet; list narrower CIDRs, or set allowPublicInternet: true to accept that",
                self.public_access_cidrs,
            )
        return self


class NodeGroupConfig(Model):
    """The managed node group (private subnets, IMDSv2 only, encrypted gp3 root volumes)."""

    instance_types: list[str] = Field(default_factory=lambda: ["m6i.large"], min_length=1, description="EC2 instance types (several make spot capacity likelier).")
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field("ON_DEMAND", description="`ON_DEMAND`, or `SPOT` for cost at the risk of interruptions.")
    min_size: int = Field(
        3, ge=1, le=100,
        description="Minimum nodes: 3, because Vault's raft and Loki's writers run 3 replicas with required host anti-affinity (one per node).",
    )
    desired_size: int = Field(3, ge=1, le=100, description="Nodes at creation; afterwards the cluster autoscaler owns it (changes are ignored).")
    max_size: int = Field(5, ge=1, le=100, description="Maximum nodes the autoscaler may add.")
    disk_size_gib: int = Field(50, ge=20, le=16384, description="Root volume size (gp3, encrypted).")

    @field_validator("instance_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not _INSTANCE_TYPE.match(t)]
        if bad:
            raise ValueError(f"not EC2 instance types: {', '.join(bad)} (expected e.g. m6i.large)")
        return value

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroupConfig:
        if self.min_size > self.max_size:
            raise KeyProblem("minSize", f"must be at most maxSize ({self.max_size})", self.min_size)
        if not self.min_size <= self.desired_size <= self.max_size:
            raise KeyProblem("desiredSize", f"must be between minSize ({self.min_size}) and maxSize ({self.max_size})", self.desired_size)
        return self


class EksClusterConfig(Model):
    """`gitops-platform:cluster` on the `aws` stack."""

    name: str = Field("gitops-platform", description="EKS cluster name (also names its log group).")
    kubernetes_version: str = Field(KUBERNETES_VERSION, description="Pinned Kubernetes minor version; upgrades are deliberate config changes.")
    vpc_cidr: str = Field("10.0.0.0/16", description="VPC CIDR; subnets are carved from it unless given.")
    availability_zones: int = Field(2, ge=2, le=4, description="How many AZs the subnets span (at least 2, so one zone can fail).")
    public_subnet_cidrs: list[str] | None = Field(None, description="One CIDR per AZ for load balancers and NAT gateways; default: carved from vpcCidr.")
    private_subnet_cidrs: list[str] | None = Field(None, description="One CIDR per AZ for nodes and pods; default: carved from vpcCidr.")
    nat_gateways: int = Field(1, ge=1, le=4, description="NAT gateways: 1 for cost, one per AZ (= availabilityZones) for zone-independent egress.")
    endpoint: EndpointConfig = Field(default_factory=EndpointConfig, description="API server endpoint exposure.")
    admin_role_arns: list[str] = Field(
        default_factory=list,
        description="IAM roles granted cluster admin through access entries. Empty: the identity running Pulumi. "
        "When set, include every identity that runs `pulumi up` (CI and people).",
    )
    log_retention_days: int = Field(90, description="Retention of the control-plane log group.")
    node_group: NodeGroupConfig = Field(default_factory=NodeGroupConfig, description="The managed node group.")
    ebs_csi_version: str | None = Field(None, description="EBS CSI add-on version; default: EKS's default for the cluster version at creation.")
    storage_reclaim_policy: Literal["Retain", "Delete"] = Field("Retain", description="Reclaim policy of the default gp3 StorageClass: `Retain` keeps volumes when a PVC is deleted.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _EKS_NAME.match(value):
            raise ValueError("must start with a letter or digit and contain only letters, digits, '-' and '_' (at most 100)")
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"1\.\d{2}", value):
            raise ValueError("expected a Kubernetes minor version like 1.35 (EKS picks the patch release)")
        return value

    @field_validator("ebs_csi_version")
    @classmethod
    def _addon_version(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", value):
            raise ValueError("expected an EKS add-on version like v1.40.0-eksbuild.1 (aws eks describe-addon-versions)")
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_cidr(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            raise ValueError(f"not an IPv4 CIDR block ({error})") from None
        if not 16 <= network.prefixlen <= 20:
            raise ValueError("VPC CIDR prefix must be between /16 and /20")
        return value

    @field_validator("admin_role_arns")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if not _ROLE_ARN.match(a)]
        if bad:
            raise ValueError(f"not IAM role ARNs: {', '.join(bad)} (expected arn:aws:iam::<account>:role/<name>)")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch accepts only {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value

    @model_validator(mode="after")
    def _network(self) -> EksClusterConfig:
        if self.nat_gateways > self.availability_zones:
            raise KeyProblem("natGateways", f"at most one per AZ ({self.availability_zones})", self.nat_gateways)
        vpc = ipaddress.IPv4Network(self.vpc_cidr)
        for key, cidrs in (("publicSubnetCidrs", self.public_subnet_cidrs), ("privateSubnetCidrs", self.private_subnet_cidrs)):
            if cidrs is None:
                continue
            if len(cidrs) != self.availability_zones:
                raise KeyProblem(key, f"needs exactly one CIDR per AZ ({self.availability_zones})", cidrs)
            for cidr in cidrs:
                try:
                    network = ipaddress.IPv4Network(cidr, strict=True)
                except ValueError as error:
                    raise KeyProblem(key, f"{cidr!r} is not an IPv4 CIDR block ({error})", cidrs) from None
                if not network.subnet_of(vpc):
                    raise KeyProblem(key, f"{cidr} is outside vpcCidr {vpc}", cidrs)
        # Configured subnets must not overlap each other or the defaults carved for the rest.
        public, private = self.subnet_cidrs()
        seen: list[ipaddress.IPv4Network] = []
        for key, cidrs in (("publicSubnetCidrs", public), ("privateSubnetCidrs", private)):
            for cidr in cidrs:
                network = ipaddress.IPv4Network(cidr)
                clash = next((c for c in seen if network.overlaps(c)), None)
                if clash is not None:
                    given = self.public_subnet_cidrs if key == "publicSubnetCidrs" else self.private_subnet_cidrs
                    blame = key if given is not None else ("privateSubnetCidrs" if key == "publicSubnetCidrs" else "publicSubnetCidrs")
                    raise KeyProblem(blame, f"{cidr} overlaps {clash}; give non-overlapping CIDRs", given or cidrs)
                seen.append(network)
        return self

    def subnet_cidrs(self) -> tuple[list[str], list[str]]:
        """(public, private) CIDRs: as configured, or carved from the VPC CIDR.

        Private subnets (nodes and pods: they need the addresses) take the first eighths
        of the VPC, one per AZ; public subnets (load balancers, NAT) share the last eighth.
        """
        eighths = list(ipaddress.IPv4Network(self.vpc_cidr).subnets(prefixlen_diff=3))
        n = self.availability_zones
        private = [str(c) for c in eighths[:n]]
        public = [str(c) for c in list(eighths[-1].subnets(prefixlen_diff=3))[:n]]
        return (self.public_subnet_cidrs or public, self.private_subnet_cidrs or private)


class EksCluster(pulumi.ComponentResource):
    """A hardened EKS cluster: private nodes, encrypted secrets, full audit logging, IRSA.

    - VPC over `availabilityZones` AZs with public subnets (load balancers, NAT) and
      private subnets (nodes), tagged for load-balancer discovery.
    - Secrets envelope-encrypted with a rotating KMS key (protected); all five
      control-plane log types to a log group with bounded retention; API endpoint
      private, or public only to listed CIDRs; API authentication mode with access
      entries for the deploying identity and `adminRoleArns`; deletion protection.
    - A managed node group in the private subnets whose launch template requires
      IMDSv2 with hop limit 1 (pods cannot borrow the node's credentials) and
      encrypted gp3 root volumes.
    - An OIDC provider for IRSA (`irsa_role`), the EBS CSI add-on with its own IRSA
      role, and an encrypted gp3 default StorageClass.
    """

    provider: k8s.Provider
    """Kubernetes provider for in-cluster resources."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig (secret) that gets a token with `aws eks get-token`."""
    cluster_name: pulumi.Output[str]
    """EKS cluster name."""
    oidc_provider_arn: pulumi.Output[str]
    """ARN of the cluster's IAM OIDC provider (IRSA)."""
    oidc_provider_url: pulumi.Output[str]
    """Issuer URL without scheme, as used in IRSA trust-policy conditions."""
    irsa_roles: dict[str, tuple[pulumi.Output[str], str, str]]
    """Every IRSA role made so far: role -> (ARN, namespace, service account)."""
    node_role: aws.iam.Role
    """IAM role of the nodes."""
    vpc_id: pulumi.Output[str]
    """VPC id."""
    public_subnet_ids: list[pulumi.Output[str]]
    """Public subnet ids, one per AZ."""
    private_subnet_ids: list[pulumi.Output[str]]
    """Private subnet ids, one per AZ."""
    node_group_name: pulumi.Output[str]
    """Managed node group name (its autoscaling group carries the cluster-autoscaler tags)."""

    def __init__(self, name: str, config: EksClusterConfig, *, region: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gitops-platform:index:EksCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Invokes run through this component's (explicit, region-pinned) AWS provider.
        self._invoke = pulumi.InvokeOptions(parent=self)
        self._partition = aws.get_partition_output(opts=self._invoke).partition
        self._network(name, config, child)
        cluster = self._control_plane(name, config, child)
        # IRSA: pods assume IAM roles through the cluster's OIDC issuer.
        issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        oidc = aws.iam.OpenIdConnectProvider(f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], opts=child)
        self.irsa_roles = {}
        self.oidc_provider_arn = oidc.arn
        self.oidc_provider_url = issuer.apply(lambda url: url.removeprefix("https://"))
        node_group = self._nodes(name, config, cluster, child)
        self._ebs_csi(name, config, cluster, node_group)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
                lambda args: _kubeconfig(*args, region=region)
            )
        )
        # The cluster ARN identifies the cluster: a new endpoint or CA in the kubeconfig
        # updates the provider instead of replacing every in-cluster resource.
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, cluster_identifier=cluster.arn, opts=child)
        k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="gp3", annotations={"storageclass.kubernetes.io/is-default-class": "true"}
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4"},
            reclaim_policy=config.storage_reclaim_policy,
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )

        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "cluster_name": self.cluster_name,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_provider_url": self.oidc_provider_url,
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "node_group_name": self.node_group_name,
            }
        )

    def _control_plane(self, name: str, config: EksClusterConfig, child: pulumi.ResourceOptions) -> aws.eks.Cluster:
        """The KMS key for secrets, the cluster role, its log group, the cluster and its access entries."""
        key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"EKS {config.name}: envelope encryption of Kubernetes secrets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        aws.kms.Alias(f"{name}-secrets-key-alias", name=f"alias/eks/{config.name}-secrets", target_key_id=key.key_id, opts=child)
        cluster_role = aws.iam.Role(f"{name}-cluster-role", assume_role_policy=_service_trust("eks.amazonaws.com"), opts=child)
        aws.iam.RolePolicyAttachment(f"{name}-cluster-policy", role=cluster_role.name, policy_arn=self._managed_policy("AmazonEKSClusterPolicy"), opts=child)
        # EKS writes to /aws/eks/<name>/cluster; creating it first bounds its retention
        # (EKS would otherwise create it with logs kept forever).
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/eks/{config.name}/cluster", retention_in_days=config.log_retention_days, opts=child
        )
        endpoint = config.endpoint
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=config.name,
            version=config.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                # Control-plane ENIs go in the private subnets only.
                subnet_ids=self.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=endpoint.public_access,
                public_access_cidrs=endpoint.public_access_cidrs if endpoint.public_access else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn), resources=["secrets"]
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=False
            ),
            deletion_protection=True,
            # The log group is referenced by name, not by an Output: wait for it explicitly.
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=[log_group]),
        )
        self.cluster_name = cluster.name
        self._access_entries(name, config, cluster, child)
        return cluster

    def _nodes(self, name: str, config: EksClusterConfig, cluster: aws.eks.Cluster, child: pulumi.ResourceOptions) -> aws.eks.NodeGroup:
        """The node role and the managed node group (IMDSv2 only, encrypted gp3 root volumes) in the private subnets."""
        self.node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=_service_trust("ec2.amazonaws.com"), opts=child)
        node_policies = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=self.node_role.name, policy_arn=self._managed_policy(policy), opts=child)
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly")
        ]
        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-nodes-lt",
            description=f"EKS {config.name} nodes: IMDSv2 only, encrypted gp3 root volume",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=config.node_group.disk_size_gib, volume_type="gp3", encrypted="true", delete_on_termination="true"
                    ),
                )
            ],
            update_default_version=True,
            opts=child,
        )
        groups = config.node_group
        node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=cluster.name,
            node_role_arn=self.node_role.arn,
            subnet_ids=self.private_subnet_ids,
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type=groups.capacity_type,
            instance_types=groups.instance_types,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=groups.min_size, desired_size=groups.desired_size, max_size=groups.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=launch_template.id, version=launch_template.latest_version.apply(str)),
            opts=pulumi.ResourceOptions(
                parent=self,
                # Nodes cannot join before their role has the worker policies.
                depends_on=node_policies,
                # The cluster autoscaler owns the node count after creation; a diff on it
                # would scale the group back on every `pulumi up`.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        self.node_group_name = node_group.node_group_name
        return node_group

    def _ebs_csi(self, name: str, config: EksClusterConfig, cluster: aws.eks.Cluster, node_group: aws.eks.NodeGroup) -> None:
        """The EBS CSI add-on with its IRSA role (persistent volumes)."""
        ebs_role = self.irsa_role(
            "ebs-csi",
            namespace="kube-system",
            service_account="ebs-csi-controller-sa",
            policy_arns=[self._managed_policy("service-role/AmazonEBSCSIDriverPolicy")],
        )
        aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=cluster.name,
            addon_name="aws-ebs-csi-driver",
            addon_version=config.ebs_csi_version,
            service_account_role_arn=ebs_role.arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            # The add-on's controller needs nodes to run on before it reports ACTIVE.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[node_group]),
        )

    def _network(self, name: str, config: EksClusterConfig, child: pulumi.ResourceOptions) -> None:
        public_cidrs, private_cidrs = config.subnet_cidrs()
        zone_names = aws.get_availability_zones_output(state="available", opts=self._invoke).names.apply(
            lambda names: _enough_zones(names, config.availability_zones)
        )
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=config.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True, opts=child)
        self.vpc_id = vpc.id
        cluster_tag = f"kubernetes.io/cluster/{config.name}"
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id, routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)], opts=child
        )
        public, private = [], []
        for i in range(config.availability_zones):
            zone = zone_names.apply(lambda names, i=i: names[i])
            subnet = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=public_cidrs[i],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{config.name}-public-{i}", "kubernetes.io/role/elb": "1", cluster_tag: "shared"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child)
            public.append(subnet)
            private.append(
                aws.ec2.Subnet(
                    f"{name}-private-{i}",
                    vpc_id=vpc.id,
                    cidr_block=private_cidrs[i],
                    availability_zone=zone,
                    tags={"Name": f"{config.name}-private-{i}", "kubernetes.io/role/internal-elb": "1", cluster_tag: "shared"},
                    opts=child,
                )
            )
        nats = []
        for i in range(config.nat_gateways):
            eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", opts=child)
            nats.append(aws.ec2.NatGateway(f"{name}-nat-{i}", allocation_id=eip.id, subnet_id=public[i].id, opts=child))
        for i, subnet in enumerate(private):
            # With fewer NAT gateways than zones, zones share them round-robin.
            route_table = aws.ec2.RouteTable(
                f"{name}-private-rt-{i}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[i % len(nats)].id)],
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=subnet.id, route_table_id=route_table.id, opts=child)
        self.public_subnet_ids = [s.id for s in public]
        self.private_subnet_ids = [s.id for s in private]

    def _access_entries(self, name: str, config: EksClusterConfig, cluster: aws.eks.Cluster, child: pulumi.ResourceOptions) -> None:
        # Cluster admins are exactly `adminRoleArns`. Without them, the identity running
        # Pulumi (an assumed-role session mapped back to its IAM role) is the admin, so a
        # first `pulumi up` can deploy into the cluster. Teams where several identities
        # deploy (CI and people) list them all, or the entry would follow whoever ran last.
        principals: list[tuple[str, pulumi.Input[str]]]
        if config.admin_role_arns:
            principals = [(f"admin-{i}", arn) for i, arn in enumerate(config.admin_role_arns)]
        else:
            caller = aws.get_caller_identity_output(opts=self._invoke)
            principals = [("deployer", aws.iam.get_session_context_output(arn=caller.arn, opts=self._invoke).issuer_arn)]
        for role, principal in principals:
            entry = aws.eks.AccessEntry(f"{name}-{role}", cluster_name=cluster.name, principal_arn=principal, type="STANDARD", opts=child)
            aws.eks.AccessPolicyAssociation(
                f"{name}-{role}-admin",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=self._partition.apply(lambda p: f"arn:{p}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child,
            )

    def _managed_policy(self, name: str) -> pulumi.Output[str]:
        """ARN of an AWS managed policy in the provider's partition."""
        arn: pulumi.Output[str] = self._partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{name}")
        return arn

    def irsa_role(
        self,
        role: str,
        *,
        namespace: str,
        service_account: str,
        policy_arns: Sequence[pulumi.Input[str]] = (),
        policy: pulumi.Input[str] | None = None,
    ) -> aws.iam.Role:
        """An IAM role that only `namespace/service_account` can assume (IRSA).

        Attach managed `policy_arns` and/or an inline `policy` (JSON). The role ARN goes
        into the service account's `eks.amazonaws.com/role-arn` annotation.
        """
        child = pulumi.ResourceOptions(parent=self)
        trust = pulumi.Output.all(self.oidc_provider_arn, self.oidc_provider_url).apply(
            lambda args: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Federated": args[0]},
                            "Action": "sts:AssumeRoleWithWebIdentity",
                            "Condition": {
                                "StringEquals": {
                                    f"{args[1]}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                    f"{args[1]}:aud": "sts.amazonaws.com",
                                }
                            },
                        }
                    ],
                }
            )
        )
        iam_role = aws.iam.Role(f"{self._name}-{role}-irsa", assume_role_policy=trust, opts=child)
        for i, arn in enumerate(policy_arns):
            aws.iam.RolePolicyAttachment(f"{self._name}-{role}-irsa-{i}", role=iam_role.name, policy_arn=arn, opts=child)
        if policy is not None:
            aws.iam.RolePolicy(f"{self._name}-{role}-irsa", role=iam_role.id, policy=policy, opts=child)
        self.irsa_roles[role] = (iam_role.arn, namespace, service_account)
        return iam_role


def _service_trust(service: str) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": _ASSUME_ROLE}]}
    )


def _enough_zones(names: list[str], wanted: int) -> list[str]:
    if len(names) < wanted:
        raise pulumi.RunError(
            f"the region offers {len(names)} available AZs; lower gitops-platform:cluster.availabilityZones to {len(names)} or pick another region"
        )
    return sorted(names)[:wanted]


def _kubeconfig(name: str, endpoint: str, ca: str, *, region: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        },
        sort_keys=False,
    )
