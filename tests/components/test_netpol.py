"""components.netpol: every namespace with workloads denies by default: the CrossGuard stack rule, its referential
Gatekeeper twin (NetworkPolicies from data.inventory, which the platform's SyncSet fills),
and both on the stacks' renders."""

from __future__ import annotations

import json

import pytest
import regopy

from components.config import ConfigError, parse_config
from components.security import EXEMPT_NAMESPACES, TEMPLATES, constraint_template
from policies import ALL_POLICIES
from policies.evaluate import Resource, evaluate
from policy_fixtures import workload
from render.checks.admission import gatekeeper_verdicts, inventory
from render.engine.deployed import Deployed
from render.engine.injection import as_admitted
from render.engine.selectors import namespace_labels

POLICY = next(p for p in ALL_POLICIES if p.name == "kubernetes-namespace-default-deny")
TEMPLATE = next(t for t in TEMPLATES if t.rego == "namespacedefaultdeny")
NP = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
CASES = {
    # name: (the namespace's NetworkPolicy specs, whether it denies by default in both directions)
    "default-deny": ([DENY_ALL], True),
    "deny-all plus allowances": ([DENY_ALL, {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53}]}]}], True),
    "one policy per direction": ([{"podSelector": {}, "policyTypes": ["Ingress"]}, {"podSelector": {}, "policyTypes": ["Egress"]}], True),
    "no policy": ([], False),
    "ingress only": ([{"podSelector": {}, "policyTypes": ["Ingress"]}], False),
    # policyTypes defaulted: no egress rules means Ingress only.
    "types left to the API server": ([{"podSelector": {}}], False),
    "some pods only": ([{"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress", "Egress"]}], False),
    "allows everything in": ([{"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}]}], False),
}


def policy_resource(namespace: str, spec: dict, index: int = 0) -> Resource:
    obj = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": f"p{index}", "namespace": namespace}, "spec": spec}
    return Resource(NP, f"urn:np:{namespace}:{index}", f"p{index}", obj)


def deployment(namespace: str = "apps") -> Resource:
    obj = workload("Deployment")
    obj["metadata"]["namespace"] = namespace
    return Resource("kubernetes:apps/v1:Deployment", f"urn:deploy:{namespace}", "api", obj)


def crossguard(resources: list[Resource], pack_config: dict | None = None) -> list[str]:
    return [v["message"] for v in evaluate(resources, policies=[POLICY], pack_config=pack_config)["violations"]]


def gatekeeper(pod: dict, specs: list[dict]) -> list[str]:
    """The template's Rego on a Pod, with the namespace's NetworkPolicies in data.inventory."""
    target = constraint_template(TEMPLATE)["spec"]["targets"][0]
    interpreter = regopy.Interpreter()
    for i, lib in enumerate(target["libs"]):
        interpreter.add_module(f"lib{i}.rego", lib)
    interpreter.add_module("template.rego", target["rego"])
    namespace = pod["metadata"]["namespace"]
    policies = {f"p{i}": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": f"p{i}", "namespace": namespace}, "spec": s}
                for i, s in enumerate(specs)}
    interpreter.add_data_json(json.dumps({"inventory": {"namespace": {namespace: {"networking.k8s.io/v1": {"NetworkPolicy": policies}}} if policies else {}}}))
    interpreter.set_input_term(json.dumps({"review": {"object": pod, "kind": {"kind": "Pod"}, "namespace": namespace}, "parameters": {}}))
    [found] = json.loads(str(interpreter.query(f"data.{TEMPLATE.package}.violation")))["expressions"]
    return [v["msg"] for v in found]


@pytest.mark.parametrize("case", sorted(CASES))
def test_crossguard_and_gatekeeper_agree(case):
    specs, denies = CASES[case]

    flagged = crossguard([deployment(), *(policy_resource("apps", s, i) for i, s in enumerate(specs))])
    refused = gatekeeper(workload("Pod"), specs)

    assert bool(flagged) is bool(refused) is (not denies), (flagged, refused)


def test_messages_name_the_namespace_the_missing_direction_and_the_fix():
    [message] = crossguard([deployment(), policy_resource("apps", {"podSelector": {}, "policyTypes": ["Ingress"]})])
    [refusal] = gatekeeper(workload("Pod"), [{"podSelector": {}, "policyTypes": ["Ingress"]}])

    assert "namespace apps" in message and "Egress" in message and "podSelector: {}" in message
    assert "namespace apps" in refusal and "Egress" in refusal and "Ingress and" not in refusal


def test_another_namespaces_policies_do_not_count():
    assert crossguard([deployment("apps"), policy_resource("other", DENY_ALL)])
    pod = workload("Pod")
    assert gatekeeper(pod, []) and not gatekeeper(pod, [DENY_ALL])


def test_a_helm_releases_namespace_runs_workloads():
    release = Resource("kubernetes:helm.sh/v3:Release", "urn:release", "vault", {"name": "vault", "namespace": "vault", "chart": "vault"})

    [message] = crossguard([release])
    assert "namespace vault" in message and "Helm release vault" in message
    assert crossguard([release, policy_resource("vault", DENY_ALL)]) == []


def test_cluster_owned_namespaces_are_exempt_and_the_list_is_configurable():
    assert crossguard([deployment("kube-system")]) == []
    assert crossguard([deployment("local-path-storage")]) == []
    assert crossguard([deployment("tools")], {POLICY.name: {"exemptNamespaces": ["tools"]}}) == []
    assert crossguard([deployment("kube-system")], {POLICY.name: {"exemptNamespaces": []}})


def test_constraint_matches_pods_only_and_reads_synced_network_policies():
    # Controllers retry a refused Pod: a Pod created before the inventory holds its
    # namespace's policies is admitted on a later try, where a refused Deployment would fail the apply.
    assert TEMPLATE.kinds == [{"apiGroups": [""], "kinds": ["Pod"]}]
    assert TEMPLATE.sync == [{"group": "networking.k8s.io", "version": "v1", "kind": "NetworkPolicy"}]
    annotation = constraint_template(TEMPLATE)["metadata"]["annotations"]["metadata.gatekeeper.sh/requires-sync-data"]
    assert json.loads(annotation) == [[{"groups": ["networking.k8s.io"], "versions": ["v1"], "kinds": ["NetworkPolicy"]}]]
    assert "istio-system" in EXEMPT_NAMESPACES


@pytest.mark.parametrize("stack", ["local", "aws-apps"])
def test_the_stacks_sync_network_policies_and_admit_their_pods(rendered, stack):
    _, data, deployed = rendered(stack)
    objects = as_admitted(deployed.objects)
    [syncset] = [d for d in objects if d.kind == "SyncSet"]

    assert syncset.obj["spec"]["gvks"] == TEMPLATE.sync
    assert "apps" in inventory(objects)["namespace"]
    assert data["admission"]["gatekeeper"]["denied"] == []
    assert not [v for v in data["policies"]["violations"] if v["policy"] == POLICY.name]


def _refusals(objects: list[Deployed]) -> list[dict]:
    verdicts = gatekeeper_verdicts(objects, namespace_labels(objects))
    return [d for d in verdicts["denied"] if d["constraint"].startswith("K8sNamespaceDefaultDeny")]


def test_without_the_syncset_or_the_default_deny_gatekeeper_refuses_the_apps_pods(rendered):
    _, _, deployed = rendered("local")
    objects = as_admitted(deployed.objects)
    assert _refusals(objects) == []

    no_sync = [d for d in objects if d.kind != "SyncSet"]
    no_deny = [d for d in objects if not (d.kind == "NetworkPolicy" and d.namespace == "apps" and d.name == "default-deny")]

    for variant in (no_sync, no_deny):
        refused = _refusals(variant)
        assert {r["object"].split()[1].split("/")[0] for r in refused} == {"apps"}
        assert len(refused) == 2  # frontend and the backend's Rollout


def test_isolation_off_with_a_denying_constraint_is_a_config_error():
    with pytest.raises(ConfigError) as error:
        parse_config({"environment": "local", "security": {"networkIsolation": {"enabled": False}}})
    assert "security.gatekeeper.enforcement.namespaceDefaultDeny" in str(error.value)

    parse_config({"environment": "local", "security": {"networkIsolation": {"enabled": False}, "gatekeeper": {"enforcement": {"namespaceDefaultDeny": "dryrun"}}}})


@pytest.mark.parametrize("cidrs", [[], ["10.0.0.0/33"], ["10.0.0.1/16"], ["nope"]])
def test_api_server_cidrs_are_checked(cidrs):
    with pytest.raises(ConfigError) as error:
        parse_config({"environment": "local", "security": {"networkIsolation": {"apiServerCidrs": cidrs}}})
    assert "security.networkIsolation.apiServerCidrs" in str(error.value)


def test_a_policy_whose_namespace_is_not_known_yet_suspends_the_verdict():
    from policies.normalize import UNKNOWN

    pending = policy_resource("apps", DENY_ALL)
    pending.props["metadata"]["namespace"] = UNKNOWN

    assert crossguard([deployment(), pending]) == []
