"""Shared fixtures for the policy tests: compliant objects and single-field mutations."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from policies import ALL_POLICIES
from policies.evaluate import Resource, evaluate

KINDS = {
    "Deployment": ("kubernetes:apps/v1:Deployment", "apps/v1"),
    "StatefulSet": ("kubernetes:apps/v1:StatefulSet", "apps/v1"),
    "DaemonSet": ("kubernetes:apps/v1:DaemonSet", "apps/v1"),
    "Job": ("kubernetes:batch/v1:Job", "batch/v1"),
    "CronJob": ("kubernetes:batch/v1:CronJob", "batch/v1"),
    "Pod": ("kubernetes:core/v1:Pod", "v1"),
    # Argo Rollouts' Deployment replacement: a pod template under spec.template.
    "Rollout": ("kubernetes:argoproj.io/v1alpha1:Rollout", "argoproj.io/v1alpha1"),
}


def pod_spec() -> dict[str, Any]:
    limits = {"cpu": "500m", "memory": "256Mi"}
    return {
        "serviceAccountName": "api",
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "initContainers": [
            {
                "name": "migrate",
                "image": "localhost:5001/api-migrate:1.4.0",
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": dict(limits)},
                "securityContext": {"readOnlyRootFilesystem": True, "privileged": False, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}},
            }
        ],
        "containers": [
            {
                "name": "api",
                "image": "localhost:5001/api@sha256:" + "a" * 64,
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": dict(limits)},
                "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
    }


def workload(kind: str = "Deployment") -> dict[str, Any]:
    """A compliant workload of `kind`: every pod-spec rule passes."""
    _, api_version = KINDS[kind]
    metadata = {"name": "api", "namespace": "apps", "labels": {"app": "api", "version": "1.4.0", "environment": "local"}}
    template = {"metadata": {"labels": {"app": "api"}}, "spec": pod_spec()}
    if kind == "Pod":
        spec: dict[str, Any] = pod_spec()
    elif kind == "CronJob":
        spec = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        spec = {"template": template}
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Rollout"):
            spec["selector"] = {"matchLabels": {"app": "api"}}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def mutate(fn: Callable[[dict[str, Any]], None], kind: str = "Deployment") -> dict[str, Any]:
    obj = copy.deepcopy(workload(kind))
    fn(obj)
    return obj


def _main(obj):
    return spec_of(obj)["containers"][0]


def _init(obj):
    return spec_of(obj)["initContainers"][0]


# rule -> [(mutation id, mutation, text the one message must contain)]
WORKLOAD_MUTATIONS: dict[str, list[tuple[str, Callable[[dict[str, Any]], None], str]]] = {
    "kubernetes-workload-required-labels": [
        ("no-version-label", lambda o: o["metadata"]["labels"].pop("version"), "missing required labels ['version']"),
        ("no-labels", lambda o: o["metadata"].pop("labels"), "missing required labels ['app', 'environment', 'version']"),
    ],
    "kubernetes-container-limits": [
        ("no-memory-limit", lambda o: _main(o)["resources"]["limits"].pop("memory"), "container api has no memory limit"),
        ("init-without-cpu-limit", lambda o: _init(o)["resources"]["limits"].pop("cpu"), "container migrate has no cpu limit"),
    ],
    "kubernetes-container-allowed-registries": [
        ("foreign-registry", lambda o: _main(o).update(image="evil.example.com/api:1.4.0"), "evil.example.com/api:1.4.0 is not from an allowed registry"),
        ("init-from-docker-hub", lambda o: _init(o).update(image="busybox:1.36"), "container migrate image busybox:1.36 is not from an allowed registry"),
    ],
    "kubernetes-container-no-privileged": [
        ("privileged", lambda o: _main(o)["securityContext"].update(privileged=True), "container api is privileged"),
        ("privileged-init", lambda o: _init(o)["securityContext"].update(privileged=True), "container migrate is privileged"),
    ],
    "kubernetes-container-no-privilege-escalation": [
        ("escalation-allowed", lambda o: _main(o)["securityContext"].update(allowPrivilegeEscalation=True), "container api may gain more privileges"),
        ("init-unset", lambda o: _init(o)["securityContext"].pop("allowPrivilegeEscalation"), "container migrate may gain more privileges"),
        ("no-security-context", lambda o: _main(o).pop("securityContext") and _main(o).update(securityContext={"readOnlyRootFilesystem": True}), "container api may gain more privileges"),
    ],
    "kubernetes-container-drop-capabilities": [
        ("nothing-dropped", lambda o: _main(o)["securityContext"].pop("capabilities"), "container api does not drop ALL capabilities"),
        ("init-drops-some", lambda o: _init(o)["securityContext"].update(capabilities={"drop": ["NET_RAW"]}), "container migrate does not drop ALL capabilities"),
        ("adds-sys-admin", lambda o: _main(o)["securityContext"]["capabilities"].update(add=["SYS_ADMIN", "NET_BIND_SERVICE"]), 'adds capabilities ["SYS_ADMIN"]'),
    ],
    "kubernetes-pod-seccomp": [
        ("pod-profile-removed-init-sets-its-own", lambda o: (spec_of(o)["securityContext"].pop("seccompProfile"), _init(o)["securityContext"].update(seccompProfile={"type": "RuntimeDefault"})),
         "container api runs without a seccomp profile"),
        ("container-unconfined", lambda o: _main(o)["securityContext"].update(seccompProfile={"type": "Unconfined"}), "container api runs without a seccomp profile"),
        ("init-localhost-is-fine-main-unconfined", lambda o: (_init(o)["securityContext"].update(seccompProfile={"type": "Localhost", "localhostProfile": "p.json"}),
                                                        _main(o)["securityContext"].update(seccompProfile={"type": "Unconfined"})), "container api runs without"),
    ],
    "kubernetes-pod-run-as-non-root": [
        ("container-opts-out", lambda o: _main(o)["securityContext"].update(runAsNonRoot=False), "container api may run as root"),
        ("pod-setting-removed", lambda o: spec_of(o).pop("securityContext"), "container api may run as root"),
    ],
    "kubernetes-container-read-only-root-fs": [
        ("writable-root", lambda o: _main(o)["securityContext"].update(readOnlyRootFilesystem=False), "container api has a writable root filesystem"),
        ("init-unset", lambda o: _init(o)["securityContext"].pop("readOnlyRootFilesystem"), "container migrate has a writable root filesystem"),
    ],
    "kubernetes-container-no-latest-tag": [
        ("latest", lambda o: _main(o).update(image="localhost:5001/api:latest"), "image localhost:5001/api:latest has no fixed tag"),
        ("untagged", lambda o: _main(o).update(image="localhost:5001/api"), "image localhost:5001/api has no fixed tag"),
        ("untagged-init-on-registry-port", lambda o: _init(o).update(image="localhost:5001/api-migrate"), "container migrate image localhost:5001/api-migrate has no fixed tag"),
    ],
    "kubernetes-pod-no-host-namespaces": [
        ("host-network", lambda o: spec_of(o).update(hostNetwork=True), "shares the node's hostNetwork"),
        ("host-pid", lambda o: spec_of(o).update(hostPID=True), "shares the node's hostPID"),
        ("host-ipc", lambda o: spec_of(o).update(hostIPC=True), "shares the node's hostIPC"),
    ],
    "kubernetes-pod-no-host-path": [
        ("host-path", lambda o: spec_of(o)["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}), "mounts hostPath /var/run/docker.sock"),
    ],
    "kubernetes-pod-no-default-service-account": [
        ("default-account", lambda o: spec_of(o).update(serviceAccountName="default"), "runs as the namespace's default ServiceAccount"),
        ("no-account", lambda o: spec_of(o).pop("serviceAccountName"), "runs as the namespace's default ServiceAccount"),
    ],
}

def network_policy() -> dict[str, Any]:
    """A compliant NetworkPolicy: default-deny with both directions stated."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "api", "namespace": "apps"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


