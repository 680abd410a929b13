"""Kubernetes workload and Service rules.

The checks marked GATEKEEPER have a twin in `policies/rego/<file>.rego` that Gatekeeper
enforces at admission; `tests/policies/rego/test_init.py` proves both give the same verdict
on the same objects. Keep the two in step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, Severity, StackValidationArgs

from ..normalize import plain
from .common import WORKLOAD_TYPES, containers, describe, namespace_of, pod_spec, resource_policy, stack_policy

DEFAULT_LABELS = ["app", "version", "environment"]
DEFAULT_REGISTRIES = ["localhost:5001/", "docker.io/istio/"]


# --- checks (object, config) -> messages ------------------------------------------------


def check_required_labels(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER requiredlabels.rego
    labels = (obj.get("metadata") or {}).get("labels") or {}
    missing = sorted(set(config.get("labels", DEFAULT_LABELS)) - set(labels))
    return [f"{describe(obj)} is missing required labels {missing}; add them to metadata.labels"] if missing else []


def check_container_limits(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER containerlimits.rego
    out = []
    for c in containers(obj):
        limits = (c.get("resources") or {}).get("limits") or {}
        out += [f"{describe(obj)}: container {c.get('name')} has no {r} limit; set resources.limits.{r}" for r in ("cpu", "memory") if not limits.get(r)]
    return out


def check_allowed_registries(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER allowedrepos.rego
    registries = config.get("registries", DEFAULT_REGISTRIES)
    return [
        f"{describe(obj)}: container {c.get('name')} image {c.get('image')} is not from an allowed registry {registries}; push it to one of them"
        for c in containers(obj)
        if not any(str(c.get("image", "")).startswith(prefix) for prefix in registries)
    ]


def check_privileged(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER privileged.rego
    return [
        f"{describe(obj)}: container {c.get('name')} is privileged; remove securityContext.privileged"
        for c in containers(obj)
        if (c.get("securityContext") or {}).get("privileged") is True
    ]


def check_no_privilege_escalation(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER privilegeescalation.rego
    # Restricted profile: the field must be set to false explicitly; unset allows escalation.
    return [
        f"{describe(obj)}: container {c.get('name')} may gain more privileges than its parent; set securityContext.allowPrivilegeEscalation: false"
        for c in containers(obj)
        if (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False
    ]


def _exempt(container: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    return any(str(container.get("image", "")).startswith(prefix) for prefix in config.get("exemptImages", []))


DEFAULT_ALLOWED_CAPABILITIES = ["NET_BIND_SERVICE"]


def check_capabilities(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER capabilities.rego
    # Restricted profile: drop ALL, add back at most NET_BIND_SERVICE (the `allowed` list).
    allowed = set(config.get("allowedCapabilities", DEFAULT_ALLOWED_CAPABILITIES))
    out = []
    for c in containers(obj):
        if _exempt(c, config):
            continue
        capabilities = (c.get("securityContext") or {}).get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            out.append(f"{describe(obj)}: container {c.get('name')} does not drop ALL capabilities; set securityContext.capabilities.drop: [ALL]")
        added = sorted(set(capabilities.get("add") or []) - allowed)
        if added:
            out.append(f"{describe(obj)}: container {c.get('name')} adds capabilities {json.dumps(added)} beyond the allowed {json.dumps(sorted(allowed))}; remove them")
    return out


_SECCOMP_TYPES = ("RuntimeDefault", "Localhost")


def check_seccomp(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER seccomp.rego
    # Restricted profile: RuntimeDefault or Localhost, on the container or inherited from the pod.
    pod_level = ((pod_spec(obj).get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    out = []
    for c in containers(obj):
        own = ((c.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
        if (own if own is not None else pod_level) not in _SECCOMP_TYPES:
            out.append(f"{describe(obj)}: container {c.get('name')} runs without a seccomp profile; set securityContext.seccompProfile.type: RuntimeDefault (pod or container)")
    return out


def check_read_only_root(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER readonlyrootfs.rego
    return [
        f"{describe(obj)}: container {c.get('name')} has a writable root filesystem; set securityContext.readOnlyRootFilesystem: true (mount an emptyDir where it writes)"
        for c in containers(obj)
        if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True and not _exempt(c, config)
    ]


def image_pinned(image: str) -> bool:
    """A digest, or an explicit tag other than `latest`."""
    if "@sha256:" in image:
        return True
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.split(":")[1]
    return tag not in ("", "latest")


def check_image_tags(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER disallowedtags.rego
    return [
        f"{describe(obj)}: container {c.get('name')} image {c.get('image')} has no fixed tag; use an explicit version tag or an @sha256 digest, never latest"
        for c in containers(obj)
        if not image_pinned(str(c.get("image", "")))
    ]


def check_host_namespaces(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER hostnamespaces.rego
    spec = pod_spec(obj)
    return [f"{describe(obj)} shares the node's {f}; remove {f}" for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f) is True]


def check_host_path(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER hostpath.rego
    return [
        f"{describe(obj)} mounts hostPath {v['hostPath'].get('path')} in volume {v.get('name')}; use an emptyDir, ConfigMap, Secret or PVC"
        for v in pod_spec(obj).get("volumes") or []
        if v.get("hostPath")
    ]


def check_run_as_non_root(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER runasnonroot.rego
    pod_level = (pod_spec(obj).get("securityContext") or {}).get("runAsNonRoot")
    out = []
    for c in containers(obj):
        if _exempt(c, config):
            continue
        own = (c.get("securityContext") or {}).get("runAsNonRoot")
        if (own if own is not None else pod_level) is not True:
            out.append(f"{describe(obj)}: container {c.get('name')} may run as root; set securityContext.runAsNonRoot: true (pod or container)")
    return out


def check_service_account(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    account = pod_spec(obj).get("serviceAccountName") or "default"
    if account != "default":
        return []
    return [f"{describe(obj)} runs as the namespace's default ServiceAccount; give it its own (spec.serviceAccountName)"]


def check_load_balancer(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if (obj.get("spec") or {}).get("type") != "LoadBalancer":
        return []
    metadata = obj.get("metadata") or {}
    ref = f"{metadata.get('namespace') or 'default'}/{metadata.get('name')}"
    allowed = config.get("allowed", ["istio-ingress/istio-ingressgateway"])
    if ref in allowed:
        return []
    return [f"Service {ref} is a LoadBalancer; expose it through the mesh gateway (a VirtualService) instead, or allow it in the policy config"]


NETWORK_POLICY = frozenset({"kubernetes:networking.k8s.io/v1:NetworkPolicy"})


def check_network_policy_types(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER networkpolicytypes.rego
    # Without policyTypes the API server infers them from the rules present, so a policy
    # meant to deny all egress silently restricts ingress only.
    if (obj.get("spec") or {}).get("policyTypes"):
        return []
    return [f"{describe(obj)} does not set spec.policyTypes; list Ingress and/or Egress explicitly so what it restricts is what it says"]


APP_PROJECT = frozenset({"kubernetes:argoproj.io/v1alpha1:AppProject"})


def check_app_project(obj: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:  # GATEKEEPER appprojectconfined.rego
    spec = obj.get("spec") or {}
    out = []
    if "*" in (spec.get("sourceRepos") or []):
        out.append(f"{describe(obj)} allows every source repository (sourceRepos: '*'); list the team's repositories")
    for destination in spec.get("destinations") or []:
        for key in ("server", "name", "namespace"):
            if (destination or {}).get(key) == "*":
                out.append(f"{describe(obj)} allows every destination (destinations[].{key}: '*'); name the team's namespaces on this cluster")
    if spec.get("clusterResourceWhitelist"):
        out.append(f"{describe(obj)} allows cluster-scoped kinds (clusterResourceWhitelist); teams deploy namespaced objects only")
    return out


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER_OWNED_NAMESPACES = ["kube-system", "local-path-storage"]
"""Namespaces whose pods the cluster itself runs and manages (CoreDNS, kube-proxy, the CNI,
kind's storage provisioner, the EKS add-ons): their flows are not the platform's to list,
and a default deny there could cut every pod's DNS on an add-on upgrade."""


def policy_types(spec: Mapping[str, Any]) -> list[str]:
    """A NetworkPolicy's policyTypes, defaulted as the API server does: Ingress, plus Egress when egress rules exist."""
    types = spec.get("policyTypes")
    if types:
        return [str(t) for t in types]
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def denies_by_default(specs: Iterable[Mapping[str, Any]]) -> set[str]:  # GATEKEEPER namespacedefaultdeny.rego
    """Directions ("Ingress", "Egress") in which a policy selecting every pod allows nothing."""
    out: set[str] = set()
    for spec in specs:
        if spec.get("podSelector"):
            continue
        out |= {d for d in policy_types(spec) if not spec.get(d.lower())}
    return out


def validate_default_deny(args: StackValidationArgs, report: ReportViolation) -> None:
    exempt = set(plain(args.get_config()).get("exemptNamespaces", CLUSTER_OWNED_NAMESPACES))
    runs: dict[str, tuple[str, str]] = {}
    specs: dict[str, list[Mapping[str, Any]]] = {}
    for r in args.resources:
        props = r.props
        if r.resource_type in WORKLOAD_TYPES:
            namespace: Any = namespace_of(props)
            what = describe(props)
        elif r.resource_type == HELM_RELEASE:
            # A v3 release's objects are invisible to the pack; its namespace runs its pods.
            namespace, what = props.get("namespace") or "default", f"Helm release {props.get('name') or r.name}"
        elif r.resource_type in NETWORK_POLICY:
            namespace = namespace_of(props)
            if not isinstance(namespace, str) or not isinstance(props.get("spec"), Mapping):
                # A policy whose namespace or spec is not known yet (a first preview) could be
                # the default deny of any namespace: nothing can be judged before it is.
                return
            specs.setdefault(namespace, []).append(props["spec"])
            continue
        else:
            continue
        if isinstance(namespace, str) and namespace not in exempt:  # an unknown namespace (preview) cannot be judged
            runs.setdefault(namespace, (what, r.urn))
    for namespace, (what, urn) in sorted(runs.items()):
        missing = [d for d in ("Ingress", "Egress") if d not in denies_by_default(specs.get(namespace, []))]
        if missing:
            report(
                f"namespace {namespace} runs workloads ({what}) but no NetworkPolicy denies {' and '.join(missing)} by default; "
                "add one with podSelector: {} and policyTypes [Ingress, Egress] and no rules, then allow what its pods need",
                urn,
            )


# --- policies ---------------------------------------------------------------------------

_SERVICE = frozenset({"kubernetes:core/v1:Service"})
_EXEMPT_IMAGES = PolicyConfigSchema(
    properties={"exemptImages": {"type": "array", "items": {"type": "string"}, "default": []}}
)

POLICIES = [
    resource_policy(
        "kubernetes-workload-required-labels",
        "Workloads carry the labels that tie them to an app, a version and an environment.",
        types=WORKLOAD_TYPES,
        check=check_required_labels,
        severity=Severity.MEDIUM,
        remediation="Add the missing labels to the workload's metadata.labels (MicroserviceStack sets app, version and environment).",
        config_schema=PolicyConfigSchema(
            properties={"labels": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_LABELS}}
        ),
    ),
    resource_policy(
        "kubernetes-container-limits",
        "Every container sets CPU and memory limits, so one workload cannot starve a node.",
        types=WORKLOAD_TYPES,
        check=check_container_limits,
        severity=Severity.MEDIUM,
        remediation="Set resources.limits.cpu and resources.limits.memory on every container, init container included.",
    ),
    resource_policy(
        "kubernetes-container-allowed-registries",
        "Images come only from the stack's registry and the approved upstream registries.",
        types=WORKLOAD_TYPES,
        check=check_allowed_registries,
        severity=Severity.HIGH,
        remediation="Push the image to the stack's registry, or add its registry prefix to this policy's `registries` config.",
        config_schema=PolicyConfigSchema(
            properties={"registries": {"type": "array", "items": {"type": "string"}, "minItems": 1, "default": DEFAULT_REGISTRIES}}
        ),
    ),
    resource_policy(
        "kubernetes-container-no-privileged",
        "No container runs privileged (full access to the node).",
        types=WORKLOAD_TYPES,
        check=check_privileged,
        severity=Severity.CRITICAL,
        remediation="Remove securityContext.privileged; grant only the specific capability needed, if any.",
    ),
    resource_policy(
        "kubernetes-container-no-privilege-escalation",
        "No container can gain more privileges than its parent process (setuid binaries, file capabilities).",
        types=WORKLOAD_TYPES,
        check=check_no_privilege_escalation,
        severity=Severity.HIGH,
        remediation="Set securityContext.allowPrivilegeEscalation: false on every container, init containers included (MicroserviceStack does).",
    ),
    resource_policy(
        "kubernetes-container-drop-capabilities",
        "Containers drop every Linux capability and add back only allowed ones (default: NET_BIND_SERVICE).",
        types=WORKLOAD_TYPES,
        check=check_capabilities,
        severity=Severity.HIGH,
        remediation="Set securityContext.capabilities.drop: [ALL] on every container and add back only what is listed in `allowedCapabilities`.",
        config_schema=PolicyConfigSchema(
            properties={
                **_EXEMPT_IMAGES.properties,
                "allowedCapabilities": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_ALLOWED_CAPABILITIES},
            }
        ),
    ),
    resource_policy(
        "kubernetes-pod-seccomp",
        "Containers run under a seccomp profile: the runtime's default or one on the node (Localhost), never Unconfined.",
        types=WORKLOAD_TYPES,
        check=check_seccomp,
        severity=Severity.MEDIUM,
        remediation="Set securityContext.seccompProfile.type: RuntimeDefault on the pod (every container inherits it) or on each container.",
    ),
    resource_policy(
        "kubernetes-pod-run-as-non-root",
        "Containers run as a non-root user.",
        types=WORKLOAD_TYPES,
        check=check_run_as_non_root,
        severity=Severity.HIGH,
        remediation="Set securityContext.runAsNonRoot: true on the pod (or each container) and use an image with a non-root USER.",
        config_schema=_EXEMPT_IMAGES,
    ),
    resource_policy(
        "kubernetes-container-read-only-root-fs",
        "Container root filesystems are read-only.",
        types=WORKLOAD_TYPES,
        check=check_read_only_root,
        severity=Severity.MEDIUM,
        remediation="Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the process writes (e.g. /tmp).",
        config_schema=_EXEMPT_IMAGES,
    ),
    resource_policy(
        "kubernetes-container-no-latest-tag",
        "Images are pinned to an explicit tag or digest, never `latest` or untagged.",
        types=WORKLOAD_TYPES,
        check=check_image_tags,
        severity=Severity.HIGH,
        remediation="Reference images as registry/repo:<version> or registry/repo@sha256:<digest>.",
    ),
    resource_policy(
        "kubernetes-pod-no-host-namespaces",
        "Pods do not share the node's network, PID or IPC namespace.",
        types=WORKLOAD_TYPES,
        check=check_host_namespaces,
        severity=Severity.HIGH,
        remediation="Remove hostNetwork, hostPID and hostIPC from the pod spec.",
    ),
    resource_policy(
        "kubernetes-pod-no-host-path",
        "Pods do not mount directories of the node.",
        types=WORKLOAD_TYPES,
        check=check_host_path,
        severity=Severity.HIGH,
        remediation="Replace hostPath volumes with emptyDir, ConfigMap, Secret or a PersistentVolumeClaim.",
    ),
    resource_policy(
        "kubernetes-pod-no-default-service-account",
        "Workloads run under a ServiceAccount of their own, not the namespace default.",
        types=WORKLOAD_TYPES,
        check=check_service_account,
        severity=Severity.MEDIUM,
        remediation="Create a ServiceAccount for the workload and set spec.serviceAccountName (MicroserviceStack does).",
    ),
    resource_policy(
        "kubernetes-networkpolicy-policy-types",
        "Every NetworkPolicy states which directions it restricts (spec.policyTypes).",
        types=NETWORK_POLICY,
        check=check_network_policy_types,
        severity=Severity.MEDIUM,
        remediation="Set spec.policyTypes to [Ingress], [Egress] or [Ingress, Egress].",
    ),
    resource_policy(
        "kubernetes-service-no-load-balancer",
        "Only the mesh ingress gateway is exposed through a cloud load balancer.",
        types=_SERVICE,
        check=check_load_balancer,
        severity=Severity.HIGH,
        remediation="Use a ClusterIP Service and route through the mesh gateway; list deliberate exceptions as namespace/name in `allowed`.",
        config_schema=PolicyConfigSchema(
            properties={"allowed": {"type": "array", "items": {"type": "string"}, "default": ["istio-ingress/istio-ingressgateway"]}}
        ),
    ),
    resource_policy(
        "argocd-appproject-confined",
        "Argo CD AppProjects confine their Applications: never every source repository, every destination, or cluster-scoped kinds.",
        types=APP_PROJECT,
        check=check_app_project,
        severity=Severity.HIGH,
        remediation="List the team's repositories in sourceRepos, its namespaces in destinations, and leave clusterResourceWhitelist empty.",
    ),
    stack_policy(
        "kubernetes-namespace-default-deny",
        "Every namespace that runs workloads has NetworkPolicies denying all ingress and all egress by default.",
        validate=validate_default_deny,
        reads=frozenset({*WORKLOAD_TYPES, HELM_RELEASE, *NETWORK_POLICY}),
        severity=Severity.HIGH,
        remediation="Add a NetworkPolicy with podSelector: {} and policyTypes [Ingress, Egress] and no rules to the namespace "
        "(SecurityStack does for the app and platform namespaces), then allow each flow its pods need.",
        config_schema=PolicyConfigSchema(
            properties={"exemptNamespaces": {"type": "array", "items": {"type": "string"}, "default": CLUSTER_OWNED_NAMESPACES}}
        ),
    ),
]
