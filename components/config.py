"""Typed stack configuration: the `gitops-platform:` namespace of `Pulumi.<stack>.yaml`.

Every key under the namespace is validated into a frozen pydantic model before the
first resource is registered. A bad configuration stops the program with one
`ConfigError` that lists every bad key path as it is written in the stack file, the
value given and what is allowed.

    config = parse_config({"environment": "local", "cluster": {"workers": 1}})
    platform = Platform("platform", config)

Component models live beside their components (`LocalClusterConfig` in
`local_cluster.py`, ...) on the base in `model.py`; this module holds the
per-environment `PlatformConfig`. Reading it from a stack is the program's job
(`program.load_config`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast, get_args, get_origin

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .apps import SampleAppsConfig
from .autoscaling import AutoscalingStackConfig
from .certificates import TlsConfig
from .delivery import RolloutsConfig
from .ecr import EcrRegistryConfig
from .eks import EksClusterConfig
from .gitops import GitopsConfig
from .local_cluster import LocalClusterConfig
from .local_registry import LocalRegistryConfig
from .mesh import MeshConfig
from .model import MISSING, KeyProblem, Model, ProfiledModel
from .observability import ObservabilityConfig
from .security import SecurityConfig

NAMESPACE = "gitops-platform"
"""The Pulumi config namespace (= project name) every platform key lives under."""


NOT_A_VALUE: Any = type("NotAValue", (), {"__repr__": lambda self: "NOT_A_VALUE"})()
"""A problem about the stack file itself (a duplicate key): no value to show."""


class Problem(BaseModel):
    """One bad key: its path as written in the stack file, the value given, what is allowed."""

    model_config = ConfigDict(frozen=True)
    path: str
    value: Any
    message: str

    def __str__(self) -> str:
        if self.value is NOT_A_VALUE:
            return f"{self.path}: {self.message}"
        return f"{self.path}: {self.message} (got {_show(self.value)})"


class ConfigError(pulumi.RunError):
    """The stack configuration is invalid. Raised before any resource is registered.

    A `pulumi.RunError`, so the engine prints the message without a Python traceback.
    """

    def __init__(self, problems: Sequence[Problem], source: str) -> None:
        self.problems = list(problems)
        self.source = source
        lines = [f"invalid configuration in {source} ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append(
            "Fix each key above in the stack file or with "
            f"`pulumi config set --path '{NAMESPACE}:<key>' <value>`; every key: docs/reference/configuration.md."
        )
        super().__init__("\n".join(lines))


def _top_level(path: str) -> str:
    """`observability` of `gitops-platform:observability.alerting.pager`."""
    return path.split(":", 1)[-1].split(".", 1)[0].split("[", 1)[0]


def _show(value: Any) -> str:
    if value == "[secret]":
        return "[secret]"
    if value is MISSING:
        return "nothing: the key is missing"
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _alias(model: type[BaseModel], field: str) -> str:
    info = model.model_fields[field]
    return info.alias or field


def _allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str] | None:
    """The camelCase keys accepted at `loc` (the location of the unknown key's parent)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next(
            (f for n, f in current.model_fields.items() if part in (n, f.alias)), None
        )
        if field is None:
            return None
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(_alias(current, n) for n in current.model_fields)
    return None


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside Optional[...] / list[...] / Annotated[...], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _path(loc: Sequence[str | int]) -> str:
    text = f"{NAMESPACE}:"
    for i, part in enumerate(loc):
        if part == "[key]":  # pydantic marks errors in a mapping's keys this way
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if i else "") + part
    return text


def config_problems(error: ValidationError, model: type[BaseModel]) -> list[Problem]:
    problems = []
    for err in error.errors(include_url=False):
        loc = [p for p in err["loc"]]
        value = err.get("input", MISSING)
        kind = err["type"]
        message = err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, KeyProblem):
            loc += cause.key.split(".")
            value = cause.value
            message = cause.message
        elif kind == "missing":
            value = MISSING
            message = "required key is missing"
        elif kind == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            message = "unknown key" + (f"; allowed keys here: {', '.join(allowed)}" if allowed else "")
        else:
            message = message.removeprefix("Value error, ")
            message = message.replace("Input should be", "expected", 1)
        problems.append(Problem(path=_path(loc), value=value, message=message))
    return problems


