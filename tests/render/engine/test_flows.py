"""render.engine.flows: NetworkPolicy semantics on one flow, as the Kubernetes API defines them."""

from __future__ import annotations

import pytest

from render.engine.deployed import Deployed
from render.engine.flows import INTERNET_ADDRESS, Endpoint, Flow, verdict

FRONTEND = Endpoint("frontend", "apps", {"app": "frontend"})
BACKEND = Endpoint("backend", "apps", {"app": "backend"}, ports={"http": 8080})
PROMETHEUS = Endpoint("prometheus", "monitoring", {"app": "prometheus"})
INTERNET = Endpoint("internet", address=INTERNET_ADDRESS)
NS_LABELS = {"apps": {"kubernetes.io/metadata.name": "apps"}, "monitoring": {"kubernetes.io/metadata.name": "monitoring"}}


def policy(name, namespace, spec):
    return Deployed({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}, "", "program")


DENY_ALL = policy("default-deny", "apps", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def test_without_a_policy_selecting_either_end_everything_flows():
    assert verdict(Flow("t", FRONTEND, BACKEND, 8080), [], NS_LABELS) is None


def test_default_deny_stops_both_directions_and_says_which_policy():
    why = verdict(Flow("t", FRONTEND, BACKEND, 8080), [DENY_ALL], NS_LABELS)

    assert why == "egress of apps denied (selected by default-deny; no rule allows it)"


@pytest.mark.parametrize(("ingress", "allowed"), [
    ({"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}], "ports": [{"port": 8080}]}, True),
    ({"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}], "ports": [{"port": "http"}]}, True),  # a named port of the destination
    ({"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}], "ports": [{"port": 8000, "endPort": 8100}]}, True),
    ({"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}], "ports": [{"port": 8080, "protocol": "UDP"}]}, False),
    ({"from": [{"podSelector": {"matchLabels": {"app": "other"}}}]}, False),
    ({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}, False),
])
def test_ingress_rules_match_peers_and_ports(ingress, allowed):
    egress = policy("frontend-out", "apps", {"podSelector": {"matchLabels": {"app": "frontend"}}, "policyTypes": ["Egress"], "egress": [{}]})
    backend_in = policy("backend-in", "apps", {"podSelector": {"matchLabels": {"app": "backend"}}, "policyTypes": ["Ingress"], "ingress": [ingress]})

    why = verdict(Flow("t", FRONTEND, BACKEND, 8080), [egress, backend_in], NS_LABELS)

    assert (why is None) is allowed, why


def test_a_pod_selector_alone_means_the_policys_own_namespace():
    backend_in = policy("backend-in", "apps", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]})

    assert verdict(Flow("t", PROMETHEUS, BACKEND, 8080), [backend_in], NS_LABELS) is not None
    assert verdict(Flow("t", FRONTEND, BACKEND, 8080), [backend_in], NS_LABELS) is None


def test_ip_blocks_match_addresses_with_their_exceptions():
    out = policy("out", "apps", {"podSelector": {}, "policyTypes": ["Egress"],
                                 "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}], "ports": [{"port": 443}]}]})

    assert verdict(Flow("t", FRONTEND, INTERNET, 443), [out], NS_LABELS) is None
    assert verdict(Flow("t", FRONTEND, Endpoint("node", address="10.0.0.10"), 443), [out], NS_LABELS) is not None
    assert verdict(Flow("t", FRONTEND, BACKEND, 443), [out], NS_LABELS) is not None  # an ipBlock never matches pods