NETWORK_POLICY_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

# rule -> [(mutation id, mutation of network_policy(), text the one message must contain)]
NETWORK_POLICY_MUTATIONS: dict[str, list[tuple[str, Callable[[dict[str, Any]], None], str]]] = {
    "kubernetes-networkpolicy-policy-types": [
        ("no-policy-types", lambda o: o["spec"].pop("policyTypes"), "does not set spec.policyTypes"),
        ("empty-policy-types", lambda o: o["spec"].update(policyTypes=[]), "does not set spec.policyTypes"),
    ],
}


def mutate_network_policy(fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    obj = network_policy()
    fn(obj)
    return obj


def app_project() -> dict[str, Any]:
    """A compliant AppProject: one team's repository, its namespace on this cluster, no cluster-scoped kinds."""
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "api", "namespace": "argocd"},
        "spec": {
            "sourceRepos": ["https://github.com/example/team-api.git"],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "apps"}],
            "clusterResourceWhitelist": [],
            "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}],
        },
    }


APP_PROJECT_TYPE = "kubernetes:argoproj.io/v1alpha1:AppProject"

APP_PROJECT_MUTATIONS: dict[str, list[tuple[str, Callable[[dict[str, Any]], None], str]]] = {
    "argocd-appproject-confined": [
        ("every-source", lambda o: o["spec"]["sourceRepos"].append("*"), "allows every source repository"),
        ("every-namespace", lambda o: o["spec"]["destinations"][0].update(namespace="*"), "allows every destination"),
        ("every-server", lambda o: o["spec"]["destinations"][0].update(server="*"), "allows every destination"),
        ("cluster-kinds", lambda o: o["spec"].update(clusterResourceWhitelist=[{"group": "*", "kind": "*"}]), "allows cluster-scoped kinds"),
    ],
}