# --- per-environment platform configuration -------------------------------------------

_AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


def _check_region(value: str | None) -> str | None:
    if value is not None and not _AWS_REGION.match(value):
        raise ValueError("expected an AWS region name like eu-west-1")
    return value


class LocalPlatformConfig(ProfiledModel):
    """The `local` environment: a kind cluster (or an existing context) and a local registry."""

    environment: Literal["local"] = Field(
        description="Which environment this stack builds: `local` (kind + local registry)."
    )
    cluster: LocalClusterConfig = Field(
        default_factory=LocalClusterConfig,
        description="The Kubernetes cluster: a kind cluster created by the program, or an existing kubeconfig context.",
    )
    registry: LocalRegistryConfig = Field(
        default_factory=LocalRegistryConfig,
        description="Where images are pushed and pulled from: a registry container on the kind network, or an external one.",
    )

    region: str | None = Field(None, description="AWS region of the ECR repositories; only with registry.mode `ecr` (required there).")
    mesh: MeshConfig = Field(description="Istio service mesh (local profile: single replicas, small requests).")
    security: SecurityConfig = Field(description="Trivy, Gatekeeper, Falco, Vault, namespace hardening (local profile).")
    autoscaling: AutoscalingStackConfig = Field(description="metrics-server, KEDA, VPA (local profile).")
    observability: ObservabilityConfig = Field(description="Prometheus, Alertmanager, Grafana, Loki, Jaeger (local profile).")
    apps: SampleAppsConfig = Field(description="The sample backend and frontend (on by default on local).")
    tls: TlsConfig = Field(description="cert-manager and the platform CA (local profile: the platform CA signs the gateway too).")
    rollouts: RolloutsConfig = Field(description="The Argo Rollouts controller (local profile: 1 replica).")
    gitops: GitopsConfig = Field(description="Argo CD and the GitOps hand-off (local profile: UI at argocd.localtest.me).")
    _region = field_validator("region")(_check_region)

    @model_validator(mode="after")
    def _registry_reachable_from_cluster(self) -> LocalPlatformConfig:
        _apps_need_mesh(self)
        _tls_rules(self)
        _rollouts_rules(self)
        _gitops_rules(self)
        if self.registry.mode == "ecr" and self.region is None:
            raise KeyProblem("region", "required when registry.mode is `ecr`: the AWS region of the repositories, e.g. eu-west-1")
        if self.registry.mode != "ecr" and self.region is not None:
            raise KeyProblem("region", "only used when registry.mode is `ecr` on the local stack; remove it", self.region)
        if self.registry.mode == "container" and self.cluster.mode != "kind":
            raise KeyProblem(
                "registry.mode",
                "a registry container is trusted only by a kind cluster this program creates; "
                "with cluster.mode `existing` set registry.mode to `external` and registry.host "
                "to a registry your cluster already pulls from",
                self.registry.mode,
            )
        if self.registry.mode == "container" and self.registry.host_port in self.cluster.host_ports():
            raise KeyProblem(
                "registry.hostPort",
                f"host port {self.registry.host_port} is already mapped to the cluster's ingress; "
                "choose another port",
                self.registry.host_port,
            )
        return self


