"""policies.rules.common: the platform's own namespaces are exempt from the workload rules, as in Gatekeeper."""

from __future__ import annotations

from policy_fixtures import messages, mutate


def test_platform_tooling_namespaces_are_exempt_from_workload_rules_as_in_gatekeeper():
    privileged = mutate(lambda o: o["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(privileged=True))
    privileged["metadata"]["namespace"] = "falco"

    assert messages("kubernetes-container-no-privileged", "kubernetes:apps/v1:Deployment", privileged) == []
    config = {"kubernetes-container-no-privileged": {"exemptNamespaces": ["kube-system"]}}
    assert len(messages("kubernetes-container-no-privileged", "kubernetes:apps/v1:Deployment", privileged, pack_config=config)) == 1
