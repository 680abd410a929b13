"""render.checks.admission: admission offline: Gatekeeper's constraints (their deployed Rego) and Pod Security Admission on deployed objects."""

from __future__ import annotations

import copy

import pytest

from components.podsecurity import REASON_ANNOTATION, namespace_metadata, pod_security_labels
from components.security import TEMPLATES
from render.checks.admission import (
    admission_report,
    gatekeeper_verdicts,
    namespace_labels,
    pod_security_violations,
)
from render.engine.deployed import Deployed


@pytest.fixture(scope="module")
def platform(rendered):
    """The local stack's deployed objects (templates, constraints, namespaces)."""
    _, _, deployed = rendered("local")
    return deployed.objects


def workload(name="api", namespace="apps", *, image="localhost:5001/api:1.0", security=None, pod_security=None, **spec):
    container = {
        "name": name, "image": image,
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        "securityContext": security if security is not None else {
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    obj = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, "version": "1", "environment": "local"}},
        "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container], "securityContext": pod_security or {}, **spec}}},
    }
    return Deployed(obj, f"urn:{name}", "program")


def denied(objects):
    return gatekeeper_verdicts(objects, namespace_labels(objects, {}))["denied"]


def test_a_compliant_workload_is_admitted(platform):
    assert denied([*platform, workload()]) == []


def test_a_privileged_container_is_denied_with_the_constraints_message(platform):
    bad = workload(security={"privileged": True, "readOnlyRootFilesystem": True, "runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                              "seccompProfile": {"type": "RuntimeDefault"}})

    [finding] = denied([*platform, bad])

    assert finding["constraint"] == "K8sPSPPrivileged platform-privileged"
    assert finding["object"] == "Deployment apps/api"
    assert "container api is privileged" in finding["message"]


def test_a_foreign_registry_and_latest_tag_are_denied(platform):
    found = {f["constraint"].split()[0] for f in denied([*platform, workload(image="docker.io/library/nginx:latest")])}

    assert found == {"K8sAllowedRepos", "K8sDisallowedTags"}


def test_excluded_namespaces_are_not_evaluated(platform):
    bad = workload(namespace="monitoring", security={"privileged": True})

    assert denied([*platform, bad]) == []


def test_namespaces_labelled_ignore_skip_the_webhook(platform):
    bad = workload(namespace="team", security={"privileged": True})
    labelled = Deployed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {"admission.gatekeeper.sh/ignore": "no-self-managing"}}}, "urn:ns", "program")

    assert denied([*platform, labelled, bad]) == []


def test_dryrun_constraints_warn_instead_of_denying(platform):
    objects = [copy.deepcopy(d) if d.kind == "K8sPSPPrivileged" else d for d in platform]
    for d in objects:
        if d.kind == "K8sPSPPrivileged":
            d.obj["spec"]["enforcementAction"] = "dryrun"
    bad = workload(security={"privileged": True, "readOnlyRootFilesystem": True, "runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                              "seccompProfile": {"type": "RuntimeDefault"}})

    result = gatekeeper_verdicts([*objects, bad], namespace_labels(objects, {}))

    assert result["denied"] == [] and [w["action"] for w in result["warnings"]] == ["dryrun"]


def test_pod_security_restricted_rejects_what_baseline_admits():
    spec = {"containers": [{"name": "c", "securityContext": {}}]}

    assert pod_security_violations(spec, {}, "privileged") == []
    assert pod_security_violations(spec, {}, "baseline") == []
    restricted = pod_security_violations(spec, {}, "restricted")
    assert "container c allowPrivilegeEscalation != false" in restricted
    assert "container c does not drop ALL capabilities" in restricted


def test_pod_security_baseline_rejects_host_access():
    spec = {"hostNetwork": True, "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}, "ports": [{"hostPort": 80}]}]}

    assert pod_security_violations(spec, {}, "baseline") == [
        "hostNetwork=true", "hostPath volume root", "container c adds capabilities ['NET_ADMIN']", "container c hostPort 80",
    ]


def test_a_namespace_enforcing_restricted_rejects_a_root_pod():
    ns = Deployed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "strict", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}, "urn:ns", "program")
    root = workload(namespace="strict", security={"runAsUser": 0})

    [finding] = admission_report([ns, root], {})["pod_security"]["denied"]

    assert finding["level"] == "restricted" and "runAsUser=0" in finding["message"]


def test_labels_that_kept_hooks_add_are_enforced():
    # Gatekeeper's post-install hook labels gatekeeper-system `restricted`.
    ns = Deployed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gatekeeper-system"}}, "urn:ns", "program")
    root = workload(namespace="gatekeeper-system", security={"runAsUser": 0})

    report = admission_report([ns, root], {"gatekeeper-system": {"pod-security.kubernetes.io/enforce": "restricted"}})

    assert report["pod_security"]["levels"]["gatekeeper-system"] == "restricted"
    assert len(report["pod_security"]["denied"]) == 1


def namespace(name, labels=None, annotations=None):
    return Deployed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}}},
                    f"urn:{name}", "program")


