"""policies.rules.mesh: strict mTLS and a deny-all AuthorizationPolicy in every injected namespace."""

from __future__ import annotations

import pytest

from policies.evaluate import Resource
from policy_fixtures import messages, stack_messages

PA = "kubernetes:security.istio.io/v1:PeerAuthentication"


def peer(mode="STRICT", ports=None):
    spec = {"mtls": {"mode": mode}}
    if ports:
        spec["portLevelMtls"] = ports
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "default", "namespace": "istio-system"}, "spec": spec}


@pytest.mark.parametrize(("props", "text"), [
    (peer("PERMISSIVE"), "PeerAuthentication istio-system/default sets mtls.mode PERMISSIVE; use STRICT"),
    (peer("DISABLE"), "sets mtls.mode DISABLE"),
    (peer("STRICT", {"8080": {"mode": "PERMISSIVE"}}), "portLevelMtls[8080].mode PERMISSIVE"),
])
def test_weak_mtls_is_a_violation(props, text):
    assert messages("mesh-peerauthentication-strict", PA, peer()) == []
    [message] = messages("mesh-peerauthentication-strict", PA, props)
    assert text in message


def ns(name, injected=True):
    labels = {"istio-injection": "enabled"} if injected else {}
    return Resource("kubernetes:core/v1:Namespace", f"urn:ns:{name}", name, {"metadata": {"name": name, "labels": labels}})


def authz(namespace, spec=None, name="deny-all"):
    return Resource(
        "kubernetes:security.istio.io/v1:AuthorizationPolicy", f"urn:ap:{namespace}:{name}", name,
        {"metadata": {"name": name, "namespace": namespace}, "spec": {} if spec is None else spec},
    )


def test_injected_namespace_needs_a_deny_all_policy():
    assert stack_messages("mesh-namespace-deny-all", [ns("apps"), authz("apps"), ns("tools", injected=False)]) == []
    assert stack_messages("mesh-namespace-deny-all", [ns("apps"), authz("apps", {"action": "DENY", "rules": [{}]})]) == []

    [missing] = stack_messages("mesh-namespace-deny-all", [ns("apps")])
    assert missing["urn"] == "urn:ns:apps"
    assert "namespace apps has sidecar injection but no deny-all AuthorizationPolicy" in missing["message"]
    assert len(stack_messages("mesh-namespace-deny-all", [ns("apps"), authz("other")])) == 1
    allow_some = authz("apps", {"rules": [{"from": [{"source": {"namespaces": ["x"]}}]}]}, name="allow-x")
    assert len(stack_messages("mesh-namespace-deny-all", [ns("apps"), allow_some])) == 1
