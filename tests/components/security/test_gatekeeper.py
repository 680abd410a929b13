"""Gatekeeper constraint library, evaluated like `gator verify`: constraint match, then the template's Rego.

For every template: at least two allowed and two disallowed objects (init containers
included) and a violating object in an excluded namespace that the constraint skips.
The constraints are the ones SecurityStack renders, parameterised from the stack's registry.
"""

from __future__ import annotations

import json

import pytest
import regopy

from components.security import (
    TEMPLATES,
    GatekeeperConfig,
    constraint_parameters,
    constraint_template,
)
from policy_fixtures import app_project, mutate, network_policy, spec_of, workload

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
