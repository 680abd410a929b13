"""components.security.gatekeeper: Gatekeeper constraint library, evaluated like `gator verify`: constraint match, then the template's Rego.

For every template: at least two allowed and two disallowed objects (init containers
included) and a violating object in an excluded namespace that the constraint skips.
The constraints are the ones SecurityStack renders, parameterised from the stack's registry.
"""

from __future__ import annotations

import json

import pytest
import regopy

from components.security import (
    HOST_EXEMPT_NAMESPACES,
    TEMPLATES,
    GatekeeperConfig,
    constraint_parameters,
    constraint_template,
)
from helpers import installed_chart, local, of_kind, pinned
from policies.rego import rego_source
from policy_fixtures import app_project, mutate, network_policy, spec_of, workload
from render.engine.harness import run_program

RELEASE = "kubernetes:helm.sh/v3:Release"

STACK_REGISTRY = "localhost:5001/"
CONFIG = GatekeeperConfig.for_environment("local")


def constraint(template):
    if template.rego == "allowedrepos":  # the stack's registry arrives as an Output; resolved here
        params = {"repos": sorted({STACK_REGISTRY, *CONFIG.upstream_registries})}
    else:
        params = constraint_parameters(template, CONFIG, [])
    excluded = template.excluded()
    return {"kind": template.kind, "spec": {"match": {"kinds": template.kinds, "excludedNamespaces": excluded}, "parameters": params or {}}}


def matches(match, obj):
    group = obj["apiVersion"].rpartition("/")[0]
    kind_ok = any(group in k["apiGroups"] and obj["kind"] in k["kinds"] for k in match["kinds"])
    return kind_ok and obj["metadata"].get("namespace") not in match["excludedNamespaces"]


def gator(template, obj):
    """Violations Gatekeeper would report for `obj` under the platform's constraint of `template`."""
    c = constraint(template)
    if not matches(c["spec"]["match"], obj):
        return []
    document = constraint_template(template)
    target = document["spec"]["targets"][0]
    interpreter = regopy.Interpreter()
    for i, lib in enumerate(target["libs"]):
        interpreter.add_module(f"lib{i}.rego", lib)
    interpreter.add_module(f"{template.rego}.rego", target["rego"])
    review = {"review": {"object": obj, "kind": {"kind": obj["kind"]}, "namespace": obj["metadata"].get("namespace")}, "parameters": c["spec"]["parameters"]}
    interpreter.set_input_term(json.dumps(review))
    [found] = json.loads(str(interpreter.query(f"data.{template.package}.violation")))["expressions"]
    return found


def c0(o):
    return spec_of(o)["containers"][0]


def i0(o):
    return spec_of(o)["initContainers"][0]


