"""Helpers every rule module shares: policy construction and where pod specs live."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from ..normalize import plain

# Kubernetes kinds that carry a pod template, by Pulumi type token (the Helm v4 chart and
# YAML components yield their objects as these types too).
WORKLOAD_TYPES = frozenset(
    {
        "kubernetes:core/v1:Pod",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:apps/v1:DaemonSet",
        "kubernetes:apps/v1:ReplicaSet",
        "kubernetes:batch/v1:Job",
        "kubernetes:batch/v1:CronJob",
        "kubernetes:argoproj.io/v1alpha1:Rollout",
    }
)


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a workload object (mirrors lib.workload.pod_spec in the Rego)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return spec
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec") or {}


def containers(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every container, init container and ephemeral container of a workload."""
    spec = pod_spec(obj)
    for key in ("containers", "initContainers", "ephemeralContainers"):
        yield from spec.get(key) or []


PLATFORM_NAMESPACES = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
    "istio-system",
    "istio-ingress",
    "istio-egress",
    "gatekeeper-system",
    "trivy-system",
    "falco",
    "vault",
    "monitoring",
    "keda",
    "cert-manager",
    "argo-rollouts",
    "argocd",
]
"""Namespaces of the cluster and of the platform's own tooling (charts that need node
access or ship their own labels). Workload rules skip them, as Gatekeeper's
constraints exclude them; app namespaces get every rule."""

EXEMPT_NAMESPACES_SCHEMA = {"type": "array", "items": {"type": "string"}, "default": PLATFORM_NAMESPACES}


def namespace_of(obj: Mapping[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def describe(obj: Mapping[str, Any]) -> str:
    """`<Kind> <namespace>/<name>` for messages."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name", "?")
    return f"{obj.get('kind', 'object')} {namespace + '/' if namespace else ''}{name}"


Check = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]
"""(object props, policy config) -> violation messages."""


RESOURCE_TYPES: dict[str, frozenset[str]] = {}
"""Policy name -> the resource types its check reads (every other resource it returns from at
once): `policies.evaluate` does not call it for those."""


def resource_policy(
    name: str,
    description: str,
    *,
    types: frozenset[str] | set[str],
    check: Check,
    severity: Severity,
    remediation: str,
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    """A mandatory resource policy running `check` on resources of `types`.

    Workload policies (`types` == WORKLOAD_TYPES) also take `exemptNamespaces`.
    """
    workload = types == WORKLOAD_TYPES
    if workload:
        properties = dict(config_schema.properties) if config_schema else {}
        properties["exemptNamespaces"] = EXEMPT_NAMESPACES_SCHEMA
        config_schema = PolicyConfigSchema(properties=properties)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in types:
            return
        config = plain(args.get_config())
        props = plain(args.props)  # the engine hands in read-only proxies: rules read plain data
        try:
            if workload and namespace_of(props) in config.get("exemptNamespaces", PLATFORM_NAMESPACES):
                return
            messages = check(props, config)
        except UnknownValueError:
            return  # a value only the update knows (preview): judged then, never guessed now
        for message in messages:
            report(message, None)

    RESOURCE_TYPES[name] = frozenset(types)
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema,
        severity=severity,
        remediation_steps=remediation,
    )


class _Unread(Mapping[str, Any]):
    """The props of a resource a stack policy did not declare it reads: any read is a bug in the policy."""

    def __init__(self, policy: str, resource_type: str) -> None:
        self._why = f"stack policy {policy} read the props of a {resource_type}, a type it does not declare in `reads`"

    def __getitem__(self, key: str) -> Any:
        raise AssertionError(self._why)

    def __iter__(self) -> Iterator[str]:
        raise AssertionError(self._why)

    def __len__(self) -> int:
        raise AssertionError(self._why)


def stack_policy(
    name: str,
    description: str,
    *,
    validate: Callable[[StackValidationArgs, ReportViolation], None],
    reads: frozenset[str],
    severity: Severity,
    remediation: str,
    config_schema: PolicyConfigSchema | None = None,
) -> StackValidationPolicy:
    """A mandatory stack policy. `reads`: the resource types whose props `validate` reads; only
    those are normalized (the engine hands every resource of the stack to every stack policy, and
    walking a CRD's megabytes of schema four times over costs a preview seconds)."""

    def plain_validate(args: StackValidationArgs, report: ReportViolation) -> None:
        # The resources may be shared with other policies (the offline pack): restore them after.
        handed = [(resource, resource.props) for resource in args.resources]
        for resource, props in handed:
            # As for resource rules: plain data, whoever calls.
            resource.props = plain(props) if resource.resource_type in reads else _Unread(name, resource.resource_type)
        try:
            validate(args, report)
        except UnknownValueError:
            return  # the stack holds a value only the update knows (preview): judged then
        finally:
            for resource, props in handed:
                resource.props = props

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=plain_validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema,
        severity=severity,
        remediation_steps=remediation,
    )
