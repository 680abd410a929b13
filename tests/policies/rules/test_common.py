"""policies.rules.common: the rule wrappers — the platform's own namespaces exempt from the workload rules, as in
Gatekeeper; stack policies see plain props of the types they read, and no other."""

from __future__ import annotations

import pytest
from pulumi_policy import Severity

from policies.evaluate import Resource, evaluate
from policies.rules.common import stack_policy
from policy_fixtures import messages, mutate


def test_platform_tooling_namespaces_are_exempt_from_workload_rules_as_in_gatekeeper():
    privileged = mutate(lambda o: o["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(privileged=True))
    privileged["metadata"]["namespace"] = "falco"

    assert messages("kubernetes-container-no-privileged", "kubernetes:apps/v1:Deployment", privileged) == []
    config = {"kubernetes-container-no-privileged": {"exemptNamespaces": ["kube-system"]}}
    assert len(messages("kubernetes-container-no-privileged", "kubernetes:apps/v1:Deployment", privileged, pack_config=config)) == 1


def _namespace_reader(name, reads):
    seen = []

    def validate(args, report):
        seen.extend(r.props["metadata"]["name"] for r in args.resources if r.resource_type == "kubernetes:core/v1:Namespace")

    return stack_policy(name, "reads namespaces", validate=validate, reads=reads, severity=Severity.LOW, remediation="-"), seen


def test_a_stack_policy_sees_plain_props_of_the_types_it_reads_and_may_read_no_other():
    namespace = Resource("kubernetes:core/v1:Namespace", "urn:ns", "ns", {"metadata": {"name": "apps"}})
    declared, seen = _namespace_reader("reads-namespaces", frozenset({"kubernetes:core/v1:Namespace"}))
    undeclared, _ = _namespace_reader("reads-nothing", frozenset())

    with pytest.raises(AssertionError, match="stack policy reads-nothing read the props of a kubernetes:core/v1:Namespace"):
        evaluate([namespace], policies=[undeclared])
    evaluate([namespace], policies=[declared])
    assert seen == ["apps"]


def test_what_a_stack_policy_may_not_read_is_restored_for_the_next_policy():
    namespace = Resource("kubernetes:core/v1:Namespace", "urn:ns", "ns", {"metadata": {"name": "apps"}})
    first, _ = _namespace_reader("first", frozenset({"kubernetes:core/v1:Namespace"}))
    second, seen = _namespace_reader("second", frozenset({"kubernetes:core/v1:Namespace"}))
    blind_seen = []

    def ignore_everything(args, report):
        blind_seen.append(len(args.resources))

    # The offline pack shares each resource between policies: one that may not read it leaves it as it was.
    blind = stack_policy("blind", "reads nothing", validate=ignore_everything, reads=frozenset(), severity=Severity.LOW, remediation="-")
    evaluate([namespace], policies=[first, blind, second])

    assert seen == ["apps"] and blind_seen == [1]
