"""EcrRegistry: one ECR repository per service, scanned, immutable, encrypted, with a lifecycle policy.

    registry = EcrRegistry("registry", EcrRegistryConfig(services=["backend", "frontend"]),
                           protect=True, opts=pulumi.ResourceOptions(providers={"aws": aws_provider}))
    registry.repository_url("backend")   # -> <account>.dkr.ecr.<region>.amazonaws.com/gitops-platform/backend
    registry.grant_pull(ci_role)
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pulumi
from pydantic import Field, field_validator

from ._extras import optional_module
from .model import Model

if TYPE_CHECKING:
    import pulumi_aws as aws
else:
    aws = optional_module("pulumi_aws", "EcrRegistry")

_REPOSITORY_PART = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")

PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
"""What pulling an image takes (plus ecr:GetAuthorizationToken, which has no resource scope)."""


class EcrRegistryConfig(Model):
    """`gitops-platform:registry` on the `aws` stack (and `registry.ecr` on `local` with mode `ecr`).

    Every repository scans on push, has IMMUTABLE tags (a tag always means the same
    image) and KMS encryption; these are not switches.
    """

    repository_prefix: str = Field("gitops-platform", description="Repositories are named `<prefix>/<service>`.")
    services: list[str] = Field(default_factory=lambda: ["backend", "frontend"], min_length=1, description="One repository per service name.")
    kms_key_arn: str | None = Field(None, description="Customer-managed KMS key for the repositories; default: the AWS-managed `aws/ecr` key.")
    keep_tagged_images: int = Field(30, ge=1, le=10000, description="Lifecycle: keep the newest N tagged images per repository, expire older ones.")
    untagged_expiry_days: int = Field(7, ge=1, le=3650, description="Lifecycle: expire untagged images (build leftovers) after D days.")
    pull_account_ids: list[str] = Field(default_factory=list, description="Other AWS accounts allowed to pull (repository policy); none by default.")
    force_delete: bool = Field(False, description="Let `pulumi destroy` delete repositories that still hold images. Only allowed on `local`.")

    @field_validator("repository_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not all(_REPOSITORY_PART.match(part) for part in value.split("/")):
            raise ValueError("lowercase letters, digits and . _ - between them, '/' between parts (e.g. 'team/platform')")
        return value

    @field_validator("services")
    @classmethod
    def _services(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if not _REPOSITORY_PART.match(s)]
        if bad:
            raise ValueError(f"not repository names: {', '.join(bad)} (lowercase letters, digits and . _ - between them)")
        if len(set(value)) != len(value):
            raise ValueError("service names must be unique")
        return value

    @field_validator("kms_key_arn")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not _KMS_KEY_ARN.match(value):
            raise ValueError("expected a KMS key ARN: arn:aws:kms:<region>:<account>:key/<uuid>")
        return value

    @field_validator("pull_account_ids")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if not _ACCOUNT_ID.match(a)]
        if bad:
            raise ValueError(f"not 12-digit AWS account ids: {', '.join(bad)}")
        return value


def lifecycle_policy(config: EcrRegistryConfig) -> str:
    """The repositories' lifecycle policy document."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Expire untagged images after {config.untagged_expiry_days} days",
                    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": config.untagged_expiry_days},
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"Keep the newest {config.keep_tagged_images} tagged images",
                    "selection": {"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "imageCountMoreThan", "countNumber": config.keep_tagged_images},
                    "action": {"type": "expire"},
                },
            ]
        }
    )


class EcrRegistry(pulumi.ComponentResource):
    """ECR repositories for the platform's services.

    Each repository: scan on push; IMMUTABLE tags; KMS encryption (the AWS-managed key,
    or `kmsKeyArn`); a lifecycle policy (keep the newest N tagged, expire untagged after
    D days); a pull-only repository policy for `pullAccountIds` when given. `protect`
    keeps `pulumi destroy` from deleting them (set on `aws`).
    """

    host: pulumi.Output[str]
    """`<account>.dkr.ecr.<region>.amazonaws.com`: the registry host image references start with."""
    registry_id: pulumi.Output[str]
    """The registry id (the AWS account id)."""
    repository_urls: dict[str, pulumi.Output[str]]
    """Repository URL per service."""

    def __init__(
        self,
        name: str,
        config: EcrRegistryConfig,
        *,
        protect: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gitops-platform:index:EcrRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._repositories: dict[str, aws.ecr.Repository] = {}
        policy = lifecycle_policy(config)
        for service in config.services:
            repository = aws.ecr.Repository(
                f"{name}-{service}",
                name=f"{config.repository_prefix}/{service}",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                image_tag_mutability="IMMUTABLE",
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=config.kms_key_arn)
                ],
                force_delete=config.force_delete,
                opts=pulumi.ResourceOptions(parent=self, protect=protect),
            )
            aws.ecr.LifecyclePolicy(f"{name}-{service}", repository=repository.name, policy=policy, opts=child)
            if config.pull_account_ids:
                aws.ecr.RepositoryPolicy(
                    f"{name}-{service}",
                    repository=repository.name,
                    policy=_cross_account_pull(config.pull_account_ids),
                    opts=child,
                )
            self._repositories[service] = repository
        first = next(iter(self._repositories.values()))
        self.registry_id = first.registry_id
        self.host = first.repository_url.apply(lambda url: url.split("/", 1)[0])
        self.repository_urls = {service: repo.repository_url for service, repo in self._repositories.items()}
        self.register_outputs({"host": self.host, "registry_id": self.registry_id, "repository_urls": self.repository_urls})

    def repository_url(self, service: str) -> pulumi.Output[str]:
        """The repository URL of `service` (one of the configured services)."""
        try:
            url: pulumi.Output[str] = self._repositories[service].repository_url
            return url
        except KeyError:
            raise ValueError(
                f"no ECR repository for service {service!r}; add it to gitops-platform:registry.services "
                f"(has: {', '.join(self._repositories)})"
            ) from None

    def grant_pull(self, role: aws.iam.Role, name: str | None = None) -> aws.iam.RolePolicy:
        """Let `role` pull (never push) images from these repositories."""
        arns = [repo.arn for repo in self._repositories.values()]
        document = pulumi.Output.all(*arns).apply(
            lambda resolved: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Sid": "Pull", "Effect": "Allow", "Action": list(PULL_ACTIONS), "Resource": list(resolved)},
                        # GetAuthorizationToken cannot be scoped to a repository.
                        {"Sid": "Login", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                    ],
                }
            )
        )
        return aws.iam.RolePolicy(
            name or f"{self._name}-pull-{role._name}",
            role=role.id,
            policy=document,
            opts=pulumi.ResourceOptions(parent=self),
        )


def _cross_account_pull(accounts: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CrossAccountPull",
                    "Effect": "Allow",
                    "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in accounts]},
                    "Action": list(PULL_ACTIONS),
                }
            ],
        }
    )
