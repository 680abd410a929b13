"""render.checks.network: NetworkPolicies: every namespace with workloads denies by default, and every flow the platform needs is let through.

The flows come from the rendered objects (render/checks/network.py); these tests check the
platform's policies against them, and that the check itself notices a missing allowance.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.netpol import NamespaceIsolation, Peer, isolation_policies
from render.checks.network import denies_by_default, network_report
from render.engine.deployed import Deployed
from render.engine.flows import Endpoint, Flow, verdict
from render.engine.injection import as_admitted


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_every_flow_the_platform_needs_is_allowed(rendered, stack):
    _, data, _ = rendered(stack)
    network = data["network"]

    assert network["errors"] == []
    assert {"dns", "scrape", "api-server", "istiod", "tracing", "url"} <= set(network["checks"])
    # kube-system belongs to the cluster (CoreDNS, kube-proxy, the CNI): exempt with that reason.
    assert network["open_namespaces"] == ["kube-system"]
    # Every flow is listed with its verdict (what `render diff` and the platform map read).
    assert len(network["list"]) == network["flows"] and all(f["allowed"] for f in network["list"])
    assert sum(f["check"] == "dns" for f in network["list"]) == network["checks"]["dns"]


def test_a_blocked_flow_is_listed_as_not_allowed(rendered):
    _, _, stack = rendered("local")
    objects = as_admitted(_without(stack.objects, "monitoring", "allow-calls"))

    network = network_report(objects, "local")

    blocked = [f for f in network["list"] if not f["allowed"]]
    assert blocked and len(blocked) == len(network["errors"])
    assert {f["check"] for f in blocked} == {e["check"] for e in network["errors"]}


def _without(objects: list[Deployed], namespace: str, policy: str) -> list[Deployed]:
    return [d for d in objects if not (d.kind == "NetworkPolicy" and d.namespace == namespace and d.name == policy)]


@pytest.mark.parametrize(
    ("namespace", "policy", "check", "flow"),
    [
        ("monitoring", "allow-calls", "scrape", "Deployment trivy-system/trivy-operator"),
        ("trivy-system", "allow-monitoring", "scrape", "Deployment trivy-system/trivy-operator"),
        ("gatekeeper-system", "allow-api-server-calls", "api-server", "gatekeeper-controller-manager"),
        ("istio-system", "allow-callers", "istiod", "Deployment apps/frontend"),
        ("apps", "allow-tracing", "tracing", "Deployment apps/frontend"),
        ("monitoring", "allow-callers", "url", "falco/falco-falcosidekick"),
        ("falco", "allow-calls", "url", "falco/falco-falcosidekick"),
        ("istio-ingress", "allow-calls", "gateway", "istio-ingressgateway"),
        ("falco", "allow-dns", "dns", "falco/falco-falcosidekick"),
        ("monitoring", "allow-external", "scrape", "node:10250"),
        # Controllers and operators call the API server: without their namespace's egress to it they stall.
        ("argo-rollouts", "allow-kube-apiserver", "api-client", "argo-rollouts/argo-rollouts"),
        ("keda", "allow-kube-apiserver", "api-client", "keda/keda-operator"),
        ("cert-manager", "allow-kube-apiserver", "api-client", "cert-manager/cert-manager"),
    ],
)
def test_removing_an_allowance_blocks_the_flows_it_carried(rendered, namespace, policy, check, flow):
    _, _, stack = rendered("local")
    objects = as_admitted(stack.objects)
    assert any(d.kind == "NetworkPolicy" and d.namespace == namespace and d.name == policy for d in objects)

    blocked = network_report(_without(objects, namespace, policy), "local")["errors"]

    assert any(e["check"] == check and flow in e["object"] for e in blocked), blocked


def test_a_namespace_without_default_deny_is_reported_open(rendered):
    _, _, stack = rendered("local")
    objects = _without(as_admitted(stack.objects), "vault", "default-deny")

    assert network_report(objects, "local")["open_namespaces"] == ["kube-system", "vault"]


def _policy(namespace: str, spec: dict[str, Any], name: str = "p") -> Deployed:
    obj = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    return Deployed(obj, "", "program")


WEB = Endpoint("web", "a", {"app": "web"}, ports={"http": 8080})
API = Endpoint("api", "b", {"app": "api"}, ports={"http": 9000})
NODE = Endpoint("node", address="172.18.0.2")
LABELS = {"a": {"kubernetes.io/metadata.name": "a"}, "b": {"kubernetes.io/metadata.name": "b", "team": "x"}}


@pytest.mark.parametrize(
    ("policies", "flow", "allowed"),
    [
        ([], Flow("t", WEB, API, 9000), True),
        ([_policy("b", {"podSelector": {}, "policyTypes": ["Ingress"]})], Flow("t", WEB, API, 9000), False),
        # policyTypes defaulted by the API server: Ingress only, so egress rules-less policies do not isolate egress.
        ([_policy("a", {"podSelector": {}})], Flow("t", WEB, API, 9000), True),
        ([_policy("b", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "x"}}}]}]})], Flow("t", WEB, API, 9000), False),
        ([_policy("b", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "a"}}}]}]})], Flow("t", WEB, API, 9000), True),
        # A podSelector alone means the policy's own namespace.
        ([_policy("b", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]})], Flow("t", WEB, API, 9000), False),
        ([_policy("b", {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]})], Flow("t", WEB, API, 9000), True),
        ([_policy("b", {"podSelector": {}, "ingress": [{"ports": [{"port": 8000, "endPort": 9000}]}]})], Flow("t", WEB, API, 9000), True),
        ([_policy("b", {"podSelector": {}, "ingress": [{"ports": [{"port": 9000, "protocol": "UDP"}]}]})], Flow("t", WEB, API, 9000), False),
        # ipBlock is for addresses outside the pod network, never counted for pod-to-pod flows.
        ([_policy("b", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]})], Flow("t", WEB, API, 9000), False),
        ([_policy("a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "172.18.0.0/16"}}]}]})], Flow("t", WEB, NODE, 10250), True),
        ([_policy("a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["172.16.0.0/12"]}}]}]})], Flow("t", WEB, NODE, 10250), False),
        # Policies selecting other pods do not isolate this one.
        ([_policy("b", {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]})], Flow("t", WEB, API, 9000), True),
    ],
)
def test_verdicts_follow_the_network_policy_api(policies, flow, allowed):
    assert (verdict(flow, policies, LABELS) is None) is allowed


def test_default_deny_needs_every_pod_and_no_rules():
    assert denies_by_default([{"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}]) == {"Ingress", "Egress"}
    assert denies_by_default([{"podSelector": {}, "policyTypes": ["Ingress"]}, {"podSelector": {}, "policyTypes": ["Egress"]}]) == {"Ingress", "Egress"}
    assert denies_by_default([{"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Ingress", "Egress"]}]) == set()
    assert denies_by_default([{"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}]}]) == {"Egress"}


def test_isolation_policies_state_their_reasons_and_types():
    isolation = NamespaceIsolation(
        "tools", api_server_ports=(8443,), callers=(Peer("apps", (80,), "apps call the tool"),), external={"downloads": (443,)}
    )
    policies = isolation_policies(isolation, "monitoring", ["10.0.0.0/16"])

    assert set(policies) == {
        "default-deny", "allow-dns", "allow-same-namespace", "allow-kube-apiserver", "allow-monitoring",
        "allow-api-server-calls", "allow-callers", "allow-external",
    }
    assert all(spec["policyTypes"] and reason for spec, reason in policies.values())
    assert policies["allow-kube-apiserver"][0]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}
    ]
    assert "downloads (443)" in policies["allow-external"][1]


# --- egress to the internet -------------------------------------------------------------


def _caller(url: str, namespace: str = "apps") -> Deployed:
    """An injected Deployment whose environment names `url`."""
    obj = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "caller", "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "caller"}}, "template": {
            "metadata": {"labels": {"app": "caller"}},
            "spec": {"containers": [{"name": "app", "image": "x:1", "env": [{"name": "API_URL", "value": url}]}]},
        }},
    }
    return Deployed(obj, "urn:caller", "program")


def _entry(host: str, port: int, namespace: str = "apps", export: list[str] | None = None) -> Deployed:
    spec = {"hosts": [host], "ports": [{"number": port, "name": "https", "protocol": "HTTPS"}], "location": "MESH_EXTERNAL", "exportTo": export or ["."]}
    return Deployed({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": {"name": "e", "namespace": namespace}, "spec": spec},
                    "urn:entry", "program")


def _egress_errors(objects: list[Deployed]) -> list[dict[str, Any]]:
    return [e for e in network_report(as_admitted(objects), "aws")["errors"] if e["check"] == "egress"]


def test_under_registry_only_an_undeclared_external_call_is_reported_with_the_fix(rendered):
    _, _, stack = rendered("aws-apps")
    objects = list(stack.objects)

    [error] = _egress_errors([*objects, _caller("https://api.stripe.com/v1")])

    assert "api.stripe.com:443" in error["message"] and "REGISTRY_ONLY" in error["message"]
    assert "MicroserviceConfig.egress: [{host: api.stripe.com, port: 443}]" in error["message"]


@pytest.mark.parametrize(
    ("entry", "reported"),
    [
        (_entry("api.stripe.com", 443), False),
        (_entry("*.stripe.com", 443), False),  # a wildcard covers it
        (_entry("api.stripe.com", 8443), True),  # another port
        (_entry("api.stripe.com", 443, namespace="other"), True),  # exported only to its own namespace
        (_entry("api.stripe.com", 443, namespace="other", export=["*"]), False),
    ],
)
def test_a_service_entry_visible_in_the_namespace_declares_the_host(rendered, entry, reported):
    _, _, stack = rendered("aws-apps")

    assert bool(_egress_errors([*stack.objects, _caller("https://api.stripe.com/v1"), entry])) is reported


def test_allow_any_and_in_cluster_urls_are_not_egress_findings(rendered):
    _, _, local_stack = rendered("local")
    _, _, aws_stack = rendered("aws-apps")

    assert _egress_errors([*local_stack.objects, _caller("https://api.stripe.com/v1")]) == []  # ALLOW_ANY on local
    assert _egress_errors([*aws_stack.objects, _caller("http://backend.apps.svc.cluster.local:80/x")]) == []


def test_an_external_call_the_network_policies_do_not_allow_is_blocked(rendered):
    _, _, stack = rendered("aws-apps")
    caller = _caller("https://api.stripe.com/v1")
    deny = Deployed({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "default-deny", "namespace": "apps"},
                     "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}, "urn:deny", "program")
    objects = [d for d in stack.objects if not (d.kind == "NetworkPolicy" and d.namespace == "apps")]

    errors = network_report(as_admitted([*objects, caller, deny, _entry("api.stripe.com", 443)]), "aws")["errors"]

    assert any(e["check"] == "external" and "api.stripe.com:443" in e["object"] for e in errors)


def test_dns_allowed_on_udp_only_blocks_the_tcp_retry(rendered):
    _, _, stack = rendered("local")
    objects = []
    for d in as_admitted(stack.objects):
        if d.kind == "NetworkPolicy" and d.namespace == "vault" and d.name == "allow-dns":
            spec = {**d.obj["spec"], "egress": [{**rule, "ports": [p for p in rule["ports"] if p.get("protocol") == "UDP"]} for rule in d.obj["spec"]["egress"]]}
            d = Deployed({**d.obj, "spec": spec}, d.source, d.origin)
        objects.append(d)

    blocked = network_report(objects, "local")["errors"]

    assert blocked and all(e["check"] == "dns" and "/TCP" in e["object"] and " vault/" in e["object"] for e in blocked), blocked