def _tls_rules(config: Any) -> None:
    """Who provides each certificate: cert-manager, or the user by an explicit choice."""
    tls, gateway, vault = config.tls, config.mesh.gateway, config.security.vault
    issued = tls.enabled and tls.gateway_certificate == "issued"
    if config.mesh.enabled and issued and gateway.credential_name is not None:
        raise KeyProblem(
            "mesh.gateway.credentialName",
            "the gateway's certificate is issued by cert-manager (tls.gatewayCertificate: issued) into `gateway-tls`: "
            "remove credentialName, or set tls.gatewayCertificate: provided to use your own Secret",
            gateway.credential_name,
        )
    if config.mesh.enabled and not issued and gateway.credential_name is None and (config.environment == "aws" or tls.enabled):
        raise KeyProblem(
            "mesh.gateway.credentialName",
            "required when the gateway's certificate is provided (tls off or tls.gatewayCertificate: provided): "
            "the TLS Secret in istio-ingress that you create",
        )
    if config.mesh.enabled and issued:
        unserved = tls.unserved_hosts(gateway.hosts)
        if unserved:
            raise KeyProblem(
                "mesh.gateway.hosts",
                f"{', '.join(unserved)}: tls.acme can issue only for names under its hostedZones' domains "
                f"({', '.join(z.domain for z in tls.acme.hosted_zones)}); list concrete hosts there, add the zone, or choose another tls.issuer",
                gateway.hosts,
            )
    if config.security.enabled and vault.enabled and vault.mode == "ha" and vault.tls_secret_name is None and not tls.enabled:
        raise KeyProblem(
            "security.vault.tlsSecretName",
            "required in ha mode while tls is off: the Secret (in vault) with tls.crt, tls.key and ca.crt; or turn tls on to have it issued",
        )


def _rollouts_rules(config: Any) -> None:
    """A canary needs its controller, and Prometheus to judge it."""
    if not (config.apps.enabled and config.apps.delivery.strategy == "canary"):
        return
    if config.rollouts.enabled is False:
        raise KeyProblem(
            "rollouts.enabled",
            "the sample backend is delivered as a canary (apps.delivery.strategy: canary), which needs the Argo Rollouts controller: "
            "leave rollouts.enabled unset, or set apps.delivery.strategy: rolling",
            False,
        )
    if not config.observability.enabled:
        raise KeyProblem(
            "apps.delivery.strategy",
            "a canary's analysis queries the platform's Prometheus: enable observability, or set apps.delivery.strategy: rolling",
            "canary",
        )


def _gitops_rules(config: Any) -> None:
    """Argo CD's UI is served by the mesh gateway; team projects deploy to the stack's app namespaces."""
    gitops = config.gitops
    if not gitops.enabled:
        return
    if not config.mesh.enabled:
        raise KeyProblem("gitops.enabled", "Argo CD's UI is served through the mesh gateway: enable the mesh or set gitops.enabled: false", True)
    hosts = config.mesh.gateway.hosts
    if "*" not in hosts and gitops.host not in hosts:
        raise KeyProblem(
            "gitops.host",
            f"the gateway serves only mesh.gateway.hosts ({', '.join(hosts)}): add {gitops.host} there (its certificate covers them)",
            gitops.host,
        )
    for i, project in enumerate(gitops.projects):
        outside = [ns for ns in project.namespaces if ns not in config.mesh.namespaces]
        if outside:
            raise KeyProblem(
                f"gitops.projects[{i}].namespaces",
                f"{', '.join(outside)}: a team project may deploy only to the stack's app namespaces ({', '.join(config.mesh.namespaces)})",
                project.namespaces,
            )


def _apps_need_mesh(config: Any) -> None:
    apps = config.apps
    if not apps.enabled:
        return
    if not config.mesh.enabled:
        raise KeyProblem("apps.enabled", "the sample apps run in the mesh: enable mesh or set apps.enabled: false", True)
    if apps.namespace not in config.mesh.namespaces:
        raise KeyProblem("apps.namespace", f"must be one of mesh.namespaces ({', '.join(config.mesh.namespaces)})", apps.namespace)
    if isinstance(config.registry, LocalRegistryConfig) and config.registry.mode != "ecr":
        return
    local = isinstance(config.registry, LocalRegistryConfig)
    services = config.registry.ecr_config().services if local else config.registry.services
    missing = [a for a in ("backend", "frontend") if a not in services]
    if missing:
        raise KeyProblem("registry.ecr.services" if local else "registry.services", f"the sample apps need ECR repositories for {', '.join(missing)}; add them or set apps.enabled: false", services)