# template -> (disallowed mutations: at least two, one on an init container)
DISALLOWED = {
    "requiredlabels": [lambda o: o["metadata"]["labels"].pop("environment"), lambda o: o["metadata"].pop("labels")],
    "containerlimits": [lambda o: c0(o)["resources"].pop("limits"), lambda o: i0(o)["resources"]["limits"].pop("memory")],
    "allowedrepos": [lambda o: c0(o).update(image="docker.io/library/nginx:1.27"), lambda o: i0(o).update(image="quay.io/evil/tool:1")],
    "privileged": [lambda o: c0(o)["securityContext"].update(privileged=True), lambda o: i0(o)["securityContext"].update(privileged=True)],
    "capabilities": [lambda o: c0(o)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]), lambda o: i0(o)["securityContext"].pop("capabilities")],
    "seccomp": [lambda o: spec_of(o)["securityContext"].pop("seccompProfile"), lambda o: i0(o)["securityContext"].update(seccompProfile={"type": "Unconfined"})],
    # Not a workload rule: each mutation turns the fixture into a NetworkPolicy without policyTypes.
    "networkpolicytypes": [lambda o: _as_network_policy(o, None), lambda o: _as_network_policy(o, [])],
    # Not a workload rule either: each mutation turns the fixture into an AppProject that is too open.
    "appprojectconfined": [lambda o: _as_app_project(o, sourceRepos=["*"]), lambda o: _as_app_project(o, clusterResourceWhitelist=[{"group": "*", "kind": "*"}])],
    "privilegeescalation": [lambda o: c0(o)["securityContext"].update(allowPrivilegeEscalation=True), lambda o: i0(o)["securityContext"].pop("allowPrivilegeEscalation")],
    "readonlyrootfs": [lambda o: c0(o)["securityContext"].update(readOnlyRootFilesystem=False), lambda o: i0(o)["securityContext"].pop("readOnlyRootFilesystem")],
    "disallowedtags": [lambda o: c0(o).update(image="localhost:5001/api:latest"), lambda o: i0(o).update(image="localhost:5001/api-migrate")],
    "hostnamespaces": [lambda o: spec_of(o).update(hostNetwork=True), lambda o: spec_of(o).update(hostIPC=True)],
    "hostpath": [lambda o: spec_of(o)["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), lambda o: spec_of(o).update(volumes=[{"name": "d", "hostPath": {"path": "/dev"}}])],
    "runasnonroot": [lambda o: spec_of(o).pop("securityContext"), lambda o: i0(o)["securityContext"].update(runAsNonRoot=False)],
}

BY_REGO = {t.rego: t for t in TEMPLATES if not t.sync}
"""Templates that judge the object alone; the referential one (reads data.inventory) has its suite in tests/components/test_netpol.py."""


def _as_network_policy(o, policy_types):
    namespace = o["metadata"]["namespace"]
    o.clear()
    o.update(network_policy())
    o["metadata"].update(name="api", namespace=namespace)
    if policy_types is None:
        o["spec"].pop("policyTypes")
    else:
        o["spec"]["policyTypes"] = policy_types


def _as_app_project(o, **spec):
    namespace = o["metadata"]["namespace"]
    o.clear()
    o.update(app_project())
    o["metadata"].update(name="api", namespace=namespace)
    o["spec"].update(spec)


def test_every_template_has_a_suite():
    assert set(DISALLOWED) == set(BY_REGO)


@pytest.mark.parametrize("rego", sorted(BY_REGO))
@pytest.mark.parametrize("kind", ["Deployment", "Pod", "CronJob", "Rollout"])
def test_allowed_objects_pass(rego, kind):
    assert gator(BY_REGO[rego], workload(kind)) == []


@pytest.mark.parametrize("rego", sorted(BY_REGO))
@pytest.mark.parametrize("index", [0, 1])
def test_disallowed_objects_are_refused(rego, index):
    found = gator(BY_REGO[rego], mutate(DISALLOWED[rego][index]))

    assert len(found) >= 1
    obj = mutate(DISALLOWED[rego][index])
    assert all(f"{obj['kind']} api" in v["msg"] for v in found)


@pytest.mark.parametrize("rego", sorted(BY_REGO))
@pytest.mark.parametrize("namespace", ["kube-system", "argocd"])
def test_excluded_namespace_is_not_checked(rego, namespace):
    obj = mutate(DISALLOWED[rego][0])
    obj["metadata"]["namespace"] = namespace

    # kube-system: skipped by every constraint except the AppProject one (AppProjects live in
    # a platform namespace). argocd (restricted): skipped by convention constraints only.
    template = BY_REGO[rego]
    skipped = {"platform": True, "host": namespace == "kube-system", "none": False}[template.exempt_namespaces]
    assert (gator(template, obj) == []) is skipped


def test_with_istio_cni_no_injected_container_is_exempt():
    def injected(name, security):
        def add(o):
            spec_of(o)["initContainers"].append({
                "name": name, "image": "docker.io/istio/proxyv2:1.0.0", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}},
                "securityContext": security,
            })
        return mutate(add)
    validation = injected("istio-validation", {
        "runAsNonRoot": True, "runAsUser": 1337, "readOnlyRootFilesystem": True, "privileged": False,
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
    })
    legacy_init = injected("istio-init", {"runAsNonRoot": False, "runAsUser": 0, "readOnlyRootFilesystem": False, "privileged": False})

    assert CONFIG.exempt_images == []
    for rego in ("runasnonroot", "readonlyrootfs", "capabilities", "allowedrepos", "privileged"):
        assert gator(BY_REGO[rego], validation) == [], rego  # docker.io/istio/ is an upstream registry
    assert gator(BY_REGO["runasnonroot"], legacy_init) != []
    assert gator(BY_REGO["readonlyrootfs"], legacy_init) != []


def test_stack_registry_is_the_allowed_repository():
    allowed = mutate(lambda o: c0(o).update(image="localhost:5001/api:2.0.0"))
    other_port = mutate(lambda o: c0(o).update(image="localhost:5002/api:2.0.0"))

    assert gator(BY_REGO["allowedrepos"], allowed) == []
    assert len(gator(BY_REGO["allowedrepos"], other_port)) == 1


def test_gatekeeper_is_a_pinned_release_that_fails_open_and_skips_platform_namespaces(local_defaults):
    gk = installed_chart(local_defaults, "gatekeeper", "SecurityStack")

    assert gk.type == RELEASE, "its chart needs hooks"
    assert gk.inputs["version"] == pinned("gatekeeper")
    assert gk.inputs["repositoryOpts"]["repo"] == "https://open-policy-agent.github.io/gatekeeper/charts"
    assert gk.inputs["namespace"] == "gatekeeper-system" and gk.inputs["createNamespace"] is True
    values = gk.inputs["values"]
    assert values["validatingWebhookFailurePolicy"] == "Ignore"
    # Only the cluster's namespaces are skipped by the webhook itself; the rest is per constraint.
    assert values["controllerManager"]["exemptNamespaces"] == ["kube-system", "kube-public", "kube-node-lease"]
    assert values["postInstall"]["labelNamespace"]["extraNamespaces"] == ["kube-system", "kube-public", "kube-node-lease"]
    assert values["replicas"] == 1 and values["auditInterval"] == 60


