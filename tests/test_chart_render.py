"""Chart rendering: every release renders through the real Helm engine, installed as the engine installs it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import release, render
from render.deployed import V3_RELEASE, V4_CHART
from render.upstream import bundle

ROOT = Path(__file__).resolve().parents[1]

needs_bundle = pytest.mark.skipif(bundle() is None, reason="upstream bundle (../shared/upstream) not present: chart sources unavailable")


@needs_bundle
def test_a_v4_chart_drops_hooks_and_includes_crds():
    [chart] = render(release("gatekeeper", "3.23.0", "gatekeeper-system")).charts

    assert chart.install == "v4"
    assert {h["name"] for h in chart.hooks_dropped} >= {"gatekeeper-update-namespace-label", "gatekeeper-update-crds-hook"}
    assert chart.hooks_kept == []
    kinds = {(d.kind, d.origin) for d in chart.objects}
    assert ("CustomResourceDefinition", "crds") in kinds and ("Job", "hook") not in kinds


@needs_bundle
def test_a_v3_release_keeps_hooks_but_not_test_hooks_and_honours_skip_crds():
    [chart] = render(release("gatekeeper", "3.23.0", "gatekeeper-system", v3=True, skipCrds=True)).charts

    assert {h["name"] for h in chart.hooks_kept} >= {"gatekeeper-update-namespace-label"}
    assert all(d.kind != "CustomResourceDefinition" for d in chart.objects)
    assert any(d.origin == "hook" and d.kind == "Job" for d in chart.objects)


@needs_bundle
def test_chart_objects_get_the_release_namespace_unless_cluster_scoped():
    stack = render(release("keda", "2.20.2", "autoscale"))

    namespaced = [d for d in stack.objects if d.kind in ("Deployment", "Service", "ServiceAccount")]
    assert namespaced and all(d.namespace == "autoscale" for d in namespaced)
    assert all(d.namespace == "" for d in stack.objects if d.kind in ("ClusterRole", "APIService", "CustomResourceDefinition"))


@needs_bundle
def test_charts_see_the_api_versions_the_platform_installs():
    # falcosidekick renders its ServiceMonitor only when the cluster serves monitoring.coreos.com/v1.
    values = {"falcosidekick": {"enabled": True, "serviceMonitor": {"enabled": True}}}
    alone = render(release("falco", "9.1.0", "falco", values))
    crds = release("kube-prometheus-stack", "88.5.3", "monitoring", v3=True, name="kps")
    with_prometheus = render(release("falco", "9.1.0", "falco", values), crds)

    assert not any(d.kind == "ServiceMonitor" for d in alone.objects)
    assert any(d.kind == "ServiceMonitor" and d.release == "falco" for d in with_prometheus.objects)
    assert "monitoring.coreos.com/v1" in with_prometheus.api_versions


@needs_bundle
def test_a_chart_that_fails_to_render_reports_the_engines_message():
    [chart] = render(release("loki", "18.11.0", "monitoring", {"deploymentMode": "SimpleScalable", "loki": {"storage": {"type": "s3"}}})).charts

    assert "bucketNames" in chart.error and chart.objects == []


@needs_bundle
def test_a_chart_missing_from_the_bundle_is_an_error_not_a_skip():
    [chart] = render(release("istiod", "1.29.0", "istio-system")).charts

    assert "not in" in chart.error and "refresh the bundle or fix the pin" in chart.error


def test_only_one_module_touches_the_helm_sdk():
    # The SDK's native call is private surface: one wrapper module of ours, nothing else.
    users = []
    for path in sorted(ROOT.glob("**/*.py")):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "helm_python" for n in names):
                users.append(path.relative_to(ROOT).as_posix())
    assert sorted(set(users)) == ["render/helm_engine.py"]


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_every_release_of_the_stacks_renders(rendered, stack):
    run, data, deployed = rendered(stack)

    releases = [r for r in run.resources if r.type in (V4_CHART, V3_RELEASE)]
    assert [c["urn"] for c in data["charts"]] == [r.urn for r in releases]
    assert all(c["error"] == "" and c["objects"] > 0 for c in data["charts"])
    # What `pulumi up` deploys is several times what the program declares.
    assert len(deployed.objects) > 3 * len([r for r in run.resources if r.kubernetes_object])