def test_every_created_namespace_states_its_level_and_below_restricted_why():
    unlabelled = namespace("quiet")
    unexplained = namespace("agents", pod_security_labels("privileged"))
    explained = namespace("nodes", pod_security_labels("privileged"), {REASON_ANNOTATION: "node-exporter reads the host"})
    strict = namespace("apps", pod_security_labels("restricted"))
    host_pod = workload(namespace="nodes", hostNetwork=True)

    psa = admission_report([unlabelled, unexplained, explained, strict, host_pod, workload(namespace="apps")], {})["pod_security"]

    assert [e["namespace"] for e in psa["label_errors"]] == ["agents", "quiet"]
    assert "states no Pod Security level" in psa["label_errors"][1]["message"]
    assert REASON_ANNOTATION in psa["label_errors"][0]["message"]
    assert psa["pods_pass"] == {"apps": "restricted", "nodes": "privileged"}


def test_namespace_metadata_requires_a_reason_below_restricted():
    with pytest.raises(ValueError, match="give the reason"):
        namespace_metadata("falco", "privileged")
    assert namespace_metadata("keda", "restricted")["labels"]["pod-security.kubernetes.io/audit"] == "restricted"


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_every_namespace_is_labelled_and_app_namespaces_are_restricted(rendered, stack):
    _, data, _ = rendered(stack)
    psa = data["admission"]["pod_security"]

    assert psa["label_errors"] == []
    assert psa["levels"]["apps"] == "restricted"
    # Only node agents' namespaces run below restricted; every other platform namespace is restricted.
    below = {ns for ns, level in psa["levels"].items() if level != "restricted" and not ns.startswith("kube-")}
    assert below <= {"monitoring", "falco", "vault", "trivy-system"}
    assert {"istio-system", "istio-ingress", "keda", "cert-manager", "argocd", "gatekeeper-system"} <= {
        ns for ns, level in psa["levels"].items() if level == "restricted"
    }


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_the_stacks_pass_admission(rendered, stack):
    _, data, _ = rendered(stack)
    gatekeeper, psa = data["admission"]["gatekeeper"], data["admission"]["pod_security"]

    assert gatekeeper["denied"] == [] and gatekeeper["warnings"] == []
    assert psa["denied"] == []
    assert gatekeeper["constraints"] == len(TEMPLATES) and psa["evaluated"] > 30


def test_the_sample_apps_are_evaluated_by_every_constraint(rendered):
    _, data, _ = rendered("local")

    # 3 workloads of the sample apps in `apps` (backend, its canary, frontend) x 9 constraints
    assert data["admission"]["gatekeeper"]["evaluated"] >= 27


def test_a_network_policy_without_policy_types_is_denied_and_workload_constraints_skip_it(platform):
    netpol = Deployed({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "apps"},
                       "spec": {"podSelector": {}}}, "urn:deny", "program")

    [finding] = denied([*platform, netpol])

    assert finding["constraint"] == "K8sNetworkPolicyTypes platform-networkpolicytypes"
    assert "does not set spec.policyTypes" in finding["message"]


def test_two_constraints_of_one_template_judge_with_their_own_parameters(platform):
    """A second K8sRequiredLabels asking for another label: each constraint reports against its own parameters."""
    [labels] = [d for d in platform if d.kind == "K8sRequiredLabels"]
    team = copy.deepcopy(labels.obj)
    team["metadata"]["name"] = "team-label"
    team["spec"]["parameters"] = {"labels": ["team"]}
    team["spec"]["enforcementAction"] = "warn"
    verdicts = gatekeeper_verdicts([*platform, Deployed(team, "urn:team", "program"), workload()], namespace_labels(platform, {}))

    assert verdicts["denied"] == []
    assert {(w["constraint"], w["object"]) for w in verdicts["warnings"]} >= {("K8sRequiredLabels team-label", "Deployment apps/api")}
    assert all("team" in w["message"] for w in verdicts["warnings"] if w["constraint"] == "K8sRequiredLabels team-label")