def test_gatekeeper_is_ha_on_aws(aws_defaults):
    assert installed_chart(aws_defaults, "gatekeeper", "SecurityStack").inputs["values"]["replicas"] == 3


def test_templates_carry_the_rego_of_policies_and_wait_until_ingested(local_defaults):
    templates = {t.inputs["metadata"]["name"]: t for t in of_kind(local_defaults, "ConstraintTemplate")}
    gk = installed_chart(local_defaults, "gatekeeper", "SecurityStack")

    assert len(templates) == len(TEMPLATES)
    allowed = templates["k8sallowedrepos"]
    [target] = allowed.inputs["spec"]["targets"]
    assert target["rego"] == rego_source("allowedrepos")
    assert target["libs"] == [rego_source("lib/workload")]
    for template in templates.values():
        annotations = dict(template.inputs["metadata"]["annotations"])
        assert annotations.pop("pulumi.com/waitFor") == "jsonpath={.status.created}=true"
        # Only the referential template says what it needs synced (tests/components/test_netpol.py).
        assert annotations == ({"metadata.gatekeeper.sh/requires-sync-data": annotations.get("metadata.gatekeeper.sh/requires-sync-data")}
                               if template.inputs["metadata"]["name"] == "k8snamespacedefaultdeny" else {})
        assert gk.urn in template.dependencies


def test_each_constraint_waits_for_its_template(local_defaults):
    templates = {t.inputs["spec"]["crd"]["spec"]["names"]["kind"]: t for t in of_kind(local_defaults, "ConstraintTemplate")}
    constraints = [r for r in local_defaults.resources if r.type.startswith("kubernetes:constraints.gatekeeper.sh/")]

    assert len(constraints) == len(TEMPLATES)
    for constraint in constraints:
        kind_name = constraint.type.rsplit(":", 1)[-1]
        assert templates[kind_name].urn in constraint.dependencies
        assert constraint.inputs["spec"]["enforcementAction"] == "deny"
        if kind_name == "K8sAppProjectConfined":  # AppProjects live in Argo CD's platform namespace
            assert "excludedNamespaces" not in constraint.inputs["spec"]["match"]
        else:
            assert "kube-system" in constraint.inputs["spec"]["match"]["excludedNamespaces"]


def test_allowed_repos_are_the_stacks_registry_plus_upstream(local_defaults, aws_defaults):
    assert _constraint(local_defaults, "K8sAllowedRepos").inputs["spec"]["parameters"] == {"repos": ["docker.io/istio/", "localhost:5001/"]}
    aws_repos = _constraint(aws_defaults, "K8sAllowedRepos").inputs["spec"]["parameters"]["repos"]
    assert "123456789012.dkr.ecr.eu-west-1.amazonaws.com/" in aws_repos


def test_constraints_are_parameterised_from_config():
    run = run_program("local", local(security={"gatekeeper": {
        "requiredLabels": ["team"], "upstreamRegistries": ["docker.io/istio/", "ghcr.io/acme/"],
        "enforcement": {"hostPath": "warn", "requiredLabels": "dryrun"},
    }}))

    assert _constraint(run, "K8sRequiredLabels").inputs["spec"]["parameters"] == {"labels": ["team"]}
    assert _constraint(run, "K8sRequiredLabels").inputs["spec"]["enforcementAction"] == "dryrun"
    assert _constraint(run, "K8sHostPath").inputs["spec"]["enforcementAction"] == "warn"
    assert "ghcr.io/acme/" in _constraint(run, "K8sAllowedRepos").inputs["spec"]["parameters"]["repos"]
    assert _constraint(run, "K8sRunAsNonRoot").inputs["spec"]["parameters"] == {"exemptImages": []}  # Istio CNI: nothing exempt


def test_constraints_skip_the_minimal_namespaces_for_their_kind(local_defaults):
    privileged = _constraint(local_defaults, "K8sPSPPrivileged").inputs["spec"]["match"]["excludedNamespaces"]
    labels = _constraint(local_defaults, "K8sRequiredLabels").inputs["spec"]["match"]["excludedNamespaces"]

    # Host-access rules skip only the node agents' namespaces (each with a reason in HOST_EXEMPT_NAMESPACES).
    assert set(privileged) == set(HOST_EXEMPT_NAMESPACES)
    assert {"argocd", "istio-system", "keda", "cert-manager"}.isdisjoint(privileged)
    # Convention rules skip every platform namespace: chart pods carry the charts' labels.
    assert {"argocd", "istio-system", "falco", "monitoring"} <= set(labels)
    assert "apps" not in labels and "apps" not in privileged
    assert all(reason.strip() for reason in HOST_EXEMPT_NAMESPACES.values())


def _constraint(run, kind_name):
    [c] = [r for r in run.resources if r.type == f"kubernetes:constraints.gatekeeper.sh/v1beta1:{kind_name}"]
    return c
