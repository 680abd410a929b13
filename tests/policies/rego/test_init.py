"""policies.rego: Gatekeeper (Rego, at admission) and CrossGuard (Python, at preview) agree on the same objects."""

from __future__ import annotations

import json
from functools import cache

import pytest
import regopy

from components.security import TEMPLATES
from policies import ALL_POLICIES
from policies.evaluate import Resource, evaluate
from policies.rego import REGO_DIR, rego_source
from policy_fixtures import (
    APP_PROJECT_MUTATIONS,
    APP_PROJECT_TYPE,
    GATEKEEPER_TWINS,
    KINDS,
    NETWORK_POLICY_MUTATIONS,
    NETWORK_POLICY_TYPE,
    WORKLOAD_MUTATIONS,
    app_project,
    mutate,
    mutate_app_project,
    mutate_network_policy,
    network_policy,
    workload,
)

BY_NAME = {p.name: p for p in ALL_POLICIES}
MATCH = {t.rego: t.kinds for t in TEMPLATES}


def _matched(template: str, obj: dict) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return any(group in k["apiGroups"] and obj["kind"] in k["kinds"] for k in MATCH[template])


@cache
def _modules(template: str) -> tuple[str, str]:
    return rego_source("lib/workload"), rego_source(template)


def rego_violations(template: str, package: str, obj: dict, parameters: dict) -> list[str]:
    """Gatekeeper's view: the template's Rego on the object wrapped as an admission review."""
    lib, source = _modules(template)
    interpreter = regopy.Interpreter()
    interpreter.add_module("lib/workload.rego", lib)
    interpreter.add_module(f"{template}.rego", source)
    review = {"review": {"kind": {"group": "", "kind": obj["kind"]}, "operation": "CREATE", "object": obj, "namespace": obj["metadata"].get("namespace")}, "parameters": parameters}
    interpreter.set_input_term(json.dumps(review))
    result = json.loads(str(interpreter.query(f"data.{package}.violation")))
    [found] = result["expressions"]
    return sorted(v["msg"] for v in found)


def crossguard_violations(policy: str, obj: dict, parameters: dict) -> list[str]:
    """CrossGuard's view: the pack's policy on the same object as Pulumi-shaped props."""
    renamed = {"repos": "registries"}
    config = {policy: {renamed.get(k, k): v for k, v in parameters.items()}} if parameters else {}
    type_ = KINDS[obj["kind"]][0] if obj["kind"] in KINDS else {"AppProject": APP_PROJECT_TYPE}.get(obj["kind"], NETWORK_POLICY_TYPE)
    result = evaluate([Resource(type_, "urn:obj", "obj", obj)], policies=[BY_NAME[policy]], pack_config=config)
    return sorted(v["message"] for v in result["violations"])


def fixtures():
    """One shared fixture set: every kind compliant, and every mutation of every twin rule on three kinds."""
    out = [(f"compliant-{kind}", workload(kind)) for kind in KINDS]
    for rule, cases in WORKLOAD_MUTATIONS.items():
        for case, fn, _ in cases:
            for kind in ("Deployment", "CronJob", "Pod", "Rollout"):
                out.append((f"{rule}:{case}:{kind}", mutate(fn, kind)))
    out.append(("compliant-NetworkPolicy", network_policy()))
    for rule, cases in NETWORK_POLICY_MUTATIONS.items():
        out += [(f"{rule}:{case}:NetworkPolicy", mutate_network_policy(fn)) for case, fn, _ in cases]
    out.append(("compliant-AppProject", app_project()))
    for rule, cases in APP_PROJECT_MUTATIONS.items():
        out += [(f"{rule}:{case}:AppProject", mutate_app_project(fn)) for case, fn, _ in cases]
    # Several problems at once: both engines must count each.
    def everything(o):
        spec = o["spec"]["template"]["spec"]
        spec.update(hostNetwork=True, hostPID=True)
        spec["containers"][0].update(image="evil.example.com/x", securityContext={"privileged": True})
        spec["initContainers"][0].pop("resources")
    out.append(("many-problems", mutate(everything)))
    # Istio's injected init container runs as root with a writable root: exempt by image.
    def injected(o):
        o["spec"]["template"]["spec"]["initContainers"].append(
            {"name": "istio-init", "image": "docker.io/istio/proxyv2:1.0.0", "securityContext": {"runAsNonRoot": False, "runAsUser": 0}}
        )
    out.append(("istio-init-exempt", mutate(injected)))
    return out


FIXTURES = fixtures()


@pytest.mark.parametrize("policy", sorted(GATEKEEPER_TWINS))
@pytest.mark.parametrize(("case", "obj"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_gatekeeper_and_crossguard_give_the_same_verdict(policy, case, obj):
    template, package, parameters = GATEKEEPER_TWINS[policy]

    # Gatekeeper runs a template's Rego only on the kinds its constraint matches.
    rego = rego_violations(template, package, obj, parameters) if _matched(template, obj) else []
    crossguard = crossguard_violations(policy, obj, parameters)

    assert len(rego) == len(crossguard), f"rego: {rego}\ncrossguard: {crossguard}"


def test_every_rule_has_a_disallowed_fixture_that_rego_catches():
    # regopy silently yields nothing for some valid OPA forms; a rule that never fires is a bug.
    for policy, (template, package, parameters) in GATEKEEPER_TWINS.items():
        fired = [case for case, obj in FIXTURES if case.startswith(policy + ":") and rego_violations(template, package, obj, parameters)]
        assert fired, f"{template}.rego flags none of the {policy} mutations"


REFERENTIAL_TWINS = {"kubernetes-namespace-default-deny": "namespacedefaultdeny"}
"""Twins that read Gatekeeper's inventory: their parity test is in tests/components/test_netpol.py."""


def test_every_rego_file_has_a_crossguard_twin():
    files = {p.stem for p in REGO_DIR.glob("*.rego")}

    assert files == {template for template, _, _ in GATEKEEPER_TWINS.values()} | set(REFERENTIAL_TWINS.values())
    assert all(policy in BY_NAME for policy in REFERENTIAL_TWINS)
