"""render.checks.ordering: the engine's order: each rule catches one planted defect in the recorded graph; the shipped stacks pass."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.platform import Platform
from helpers import local, pinned_charts, stack_config
from program import load_config
from render.checks.ordering import Graph, check_crds, check_injection, check_providers, check_webhook_order, ordering_report
from render.engine.deployed import deployed_objects
from render.engine.harness import run_program


def _with(extra, config=None):
    """The local platform plus `extra(platform)`, rendered: (run, deployed objects)."""

    def program():
        platform = Platform("platform", load_config())
        extra(platform)

    run = run_program("local", config or local(), program=program)
    return run, deployed_objects(run, pinned_charts()).objects


def test_a_custom_resource_that_does_not_wait_for_its_crd_is_an_error():
    def rule_without_crds(platform):
        k8s.apiextensions.CustomResource(
            "early-rule", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata={"name": "early", "namespace": "monitoring"}, spec={"groups": []},
            opts=pulumi.ResourceOptions(provider=platform.provider),
        )

    run, objects = _with(rule_without_crds)
    [finding] = check_crds(Graph(run), objects)

    assert finding["object"] == "PrometheusRule monitoring/early"
    assert "without waiting for platform-observability-prometheus-crds, which installs its CRD: add it to depends_on" in finding["message"]


def test_a_custom_resource_whose_crd_nobody_installs_is_an_error():
    # A documented combination: the sample apps on, observability off. Their monitoring
    # objects now follow observability; planted here by hand.
    def stray_monitor(platform):
        k8s.apiextensions.CustomResource(
            "stray", api_version="keda.sh/v1alpha1", kind="ScaledObject", metadata={"name": "stray", "namespace": "apps"},
            spec={"scaleTargetRef": {"name": "x"}}, opts=pulumi.ResourceOptions(provider=platform.provider),
        )

    run, objects = _with(stray_monitor, local(autoscaling={"enabled": False}))
    [finding] = check_crds(Graph(run), objects)

    assert "no resource of the stack installs the CRD for keda.sh/ScaledObject" in finding["message"]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"), ("gateway.networking.k8s.io/v1", "HTTPRoute"), ("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass")],
)
def test_a_custom_resource_of_a_k8s_io_group_is_held_to_its_crd_like_any_other(api_version, kind):
    # `*.k8s.io` is not "built in": these groups come from CRDs (the VPA's, Gateway API's, the CSI driver's).
    def early(platform):
        k8s.apiextensions.CustomResource(
            "early", api_version=api_version, kind=kind, metadata={"name": "early", "namespace": "apps"}, spec={},
            opts=pulumi.ResourceOptions(provider=platform.provider),
        )

    run, objects = _with(early)
    [finding] = [f for f in check_crds(Graph(run), objects) if f["object"] == f"{kind} apps/early"]

    assert "CRD" in finding["message"] and ("depends_on" in finding["message"] or "no resource of the stack installs" in finding["message"])


def test_a_constraint_that_does_not_wait_for_its_template_is_an_error():
    def early_constraint(platform):
        k8s.apiextensions.CustomResource(
            "early-constraint", api_version="constraints.gatekeeper.sh/v1beta1", kind="K8sRequiredLabels",
            metadata={"name": "early"}, spec={"parameters": {"labels": ["team"]}}, opts=pulumi.ResourceOptions(provider=platform.provider),
        )

    run, objects = _with(early_constraint)
    [finding] = check_crds(Graph(run), objects)

    assert finding["object"] == "K8sRequiredLabels early" and "installs its ConstraintTemplate" in finding["message"]


def test_an_injected_workload_that_does_not_wait_for_istiod_is_an_error():
    def eager_deployment(platform):
        labels = {"app": "eager"}
        k8s.apps.v1.Deployment(
            "eager", metadata={"name": "eager", "namespace": "apps"},
            spec={"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "localhost:5001/c:1"}]}}},
            opts=pulumi.ResourceOptions(provider=platform.provider),
        )

    run, objects = _with(eager_deployment)
    graph = Graph(run)
    [finding] = check_injection(graph, objects)
    webhook_findings, _ = check_webhook_order(graph, objects)

    assert finding["object"] == "Deployment apps/eager" and "depend on the mesh's `ready`" in finding["message"]
    assert {f["message"].split(" (")[0] for f in webhook_findings} == {"webhook namespace.sidecar-injector.istio.io"}


def test_a_namespace_racing_a_fail_closed_webhook_is_an_error():
    # Gatekeeper's namespace webhook fails closed; the platform installs it after its namespaces.
    def late_namespace(platform):
        k8s.core.v1.Namespace("late", metadata={"name": "late"}, opts=pulumi.ResourceOptions(provider=platform.provider))

    run, objects = _with(late_namespace)
    findings, verdicts = check_webhook_order(Graph(run), objects)

    assert [f["object"] for f in findings] == ["Namespace late"]
    assert "check-ignore-label.gatekeeper.sh (failurePolicy Fail" in findings[0]["message"]
    [gatekeeper] = [v for v in verdicts if v["webhook"] == "check-ignore-label.gatekeeper.sh"]
    assert gatekeeper["unordered"] == 1 and gatekeeper["created_before_webhook"] >= 8


def test_a_resource_on_the_ambient_kubeconfig_is_an_error():
    def ambient(platform):
        k8s.core.v1.ConfigMap("ambient", metadata={"name": "ambient", "namespace": "apps"}, data={"a": "b"})

    run, _ = _with(ambient)
    [finding] = check_providers(run)

    assert finding["object"] == "ambient" and "ambient kubeconfig" in finding["message"]


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_the_stacks_are_ordered(rendered, stack):
    _, data, _ = rendered(stack)

    assert data["ordering"]["errors"] == []
    assert {w["webhook"] for w in data["ordering"]["webhooks"]} >= {"check-ignore-label.gatekeeper.sh", "namespace.sidecar-injector.istio.io"}
    assert all(w["unordered"] == 0 for w in data["ordering"]["webhooks"])


def test_observability_off_with_the_sample_apps_on_creates_no_orphan_custom_resources():
    config, secrets = stack_config("local")
    config["gitops-platform:observability"] = {"enabled": False}
    # Without Prometheus nothing can judge a canary: the backend rolls out plainly.
    config["gitops-platform:apps"] = {**config.get("gitops-platform:apps", {}), "delivery": {"strategy": "rolling"}}
    run = run_program("local", config, secret_keys=secrets)

    report = ordering_report(run, deployed_objects(run, pinned_charts()).objects)

    assert report["errors"] == []
    assert not any(r.type.startswith("kubernetes:monitoring.coreos.com") for r in run.resources)
