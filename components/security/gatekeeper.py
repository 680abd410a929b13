"""OPA Gatekeeper: its release, the platform's constraint library (templates from policies/rego) and their exemptions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, cast

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, field_validator

from policies.rego import rego_source

from ..charts import CHARTS, HOOK_JOB_RESOURCES, install_release
from ..model import Model, ProfiledModel, Profiles, ResourcesConfig
from ..podsecurity import NODE_AGENT_REASONS
from .common import INGRESS_NAMESPACE, ISTIO_NAMESPACE, dns_labels, with_upstream

GATEKEEPER_NAMESPACE = "gatekeeper-system"
GATEKEEPER_WEBHOOK_PORT = 8443
"""Gatekeeper's webhook container port (the chart's default)."""

# Gatekeeper's exemptions, each with its reason: the minimal set per kind of constraint.
# Host-access constraints (privileged, capabilities, host namespaces and paths, seccomp,
# non-root, read-only root, privilege escalation) skip only namespaces whose pods need the
# node: the cluster's own and the platform's node agents (those enforcing Pod Security
# below `restricted`; the render proves every other platform pod passes them).
HOST_EXEMPT_NAMESPACES: dict[str, str] = {
    "kube-system": "the cluster's own node and control-plane agents (CNI, kube-proxy, CoreDNS) and the Istio CNI agent",
    "kube-public": "the cluster's; holds no workloads",
    "kube-node-lease": "the cluster's; holds no workloads",
    "local-path-storage": "kind's volume provisioner creates hostPath helper pods",
    **NODE_AGENT_REASONS,  # monitoring, falco, vault, trivy-system
}


# Convention constraints (required labels, allowed registries, limits, tags, network policy)
# also skip the platform's own namespaces: their pods come from pinned charts and carry the
# charts' labels, not the apps' app/version/environment, and their images come from the
# charts' upstream registries (the render's image inventory lists every one; Falco's
# registry rule watches them at run time). The CrossGuard workload rules skip the same set
# (policies/rules/common.py, PLATFORM_NAMESPACES).
EXEMPT_NAMESPACES = (
    *HOST_EXEMPT_NAMESPACES,
    ISTIO_NAMESPACE,
    INGRESS_NAMESPACE,
    "istio-egress",
    GATEKEEPER_NAMESPACE,
    "keda",
    "cert-manager",
    "argo-rollouts",
    "argocd",
)


# Namespaces every Kubernetes cluster has before anything is installed.
CLUSTER_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


# Kinds a constraint matches: Pods (what the API server admits) and every controller
# with a pod template, so a bad Deployment is refused at once rather than its pods.
WORKLOAD_KINDS = [
    {"apiGroups": [""], "kinds": ["Pod"]},
    {"apiGroups": ["apps"], "kinds": ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]},
    {"apiGroups": ["batch"], "kinds": ["Job", "CronJob"]},
    {"apiGroups": ["argoproj.io"], "kinds": ["Rollout"]},
]


EnforcementAction = Literal["deny", "dryrun", "warn"]


REGISTRY_PREFIX = re.compile(r"^[a-z0-9][a-z0-9.:-]*(/[a-z0-9._-]+)*/$")


class ConstraintEnforcementConfig(Model):
    """Gatekeeper enforcement action per constraint: `deny` (refuse), `dryrun` (audit only) or `warn`."""

    required_labels: EnforcementAction = "deny"
    container_limits: EnforcementAction = "deny"
    allowed_repos: EnforcementAction = "deny"
    no_privileged: EnforcementAction = "deny"
    no_privilege_escalation: EnforcementAction = "deny"
    drop_capabilities: EnforcementAction = "deny"
    seccomp: EnforcementAction = "deny"
    network_policy_types: EnforcementAction = "deny"
    namespace_default_deny: EnforcementAction = "deny"
    app_project_confined: EnforcementAction = "deny"
    read_only_root_filesystem: EnforcementAction = "deny"
    disallowed_tags: EnforcementAction = "deny"
    host_namespaces: EnforcementAction = "deny"
    host_path: EnforcementAction = "deny"
    run_as_non_root: EnforcementAction = "deny"


class GatekeeperConfig(ProfiledModel):
    """OPA Gatekeeper and the platform's constraints."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "replicas": 1,
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
            "auditResources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        },
        "aws": {
            "replicas": 3,
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "auditResources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        },
    }
    enabled: bool = Field(True, description="Install Gatekeeper, its templates and constraints.")
    replicas: int = Field(ge=1, le=10, description="Webhook replicas: local 1, aws 3.")
    audit_interval_seconds: int = Field(60, ge=10, le=86400, description="How often existing objects are audited.")
    exempt_namespaces: list[str] = Field(default_factory=list, description="Namespaces exempt besides the cluster's and the platform's own.")
    upstream_registries: list[str] = Field(
        default_factory=lambda: ["docker.io/istio/"],
        min_length=1,
        description="Registry prefixes allowed besides the stack's own registry (each ends with '/'); "
        "must include Istio's (docker.io/istio/) while injected sidecars come from there.",
    )
    required_labels: list[str] = Field(default_factory=lambda: ["app", "version", "environment"], min_length=1, description="Labels every workload carries.")
    exempt_images: list[str] = Field(
        default_factory=list,
        description="Image prefixes exempt from runAsNonRoot, read-only root and the capabilities constraint. Empty by default: "
        "with Istio CNI no injected container needs root or a capability.",
    )
    allowed_capabilities: list[str] = Field(
        default_factory=lambda: ["NET_BIND_SERVICE"],
        description="Linux capabilities a container may add back after dropping ALL (the restricted Pod Security profile allows only NET_BIND_SERVICE).",
    )
    enforcement: ConstraintEnforcementConfig = Field(default_factory=ConstraintEnforcementConfig, description="Action per constraint.")
    resources: ResourcesConfig = Field(description="Webhook (controller manager) requests/limits.")
    audit_resources: ResourcesConfig = Field(description="Audit controller requests/limits.")

    @field_validator("required_labels", "exempt_images", "upstream_registries", "allowed_capabilities")
    @classmethod
    def _no_empty_items(cls, value: list[str]) -> list[str]:
        # An empty image prefix would exempt every image; an empty label name requires nothing.
        if any(not item.strip() for item in value):
            raise ValueError("items must not be empty")
        return value

    @field_validator("allowed_capabilities")
    @classmethod
    def _capabilities(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"[A-Z][A-Z_]*", item) or item == "ALL" or item.startswith("CAP_"):
                raise ValueError(f"{item!r} is not a capability name as Kubernetes writes them (e.g. NET_BIND_SERVICE, without CAP_; never ALL)")
        return value

    @field_validator("exempt_namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        return dns_labels(value, "namespace names")

    @field_validator("upstream_registries")
    @classmethod
    def _registries(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not REGISTRY_PREFIX.match(r)]
        if bad:
            raise ValueError(f"not registry prefixes: {', '.join(bad)} (e.g. docker.io/istio/, ending with '/')")
        return value


class Template:
    """One ConstraintTemplate: the Rego file it runs and the parameters its constraints take."""

    def __init__(
        self,
        rego: str,
        package: str,
        kind: str,
        enforcement_key: str,
        parameters: Mapping[str, Any] | None = None,
        kinds: list[dict[str, Any]] | None = None,
        sync: list[dict[str, str]] | None = None,
        exempt_namespaces: Literal["platform", "host", "none"] = "platform",
    ):
        self.rego, self.package, self.kind, self.enforcement_key = rego, package, kind, enforcement_key
        self.parameters = dict(parameters or {})
        self.kinds = kinds if kinds is not None else WORKLOAD_KINDS
        """What the constraint matches: workloads unless the rule is about another kind."""
        self.sync = list(sync or [])
        """Kinds (group, version, kind) the Rego reads from Gatekeeper's inventory."""
        self.exempt_namespaces = exempt_namespaces
        """Which namespaces the constraint skips: every platform namespace (`platform`, convention
        rules), only the node agents' (`host`, host-access rules), or none (a rule about objects
        that live in a platform namespace, like Argo CD's AppProjects)."""

    def excluded(self, extra: Sequence[str] = ()) -> list[str]:
        """The constraint's `excludedNamespaces` (plus the configured `extra`)."""
        base = {"platform": EXEMPT_NAMESPACES, "host": tuple(HOST_EXEMPT_NAMESPACES), "none": ()}[self.exempt_namespaces]
        return sorted(set(base) | (set(extra) if base else set()))

    @property
    def name(self) -> str:
        return self.kind.lower()


STRING_LIST = {"type": "array", "items": {"type": "string"}}


TEMPLATES = (
    Template("requiredlabels", "k8srequiredlabels", "K8sRequiredLabels", "required_labels", {"labels": STRING_LIST}),
    Template("containerlimits", "k8scontainerlimits", "K8sContainerLimits", "container_limits"),
    Template("allowedrepos", "k8sallowedrepos", "K8sAllowedRepos", "allowed_repos", {"repos": STRING_LIST}),
    Template("privileged", "k8spspprivileged", "K8sPSPPrivileged", "no_privileged", exempt_namespaces="host"),
    Template(
        "capabilities", "k8spspcapabilities", "K8sPSPCapabilities", "drop_capabilities", {"exemptImages": STRING_LIST, "allowedCapabilities": STRING_LIST},
        exempt_namespaces="host",
    ),
    Template("seccomp", "k8spspseccomp", "K8sPSPSeccomp", "seccomp", exempt_namespaces="host"),
    Template(
        "networkpolicytypes", "k8snetworkpolicytypes", "K8sNetworkPolicyTypes", "network_policy_types",
        kinds=[{"apiGroups": ["networking.k8s.io"], "kinds": ["NetworkPolicy"]}],
    ),
    Template(
        "namespacedefaultdeny", "k8snamespacedefaultdeny", "K8sNamespaceDefaultDeny", "namespace_default_deny",
        kinds=[{"apiGroups": [""], "kinds": ["Pod"]}],
        sync=[{"group": "networking.k8s.io", "version": "v1", "kind": "NetworkPolicy"}],
    ),
    Template(
        "appprojectconfined", "k8sappprojectconfined", "K8sAppProjectConfined", "app_project_confined",
        kinds=[{"apiGroups": ["argoproj.io"], "kinds": ["AppProject"]}], exempt_namespaces="none",
    ),
    Template(
        "privilegeescalation", "k8spspallowprivilegeescalationcontainer", "K8sPSPAllowPrivilegeEscalationContainer", "no_privilege_escalation",
        exempt_namespaces="host",
    ),
    Template(
        "readonlyrootfs", "k8sreadonlyrootfilesystem", "K8sReadOnlyRootFilesystem", "read_only_root_filesystem", {"exemptImages": STRING_LIST},
        exempt_namespaces="host",
    ),
    Template("disallowedtags", "k8sdisallowedtags", "K8sDisallowedTags", "disallowed_tags"),
    Template("hostnamespaces", "k8shostnamespaces", "K8sHostNamespaces", "host_namespaces", exempt_namespaces="host"),
    Template("hostpath", "k8shostpath", "K8sHostPath", "host_path", exempt_namespaces="host"),
    Template("runasnonroot", "k8srunasnonroot", "K8sRunAsNonRoot", "run_as_non_root", {"exemptImages": STRING_LIST}, exempt_namespaces="host"),
)


def constraint_template(template: Template) -> dict[str, Any]:
    """The ConstraintTemplate document for `template` (its Rego from policies/rego)."""
    metadata: dict[str, Any] = {"name": template.name}
    if template.sync:
        # Gatekeeper reports the template's data needs against what is synced.
        needs = [{"groups": [g["group"]], "versions": [g["version"]], "kinds": [g["kind"]]} for g in template.sync]
        metadata["annotations"] = {"metadata.gatekeeper.sh/requires-sync-data": json.dumps([needs])}
    return {
        "metadata": metadata,
        "spec": {
            "crd": {
                "spec": {
                    "names": {"kind": template.kind},
                    "validation": {"openAPIV3Schema": {"type": "object", "properties": template.parameters}},
                }
            },
            "targets": [
                {
                    "target": "admission.k8s.gatekeeper.sh",
                    "rego": rego_source(template.rego),
                    "libs": [rego_source("lib/workload")],
                }
            ],
        },
    }


def constraint_parameters(template: Template, config: GatekeeperConfig, registry_prefixes: Sequence[pulumi.Input[str]]) -> dict[str, Any] | None:
    if template.rego == "requiredlabels":
        return {"labels": config.required_labels}
    if template.rego == "allowedrepos":
        return {"repos": with_upstream(registry_prefixes, config.upstream_registries)}
    parameters: dict[str, Any] = {}
    if "exemptImages" in template.parameters:
        parameters["exemptImages"] = config.exempt_images
    if "allowedCapabilities" in template.parameters:
        parameters["allowedCapabilities"] = config.allowed_capabilities
    return parameters or None


def gatekeeper_values(config: GatekeeperConfig, exempt: Sequence[str]) -> dict[str, Any]:
    """Gatekeeper's webhook cannot block the rest of the platform while it installs: it
    fails open (`Ignore`) if Gatekeeper is down, skips the exempt namespaces, and the
    constraints exclude them too.

    The chart's post-install hook labels namespaces `admission.gatekeeper.sh/ignore` with
    `kubectl label ns`; it fails (and the atomic release rolls back) on a namespace that
    does not exist yet. The platform's own namespaces are created in parallel with
    Gatekeeper, and some only on one stack, so the hook labels only the namespaces every
    cluster has from the start; the others are exempt through the constraints'
    `excludedNamespaces` and the webhook fails open.
    """
    return {
        "replicas": config.replicas,
        # The chart always creates this PodDisruptionBudget: with one replica, minAvailable 1
        # would block every node drain.
        "pdb": {"controllerManager": {"minAvailable": min(1, config.replicas - 1)}},
        "auditInterval": config.audit_interval_seconds,
        "validatingWebhookFailurePolicy": "Ignore",
        "controllerManager": {"exemptNamespaces": list(exempt), "resources": config.resources.values()},
        "audit": {"resources": config.audit_resources.values()},
        "postInstall": {"labelNamespace": {"extraNamespaces": list(exempt)}, "resources": HOOK_JOB_RESOURCES},
        "crds": {"resources": HOOK_JOB_RESOURCES},
    }


def install_gatekeeper(
    name: str, config: GatekeeperConfig, registry_prefixes: Sequence[pulumi.Input[str]], namespaces: Sequence[pulumi.Resource], parent: pulumi.Resource
) -> tuple[pulumi.Resource, list[str]]:
    """The release, its templates and constraints: (the release, which creates gatekeeper-system;
    the constraint kinds installed). `namespaces`: every Namespace the platform creates, which
    Gatekeeper installs after."""
    # Only the cluster's namespaces are labelled `admission.gatekeeper.sh/ignore` (the webhook
    # never sees them); every other exemption is a constraint's excludedNamespaces.
    exempt = list(CLUSTER_NAMESPACES)
    # Helm creates gatekeeper-system (and the chart's post-install hook labels it for
    # Pod Security and webhook exemption); keeping a Namespace resource out of the chain
    # holds the constraint path to release -> template -> constraint. Helm leaves the
    # empty namespace behind on destroy.
    release = install_release(
        f"{name}-gatekeeper",
        CHARTS["gatekeeper"],
        GATEKEEPER_NAMESPACE,
        gatekeeper_values(config, exempt),
        # Installed after every namespace the platform creates, as the anchor platforms
        # install Gatekeeper last: its namespace webhook (check-ignore-label) fails
        # closed, so a Namespace created while Gatekeeper starts would be refused.
        pulumi.ResourceOptions(parent=parent, depends_on=list(namespaces)),
        "gatekeeper",
        create_namespace=True,
    )
    kinds: list[str] = []
    synced = [gvk for template in TEMPLATES for gvk in template.sync]
    if synced:
        # What the referential templates read from data.inventory.
        k8s.apiextensions.CustomResource(
            f"{name}-syncset",
            api_version="syncset.gatekeeper.sh/v1alpha1",
            kind="SyncSet",
            metadata={"name": "platform-referential-data"},
            spec={"gvks": synced},
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[release]),  # the SyncSet CRD
        )
    for template in TEMPLATES:
        document = constraint_template(template)
        created = k8s.apiextensions.CustomResource(
            f"{name}-template-{template.rego}",
            api_version="templates.gatekeeper.sh/v1",
            kind="ConstraintTemplate",
            metadata={
                **document["metadata"],
                # Gatekeeper creates the constraint's CRD once it has compiled the Rego and
                # then sets status.created; waiting for it means the constraint below is
                # never applied before its kind exists.
                "annotations": {**document["metadata"].get("annotations", {}), "pulumi.com/waitFor": "jsonpath={.status.created}=true"},
            },
            spec=document["spec"],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[release]),  # the ConstraintTemplate CRD
        )
        spec: dict[str, Any] = {
            "enforcementAction": getattr(config.enforcement, template.enforcement_key),
            "match": {"kinds": template.kinds, **({"excludedNamespaces": excluded} if (excluded := template.excluded(config.exempt_namespaces)) else {})},
        }
        parameters = constraint_parameters(template, config, registry_prefixes)
        if parameters is not None:
            spec["parameters"] = parameters
        k8s.apiextensions.CustomResource(
            f"{name}-constraint-{template.rego}",
            api_version="constraints.gatekeeper.sh/v1beta1",
            kind=template.kind,
            metadata={"name": f"platform-{template.rego}"},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[created]),
        )
        kinds.append(template.kind)
    return cast(pulumi.Resource, release), kinds
