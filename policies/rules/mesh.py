"""Service-mesh rules: mTLS stays strict, every injected namespace starts from deny-all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, Severity, StackValidationArgs

from .common import resource_policy, stack_policy

PEER_AUTHENTICATION = frozenset({"kubernetes:security.istio.io/v1:PeerAuthentication", "kubernetes:security.istio.io/v1beta1:PeerAuthentication"})
AUTHORIZATION_POLICY = frozenset({"kubernetes:security.istio.io/v1:AuthorizationPolicy", "kubernetes:security.istio.io/v1beta1:AuthorizationPolicy"})
NAMESPACE = "kubernetes:core/v1:Namespace"
_WEAK = ("PERMISSIVE", "DISABLE")


def check_peer_authentication(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    metadata = obj.get("metadata") or {}
    ref = f"PeerAuthentication {metadata.get('namespace', '')}/{metadata.get('name')}"
    out = []
    mode = (spec.get("mtls") or {}).get("mode")
    if mode in _WEAK:
        out.append(f"{ref} sets mtls.mode {mode}; use STRICT so only mutually authenticated traffic is accepted")
    for port, setting in (spec.get("portLevelMtls") or {}).items():
        if (setting or {}).get("mode") in _WEAK:
            out.append(f"{ref} sets portLevelMtls[{port}].mode {setting['mode']}; use STRICT")
    return out


def injected(namespace: Mapping[str, Any]) -> bool:
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    return labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels


def denies_all(policy: Mapping[str, Any]) -> bool:
    """An allow-nothing policy (empty spec) or a DENY policy with an empty rule (matches everything)."""
    spec = policy.get("spec") or {}
    if not spec.get("selector") and not spec.get("rules") and spec.get("action", "ALLOW") == "ALLOW" and not spec.get("provider"):
        return True
    return spec.get("action") == "DENY" and not spec.get("selector") and {} in [r or {} for r in spec.get("rules") or []]


def validate_deny_all(args: StackValidationArgs, report: ReportViolation) -> None:
    protected = {
        (r.props.get("metadata") or {}).get("namespace")
        for r in args.resources
        if r.resource_type in AUTHORIZATION_POLICY and denies_all(r.props)
    }
    for resource in args.resources:
        if resource.resource_type == NAMESPACE and injected(resource.props):
            name = (resource.props.get("metadata") or {}).get("name")
            if name not in protected:
                report(
                    f"namespace {name} has sidecar injection but no deny-all AuthorizationPolicy; "
                    "add one with an empty spec and allow callers explicitly",
                    resource.urn,
                )


POLICIES = [
    resource_policy(
        "mesh-peerauthentication-strict",
        "PeerAuthentications never accept plain-text traffic (PERMISSIVE or DISABLE).",
        types=PEER_AUTHENTICATION,
        check=check_peer_authentication,
        severity=Severity.HIGH,
        remediation="Set spec.mtls.mode (and every portLevelMtls mode) to STRICT. A local migration may set this policy to advisory.",
    ),
    stack_policy(
        "mesh-namespace-deny-all",
        "Every namespace with sidecar injection has a deny-all AuthorizationPolicy, so access is granted only explicitly.",
        validate=validate_deny_all,
        reads=frozenset({*AUTHORIZATION_POLICY, NAMESPACE}),
        severity=Severity.HIGH,
        remediation="Create an AuthorizationPolicy with `spec: {}` in the namespace (MeshStack does for its namespaces) and allow callers per service.",
    ),
]
