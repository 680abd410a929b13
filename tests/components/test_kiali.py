"""components.kiali: Kiali: from its pinned chart, token sign-in (never anonymous), read-only, wired to the platform's telemetry."""

from __future__ import annotations

import pytest

from helpers import local, pinned
from render.checks import network
from render.engine.flows import Pods, verdict
from render.engine.harness import run_program
from render.engine.selectors import namespace_labels


def kiali(run):
    found = [r for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.inputs["chart"] == "kiali-server"]
    return found[0] if found else None


def test_kiali_is_its_pinned_chart_in_istio_system(local_defaults):
    chart = kiali(local_defaults)

    assert (chart.inputs["version"], chart.inputs["namespace"]) == (pinned("kiali-server"), "istio-system")
    assert chart.inputs["repositoryOpts"] == {"repo": "https://kiali.org/helm-charts"}
    deployment = chart.inputs["values"]["deployment"]
    assert deployment["image_version"] == "v2.29.0"  # the chart's source leaves it to its release build


def test_sign_in_needs_a_token_and_the_console_cannot_edit(local_defaults):
    values = kiali(local_defaults).inputs["values"]

    assert values["auth"] == {"strategy": "token"}
    assert values["deployment"]["view_only_mode"] is True
    assert values["deployment"]["network_policy"] == {"enabled": False}  # istio-system's default deny governs it
    [binding] = [r for r in local_defaults.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding") if r.name.endswith("kiali-viewer-binding")]
    assert binding.inputs["roleRef"]["name"] == "kiali-viewer"
    assert binding.inputs["subjects"][0] == {"kind": "ServiceAccount", "name": "kiali-viewer", "namespace": "istio-system"}


def test_kiali_reads_the_platforms_prometheus_grafana_and_jaeger(local_defaults):
    services = kiali(local_defaults).inputs["values"]["external_services"]

    assert services["prometheus"] == {"url": "http://kps-prometheus.monitoring.svc.cluster.local:9090"}
    assert services["grafana"]["internal_url"] == "http://kps-grafana.monitoring.svc.cluster.local"
    assert services["tracing"]["internal_url"] == "http://jaeger.monitoring.svc.cluster.local:16686"
    assert services["tracing"]["provider"] == "jaeger"


def test_without_tracing_kiali_does_not_look_for_it():
    run = run_program("local", local(observability={"tracing": {"enabled": False}}))

    assert kiali(run).inputs["values"]["external_services"]["tracing"] == {"enabled": False}


def test_kiali_can_be_left_out_and_follows_the_mesh():
    assert kiali(run_program("local", local(observability={"kiali": {"enabled": False}}))) is None
    assert kiali(run_program("local", local(mesh={"enabled": False}, apps={"enabled": False}, gitops={"enabled": False}))) is None


def test_kiali_runs_two_replicas_on_aws(aws_defaults):
    assert kiali(aws_defaults).inputs["values"]["deployment"]["replicas"] == 2


@pytest.mark.parametrize("stack", ["local", "aws"])
def test_the_render_sees_kialis_flows_and_they_are_allowed(rendered, stack):
    _, data, deployed = rendered(stack)
    objects = deployed.objects
    flows = [f for f in network._url_flows(objects, Pods(objects, stack)) if f.source.name.startswith("Deployment istio-system/kiali")]

    assert {(f.destination.namespace, f.port) for f in flows} >= {("monitoring", 9090), ("monitoring", 3000), ("monitoring", 16686)}
    policies = [d for d in objects if d.kind == "NetworkPolicy"]
    assert [f for f in flows if verdict(f, policies, namespace_labels(objects)) is not None] == []
    assert data["network"]["errors"] == []


def test_the_signing_key_is_generated_once_into_a_secret_not_templated_into_the_configmap(local_defaults):
    from components.kiali import SIGNING_KEY_SECRET

    values = kiali(local_defaults).inputs["values"]
    [secret] = [r for r in local_defaults.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == SIGNING_KEY_SECRET]
    [key] = [r for r in local_defaults.of_type("random:index/randomPassword:RandomPassword") if r.name.endswith("kiali-signing-key")]

    assert values["login_token"] == {"signing_key": f"secret:{SIGNING_KEY_SECRET}:key"}
    assert secret.inputs["metadata"]["namespace"] == "istio-system" and key.inputs["length"] == 32
    assert secret.urn in kiali(local_defaults).dependencies
