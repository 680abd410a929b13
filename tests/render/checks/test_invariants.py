"""render.checks.invariants: API-server invariants: each rule catches one planted defect; the shipped stacks pass."""

from __future__ import annotations

import pytest

from render.checks.invariants import invariants_report, label_problem, name_problem, port_name_problem
from render.engine.deployed import Deployed


def obj(kind: str, name: str, namespace: str = "apps", source: str = "urn:a", **fields) -> Deployed:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return Deployed({"apiVersion": "v1", "kind": kind, "metadata": metadata, **fields}, source, "program")


@pytest.mark.parametrize(
    ("kind", "name", "ok"),
    [
        ("Service", "api", True), ("Service", "1api", False), ("Service", "a" * 64, False),
        ("Namespace", "team-a", True), ("Namespace", "team.a", False),
        ("ClusterRole", "system:metrics-server", True), ("ClusterRole", "a/b", False),
        ("ConfigMap", "kube-root-ca.crt", True), ("ConfigMap", "Upper", False), ("ConfigMap", "a" * 254, False),
    ],
)
def test_names_follow_their_kinds_rule(kind, name, ok):
    assert (name_problem(kind, name) is None) == ok


def test_label_keys_and_values():
    assert label_problem("app.kubernetes.io/name", "api") is None
    assert "at most 63" in label_problem("app", "x" * 64)
    assert label_problem("version", "1.2.0+build") is not None
    assert label_problem("Bad_Prefix/x", "y") is not None


def test_port_names_are_iana_service_names():
    assert port_name_problem("http-metrics") is None
    assert "at most 15" in port_name_problem("grpc-otlp-receiver")
    assert port_name_problem("8080") is not None


def test_a_long_container_port_name_is_an_error():
    deployment = obj("Deployment", "api", spec={"template": {"spec": {"containers": [{"name": "api", "ports": [{"name": "prometheus-metrics", "containerPort": 9090}]}]}}})

    [error] = invariants_report([deployment])["errors"]

    assert error["check"] == "ports" and "prometheus-metrics" in error["message"]


def test_two_objects_with_the_same_kind_namespace_and_name_are_an_error():
    first, second = obj("ConfigMap", "settings", source="urn:x::chart-a"), obj("ConfigMap", "settings", source="urn:x::chart-b")

    [error] = invariants_report([first, second])["errors"]

    assert error["check"] == "duplicates" and "declared twice (also by chart-a)" in error["message"]


def test_a_bad_label_value_on_a_pod_template_is_an_error():
    deployment = obj("Deployment", "api", spec={"template": {"metadata": {"labels": {"version": "v1/2"}}, "spec": {"containers": []}}})

    [error] = invariants_report([deployment])["errors"]

    assert error["message"].startswith("pod template labels: label version='v1/2'")


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_the_stacks_hold_the_invariants(rendered, stack):
    _, data, _ = rendered(stack)

    assert data["invariants"]["errors"] == []
    assert data["invariants"]["checked"] > 400
