"""AWS rules: ECR, EKS, IAM, and protection of stateful resources."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, Severity, StackValidationArgs

from .common import resource_policy, stack_policy

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
IAM_DOCUMENTS = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
STATEFUL = frozenset({EKS_CLUSTER, "aws:kms/key:Key", REPOSITORY, "kubernetes:core/v1:PersistentVolumeClaim"})


def _repo(obj: Mapping[str, Any]) -> str:
    return f"ECR repository {obj.get('name') or '?'}"


def check_scan_on_push(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if (obj.get("imageScanningConfiguration") or {}).get("scanOnPush") is True:
        return []
    return [f"{_repo(obj)} does not scan on push; set imageScanningConfiguration.scanOnPush: true"]


def check_immutable(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if obj.get("imageTagMutability") == "IMMUTABLE":
        return []
    return [f"{_repo(obj)} has mutable tags; set imageTagMutability: IMMUTABLE so a tag always means one image"]


def check_kms(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    configs = obj.get("encryptionConfigurations") or []
    if configs and all((c or {}).get("encryptionType") == "KMS" for c in configs):
        return []
    return [f"{_repo(obj)} is not KMS-encrypted; set encryptionConfigurations: [{{encryptionType: KMS}}]"]


def validate_lifecycle(args: StackValidationArgs, report: ReportViolation) -> None:
    covered_urns: set[str] = set()
    covered_names: set[str] = set()
    for r in args.resources:
        if r.resource_type == LIFECYCLE_POLICY:
            covered_names.add(str(r.props.get("repository")))
            covered_urns.update(dep.urn for dep in r.property_dependencies.get("repository", []))
    for r in args.resources:
        if r.resource_type == REPOSITORY and r.urn not in covered_urns and r.props.get("name") not in covered_names:
            report(f"{_repo(r.props)} has no lifecycle policy; add an aws.ecr.LifecyclePolicy (EcrRegistry does)", r.urn)


def check_secrets_encryption(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    encryption = obj.get("encryptionConfig") or {}
    if "secrets" in (encryption.get("resources") or []) and (encryption.get("provider") or {}).get("keyArn"):
        return []
    return [f"EKS cluster {obj.get('name') or '?'} does not encrypt secrets with KMS; set encryptionConfig {{resources: [secrets], provider.keyArn}}"]


def check_log_types(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    missing = [t for t in LOG_TYPES if t not in (obj.get("enabledClusterLogTypes") or [])]
    if not missing:
        return []
    return [f"EKS cluster {obj.get('name') or '?'} does not log {missing}; enable all of {list(LOG_TYPES)} in enabledClusterLogTypes"]


def check_endpoint(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    vpc = obj.get("vpcConfig") or {}
    # AWS defaults: public access on, open to 0.0.0.0/0.
    if vpc.get("endpointPublicAccess", True) is False:
        return []
    cidrs = vpc.get("publicAccessCidrs") or ["0.0.0.0/0"]
    open_to_all = [c for c in cidrs if ipaddress.ip_network(str(c), strict=False).prefixlen == 0]
    if not open_to_all:
        return []
    return [
        f"EKS cluster {obj.get('name') or '?'} exposes its API endpoint to the whole internet; "
        "turn off endpointPublicAccess or restrict publicAccessCidrs"
    ]


def check_imdsv2(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if (obj.get("metadataOptions") or {}).get("httpTokens") == "required":
        return []
    return [f"launch template {obj.get('name') or obj.get('description') or '?'} allows IMDSv1; set metadataOptions.httpTokens: required"]


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def admin_statements(document: Any) -> list[dict[str, Any]]:
    """Allow statements granting every action on every resource."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    statements = _listify((document or {}).get("Statement") or [])
    return [
        s
        for s in statements
        if isinstance(s, dict)
        and s.get("Effect") == "Allow"
        and "*" in _listify(s.get("Action"))
        and "*" in _listify(s.get("Resource"))
    ]


