"""policies.rules.kubernetes: every workload rule passes a compliant fixture of every kind and flags each single-field mutation once."""

from __future__ import annotations

import pytest

from policy_fixtures import KINDS, WORKLOAD_MUTATIONS, messages, mutate, workload

# --- the pack ---------------------------------------------------------------------------


# --- workload rules -------------------------------------------------------------------

WORKLOAD_CASES = [(rule, case, fn, text) for rule, cases in WORKLOAD_MUTATIONS.items() for case, fn, text in cases]


@pytest.mark.parametrize("rule", sorted(WORKLOAD_MUTATIONS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_compliant_workload_of_every_kind_passes(rule, kind):
    assert messages(rule, KINDS[kind][0], workload(kind)) == []


@pytest.mark.parametrize(("rule", "fn", "text"), [c[0:1] + c[2:] for c in WORKLOAD_CASES], ids=[f"{c[0]}:{c[1]}" for c in WORKLOAD_CASES])
@pytest.mark.parametrize("kind", ["Deployment", "CronJob", "Pod"])
def test_each_workload_mutation_gives_one_violation_naming_resource_and_fix(rule, fn, text, kind):
    [message] = messages(rule, KINDS[kind][0], mutate(fn, kind))

    assert text in message
    assert f"{kind} apps/api" in message


def test_workload_rules_ignore_other_kinds():
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}

    for rule in WORKLOAD_MUTATIONS:
        assert messages(rule, "kubernetes:core/v1:ConfigMap", configmap) == []


def test_registries_and_labels_are_configurable():
    obj = mutate(lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="ghcr.io/acme/api:1.0"))

    assert messages("kubernetes-container-allowed-registries", "kubernetes:apps/v1:Deployment", obj, pack_config={"kubernetes-container-allowed-registries": {"registries": ["localhost:5001/", "ghcr.io/acme/"]}}) == []
    assert len(messages("kubernetes-workload-required-labels", "kubernetes:apps/v1:Deployment", workload(), pack_config={"kubernetes-workload-required-labels": {"labels": ["team"]}})) == 1


def service(type_="ClusterIP", name="web", namespace="apps"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": {"type": type_, "ports": [{"port": 80}]}}


def test_only_the_mesh_gateway_may_be_a_load_balancer():
    svc = "kubernetes:core/v1:Service"

    assert messages("kubernetes-service-no-load-balancer", svc, service()) == []
    assert messages("kubernetes-service-no-load-balancer", svc, service("LoadBalancer", "istio-ingressgateway", "istio-ingress")) == []
    [message] = messages("kubernetes-service-no-load-balancer", svc, service("LoadBalancer"))
    assert "Service apps/web is a LoadBalancer" in message and "mesh gateway" in message


# --- mesh -----------------------------------------------------------------------------


# --- helm -----------------------------------------------------------------------------


# --- aws ------------------------------------------------------------------------------


# --- enforcement and configuration ----------------------------------------------------


# --- preview: values only the update knows --------------------------------------------------