def mutate_app_project(fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    obj = app_project()
    fn(obj)
    return obj


GATEKEEPER_TWINS = {
    # CrossGuard policy -> (Rego file under policies/rego, package, Gatekeeper parameters)
    "kubernetes-workload-required-labels": ("requiredlabels", "k8srequiredlabels", {"labels": ["app", "version", "environment"]}),
    "kubernetes-container-limits": ("containerlimits", "k8scontainerlimits", {}),
    "kubernetes-container-allowed-registries": ("allowedrepos", "k8sallowedrepos", {"repos": ["localhost:5001/", "docker.io/istio/"]}),
    "kubernetes-container-no-privileged": ("privileged", "k8spspprivileged", {}),
    "kubernetes-pod-seccomp": ("seccomp", "k8spspseccomp", {}),
    "kubernetes-networkpolicy-policy-types": ("networkpolicytypes", "k8snetworkpolicytypes", {}),
    "argocd-appproject-confined": ("appprojectconfined", "k8sappprojectconfined", {}),
    "kubernetes-container-no-privilege-escalation": ("privilegeescalation", "k8spspallowprivilegeescalationcontainer", {}),
    "kubernetes-container-drop-capabilities": (
        "capabilities", "k8spspcapabilities", {"exemptImages": ["docker.io/istio/proxyv2:"], "allowedCapabilities": ["NET_BIND_SERVICE"]},
    ),
    "kubernetes-pod-run-as-non-root": ("runasnonroot", "k8srunasnonroot", {"exemptImages": ["docker.io/istio/proxyv2:"]}),
    "kubernetes-container-read-only-root-fs": ("readonlyrootfs", "k8sreadonlyrootfilesystem", {"exemptImages": ["docker.io/istio/proxyv2:"]}),
    "kubernetes-container-no-latest-tag": ("disallowedtags", "k8sdisallowedtags", {}),
    "kubernetes-pod-no-host-namespaces": ("hostnamespaces", "k8shostnamespaces", {}),
    "kubernetes-pod-no-host-path": ("hostpath", "k8shostpath", {}),
}


BY_NAME = {p.name: p for p in ALL_POLICIES}
"""Every policy of the pack by name."""


def messages(policy: str, type_: str, props: dict, *, pack_config: dict | None = None, name: str = "res") -> list[str]:
    """The messages `policy` reports on one resource of `type_` with `props`."""
    result = evaluate([Resource(type_, f"urn:{name}", name, props)], policies=[BY_NAME[policy]], pack_config=pack_config)
    return [v["message"] for v in result["violations"]]


def stack_messages(policy: str, resources: list[Resource], pack_config: dict | None = None) -> list[dict]:
    """The violations stack policy `policy` reports on `resources`."""
    return evaluate(resources, policies=[BY_NAME[policy]], pack_config=pack_config)["violations"]


REPO = "aws:ecr/repository:Repository"


def repo(**overrides):
    props = {"name": "gitops-platform/backend", "imageScanningConfiguration": {"scanOnPush": True}, "imageTagMutability": "IMMUTABLE", "encryptionConfigurations": [{"encryptionType": "KMS"}]}
    props.update(overrides)
    return props