def check_iam_wildcards(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    documents = [obj.get("policy")] + [p.get("policy") for p in obj.get("inlinePolicies") or [] if isinstance(p, dict)]
    if any(admin_statements(d) for d in documents if d):
        return [f"IAM policy {obj.get('name') or '?'} allows Action * on Resource *; list the actions and resources it needs"]
    return []


def _stateful(resource: Any) -> bool:
    if resource.resource_type in STATEFUL:
        return True
    if resource.resource_type == "kubernetes:apps/v1:StatefulSet":
        return bool((resource.props.get("spec") or {}).get("volumeClaimTemplates"))
    return False


def validate_protected(args: StackValidationArgs, report: ReportViolation) -> None:
    # Data safety is an aws concern: a stack is an aws stack when it runs an EKS cluster.
    if not any(r.resource_type == EKS_CLUSTER for r in args.resources):
        return
    for r in args.resources:
        if _stateful(r) and not r.opts.protect:
            report(f"{r.resource_type} {r.name} holds data but is not protected; set protect=True (ResourceOptions)", r.urn)


POLICIES = [
    resource_policy("ecr-repository-scan-on-push", "ECR repositories scan every pushed image.", types=frozenset({REPOSITORY}), check=check_scan_on_push, severity=Severity.HIGH,
                    remediation="Set imageScanningConfiguration.scanOnPush: true (EcrRegistry always does)."),
    resource_policy("ecr-repository-immutable-tags", "ECR image tags are immutable.", types=frozenset({REPOSITORY}), check=check_immutable, severity=Severity.HIGH,
                    remediation="Set imageTagMutability: IMMUTABLE and tag images by content hash or commit SHA."),
    resource_policy("ecr-repository-kms-encryption", "ECR repositories are encrypted with KMS.", types=frozenset({REPOSITORY}), check=check_kms, severity=Severity.MEDIUM,
                    remediation="Set encryptionConfigurations to KMS (the AWS-managed key or your own)."),
    stack_policy("ecr-repository-lifecycle-policy", "Every ECR repository has a lifecycle policy, so old and untagged images expire.", validate=validate_lifecycle,
                 reads=frozenset({REPOSITORY, LIFECYCLE_POLICY}), severity=Severity.LOW,
                 remediation="Add an aws.ecr.LifecyclePolicy for the repository (EcrRegistry adds one per repository)."),
    resource_policy("eks-cluster-secrets-encryption", "EKS envelope-encrypts Kubernetes secrets with KMS.", types=frozenset({EKS_CLUSTER}), check=check_secrets_encryption, severity=Severity.HIGH,
                    remediation="Set encryptionConfig with resources [secrets] and a KMS key ARN (EksCluster does)."),
    resource_policy("eks-cluster-all-log-types", "EKS ships all five control-plane log types.", types=frozenset({EKS_CLUSTER}), check=check_log_types, severity=Severity.MEDIUM,
                    remediation="Enable api, audit, authenticator, controllerManager and scheduler logs."),
    resource_policy("eks-cluster-endpoint-not-public", "The EKS API endpoint is not open to the whole internet.", types=frozenset({EKS_CLUSTER}), check=check_endpoint, severity=Severity.CRITICAL,
                    remediation="Set endpointPublicAccess false, or list the CIDRs that may reach it in publicAccessCidrs."),
    resource_policy("eks-launchtemplate-imdsv2", "Node launch templates require IMDSv2.", types=frozenset({"aws:ec2/launchTemplate:LaunchTemplate"}), check=check_imdsv2, severity=Severity.HIGH,
                    remediation="Set metadataOptions.httpTokens: required (and httpPutResponseHopLimit: 1 so pods cannot reach the node's credentials)."),
    resource_policy("iam-policy-no-admin-wildcard", "No IAM policy allows every action on every resource.", types=frozenset({*IAM_DOCUMENTS, "aws:iam/role:Role"}), check=check_iam_wildcards, severity=Severity.CRITICAL,
                    remediation="Replace Action * / Resource * with the actions and ARNs the principal needs."),
    stack_policy("aws-stateful-resources-protected", "On aws, resources that hold data (EKS cluster, KMS keys, ECR repositories, PVC-backed stores) are protected from deletion.", validate=validate_protected,
                 reads=frozenset({"kubernetes:apps/v1:StatefulSet"}), severity=Severity.HIGH,
                 remediation="Set protect=True on the resource; unprotect deliberately (`pulumi state unprotect`) before removing it."),
]
