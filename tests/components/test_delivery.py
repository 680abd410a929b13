"""components.delivery: progressive delivery: an analysed canary as an Argo Rollout routed through the service's mesh objects."""

from __future__ import annotations

import pulumi
import pytest
from pydantic import ValidationError

from components import MicroserviceConfig, MicroserviceStack
from components.delivery import PLATFORM_PROMETHEUS, DeliveryConfig, RolloutsConfig, RolloutsController, rollouts_values
from helpers import local, pinned_charts
from render.checks.policies import policy_report
from render.checks.schema import schema_report
from render.engine.deployed import deployed_objects
from render.engine.harness import run_program

BASE = {"name": "api", "image": "localhost:5001/api:1.4.0"}
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"


def program_with(**config):
    def program():
        rollouts = RolloutsController("rollouts", RolloutsConfig.for_environment("local"))
        MicroserviceStack("api", MicroserviceConfig(**{**BASE, **config}), opts=pulumi.ResourceOptions(depends_on=rollouts.ready))

    return run_program("local", local(), program=program)


@pytest.fixture(scope="module")
def canary():
    return program_with(delivery={"strategy": "canary"})


def one(run, type_suffix):
    [found] = [r for r in run.resources if r.type.endswith(type_suffix)]
    return found


def test_a_canary_service_is_a_rollout_not_a_deployment(canary):
    rollout = one(canary, ":Rollout")
    strategy = rollout.inputs["spec"]["strategy"]["canary"]

    assert not [r for r in canary.resources if r.type == "kubernetes:apps/v1:Deployment" and "MicroserviceStack" in r.urn]
    assert strategy["steps"] == [
        {"setWeight": 20}, {"pause": {"duration": "2m"}}, {"setWeight": 40}, {"pause": {"duration": "2m"}},
        {"setWeight": 60}, {"pause": {"duration": "2m"}}, {"setWeight": 80}, {"pause": {"duration": "2m"}}, {"setWeight": 100},
    ]
    assert strategy["trafficRouting"]["istio"] == {
        "virtualService": {"name": "api", "routes": ["primary"]},
        "destinationRule": {"name": "api", "stableSubsetName": "stable", "canarySubsetName": "canary"},
    }
    assert strategy["analysis"] == {"templates": [{"templateName": "api-canary-analysis"}], "startingStep": 1}
    assert rollout.inputs["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_the_rollout_owns_the_weights_and_subset_labels_pulumi_leaves_alone(canary):
    vs, dr = one(canary, ":VirtualService"), one(canary, ":DestinationRule")
    [primary] = [h for h in vs.inputs["spec"]["http"] if h["name"] == "primary"]

    assert [(r["destination"]["subset"], r["weight"]) for r in primary["route"]] == [("stable", 100), ("canary", 0)]
    assert [s["name"] for s in dr.inputs["spec"]["subsets"]] == ["stable", "canary"]
    assert vs.ignore_changes == ("spec.http[*].route",) and dr.ignore_changes == ("spec.subsets",)


def test_the_analysis_checks_success_rate_and_p95_in_the_platforms_prometheus(canary):
    metrics = {m["name"]: m for m in one(canary, ":AnalysisTemplate").inputs["spec"]["metrics"]}

    assert metrics["success-rate"]["successCondition"] == "result[0] >= 0.99"
    assert metrics["p95-latency"]["successCondition"] == "result[0] <= 500"
    for metric in metrics.values():
        prometheus = metric["provider"]["prometheus"]
        assert prometheus["address"] == PLATFORM_PROMETHEUS
        assert 'destination_service="api.apps.svc.cluster.local"' in prometheus["query"]
        assert metric["failureLimit"] == 1 and metric["interval"] == "1m"
    # No traffic: a defined answer, never a query error that aborts the rollout.
    assert metrics["success-rate"]["provider"]["prometheus"]["query"].endswith("or vector(1)")
    assert metrics["p95-latency"]["provider"]["prometheus"]["query"].endswith("or vector(0)")


def test_no_traffic_can_be_made_to_fail():
    run = program_with(delivery={"strategy": "canary", "analysis": {"noTraffic": "fail"}})
    metrics = {m["name"]: m for m in one(run, ":AnalysisTemplate").inputs["spec"]["metrics"]}

    assert metrics["success-rate"]["provider"]["prometheus"]["query"].endswith("or vector(0)")
    assert metrics["p95-latency"]["provider"]["prometheus"]["query"].endswith("or vector(1e9)")


def test_autoscalers_target_the_rollout(canary):
    hpa = one(canary, ":HorizontalPodAutoscaler")

    assert hpa.inputs["spec"]["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "api"}
    assert one(canary, ":Rollout").ignore_changes == ("spec.replicas",)


def test_rolling_stays_a_deployment():
    run = program_with()

    assert not [r for r in run.resources if r.type == ROLLOUT]
    assert [r for r in run.resources if r.type == "kubernetes:apps/v1:Deployment" and "MicroserviceStack" in r.urn]


def test_the_controller_installs_its_crds_and_only_the_istio_router():
    values = rollouts_values(RolloutsConfig.for_environment("aws"), True)

    assert values["installCRDs"] is True
    assert [p for p, on in values["providerRBAC"]["providers"].items() if on] == ["istio"]
    assert values["controller"]["pdb"] == {"enabled": True, "minAvailable": 1}
    assert values["controller"]["metrics"]["serviceMonitor"]["enabled"] is True


def test_the_rollout_validates_against_the_charts_crd_and_passes_the_policy_pack(canary, rendered):
    charts = pinned_charts()
    stack = deployed_objects(canary, charts)
    rollout_crds = [d for d in stack.objects if d.kind == "CustomResourceDefinition" and d.name == "rollouts.argoproj.io"]
    # The mesh's and Prometheus' custom resources validate against the CRDs the platform (the local stack) installs.
    _, _, platform = rendered("local")
    platform_crds = [(d.source, d.obj) for d in platform.objects if d.kind == "CustomResourceDefinition" and d.name != "rollouts.argoproj.io"]
    report = schema_report([(d.source, d.obj) for d in stack.objects] + platform_crds, [], charts)
    violations = [v for v in policy_report(canary, None, stack)["violations"] if "MicroserviceStack" in v["urn"]]

    assert rollout_crds
    assert report["errors"] == [] and report["unvalidated"] == []
    # Alone, its namespace has no default deny: SecurityStack adds it (tests/components/test_netpol.py).
    assert {v["policy"] for v in violations} <= {"kubernetes-namespace-default-deny"}


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivery", "key", "text"),
    [
        ({"strategy": "canary", "steps": [{"weight": 50}, {"weight": 40}]}, "steps[1].weight", "must increase"),
        ({"strategy": "canary", "steps": [{"weight": 120}]}, "steps.0.weight", "less than or equal to 100"),
        ({"strategy": "canary", "steps": [{"weight": 20, "pause": None}, {"weight": 100}]}, "steps[0].pause", "manualPromotion"),
        ({"strategy": "canary", "steps": [{"weight": 20, "pause": "soon"}]}, "steps.0.pause", "duration"),
        ({"strategy": "canary", "analysis": {"successRatePercent": 0}}, "analysis.successRatePercent", "greater than 0"),
        ({"strategy": "canary", "analysis": {"successRatePercent": 101}}, "analysis.successRatePercent", "less than or equal to 100"),
        ({"strategy": "canary", "analysis": {"p95LatencyMs": 0}}, "analysis.p95LatencyMs", "greater than or equal to 1"),
        ({"strategy": "canary", "analysis": {"interval": "1 minute"}}, "analysis.interval", "duration"),
        ({"strategy": "canary", "analysis": {"prometheusUrl": "prometheus:9090"}}, "analysis.prometheusUrl", "Prometheus' URL"),
        ({"strategy": "blue-green"}, "strategy", "rolling"),
    ],
)
def test_bad_delivery_is_refused_naming_the_key(delivery, key, text):
    with pytest.raises(ValidationError) as error:
        MicroserviceConfig(**BASE, delivery=delivery)
    message = str(error.value)
    assert key.split(".")[-1].split("[")[0] in message and text in message, message


def test_an_indefinite_pause_is_allowed_when_promotion_is_manual():
    config = DeliveryConfig(strategy="canary", manualPromotion=True, steps=[{"weight": 50, "pause": None}, {"weight": 100}])
    assert config.rollout_steps() == [{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}]


def test_a_fixed_canary_and_a_rollout_cannot_both_route_the_service():
    with pytest.raises(ValidationError) as error:
        MicroserviceConfig(**BASE, canary={"image": "localhost:5001/api:1.5.0"}, delivery={"strategy": "canary"})
    assert "delivery.strategy" in str(error.value)


def test_the_analysis_prometheus_address_must_resolve_to_a_service(rendered):
    from render.checks.deployability import check_addresses
    from render.engine.facts import Facts

    _, _, deployed = rendered("local")
    objects = deployed.objects
    assert check_addresses(objects, Facts("local")) == []

    broken = [d for d in objects if not (d.kind == "Service" and d.name == "kps-prometheus")]
    findings = [f for f in check_addresses(broken, Facts("local")) if "AnalysisTemplate" in f["object"]]
    # Both measurements (success rate, p95) name it.
    assert len(findings) == 2 and all("kps-prometheus" in f["message"] and "does not exist" in f["message"] for f in findings)