class AwsPlatformConfig(ProfiledModel):
    """The `aws` environment: a hardened EKS cluster and ECR repositories."""

    environment: Literal["aws"] = Field(description="`aws`: EKS + ECR.")
    region: str = Field(description="AWS region of every resource of the stack, e.g. eu-west-1.")
    _region = field_validator("region")(_check_region)
    cluster: EksClusterConfig = Field(default_factory=EksClusterConfig, description="The EKS cluster, its VPC and node group.")
    registry: EcrRegistryConfig = Field(default_factory=EcrRegistryConfig, description="The ECR repositories.")
    mesh: MeshConfig = Field(description="Istio service mesh (aws profile: autoscaled, PDBs, NLB).")
    security: SecurityConfig = Field(description="Trivy, Gatekeeper, Falco, Vault, namespace hardening (aws profile: HA).")
    autoscaling: AutoscalingStackConfig = Field(description="metrics-server, KEDA, VPA and the cluster autoscaler (aws profile).")
    observability: ObservabilityConfig = Field(description="Prometheus, Alertmanager, Grafana, Loki, Jaeger (aws profile: HA, persistent).")
    apps: SampleAppsConfig = Field(description="The sample backend and frontend (opt-in on aws).")
    tls: TlsConfig = Field(description="cert-manager, the platform CA and ACME DNS-01 in Route 53 for the gateway (aws profile).")
    rollouts: RolloutsConfig = Field(description="The Argo Rollouts controller (aws profile: 2 replicas, PDB).")
    gitops: GitopsConfig = Field(description="Argo CD and the GitOps hand-off (aws profile: HA; the UI host is yours).")

    @model_validator(mode="after")
    def _apps(self) -> AwsPlatformConfig:
        _apps_need_mesh(self)
        _tls_rules(self)
        _rollouts_rules(self)
        _gitops_rules(self)
        return self

    @model_validator(mode="after")
    def _keep_images(self) -> AwsPlatformConfig:
        if self.registry.force_delete:
            raise KeyProblem(
                "registry.forceDelete",
                "would let `pulumi destroy` delete repositories with their images; only allowed on the local stack. Remove it",
                True,
            )
        return self


PlatformConfig = LocalPlatformConfig | AwsPlatformConfig
"""The validated configuration of one stack (one model per environment)."""

ENVIRONMENTS: Mapping[str, type[Model]] = {"local": LocalPlatformConfig, "aws": AwsPlatformConfig}


def parse_config(
    raw: Mapping[str, Any],
    *,
    source: str = "the stack configuration",
    secret_keys: set[str] | None = None,
    secure_paths: set[str] | None = None,
) -> PlatformConfig:
    """Validate the `gitops-platform:` keys (without the namespace prefix) into a `PlatformConfig`.

    `secret_keys`: the top-level keys the engine marked secret (the engine marks secrets
    per top-level key); given, secret-only settings given in plain config are rejected.
    `secure_paths`: the dotted paths the stack file holds as `secure:` values, so a plain
    value beside a secure sibling is rejected too (`program.secure_paths`).
    Raises `ConfigError` listing every problem at once.
    """
    # The engine marks secrets per top-level key: nothing under a secret key is echoed,
    # not even a misplaced or invalid value. The stack file's `secure:` values mark their
    # top-level keys too (a misspelt key the engine might not report), in any letter case.
    hidden = {key.lower() for key in secret_keys or ()}
    hidden |= {re.split(r"[.\[]", path, maxsplit=1)[0].lower() for path in secure_paths or ()}
    environment = raw.get("environment", MISSING)
    model = ENVIRONMENTS.get(environment) if isinstance(environment, str) else None
    if model is None:
        allowed = " or ".join(f"'{e}'" for e in ENVIRONMENTS)
        message = "required key is missing" if environment is MISSING else f"expected {allowed}"
        if environment is MISSING:
            message += f"; set it to {allowed}"
        shown = "[secret]" if "environment" in hidden and environment is not MISSING else environment
        raise ConfigError([Problem(path=_path(["environment"]), value=shown, message=message)], source)
    try:
        validated = model.model_validate(dict(raw), by_alias=True, by_name=False, context={"environment": environment, "secret_keys": secret_keys, "secure_paths": secure_paths})
        return cast(PlatformConfig, validated)
    except ValidationError as error:
        problems = config_problems(error, model)
        problems = [Problem(path=p.path, value="[secret]", message=p.message) if _top_level(p.path).lower() in hidden and p.value is not MISSING else p for p in problems]
        raise ConfigError(problems, source) from None
