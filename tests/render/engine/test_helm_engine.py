"""Chart rendering: every release renders through the real Helm engine, installed as the engine installs it."""

from __future__ import annotations

import ast

import pytest

from helpers import ROOT, pinned, release, render
from render.engine.deployed import V3_RELEASE, V4_CHART


def test_a_v4_chart_drops_hooks_and_includes_crds():
    [chart] = render(release("gatekeeper", pinned("gatekeeper"), "gatekeeper-system")).charts

    assert chart.install == "v4"
    assert {h["name"] for h in chart.hooks_dropped} >= {"gatekeeper-update-namespace-label", "gatekeeper-update-crds-hook"}
    assert chart.hooks_kept == []
    kinds = {(d.kind, d.origin) for d in chart.objects}
    assert ("CustomResourceDefinition", "crds") in kinds and ("Job", "hook") not in kinds


def test_a_v3_release_keeps_hooks_but_not_test_hooks_and_honours_skip_crds():
    [chart] = render(release("gatekeeper", pinned("gatekeeper"), "gatekeeper-system", v3=True, skipCrds=True)).charts

    assert {h["name"] for h in chart.hooks_kept} >= {"gatekeeper-update-namespace-label"}
    assert all(d.kind != "CustomResourceDefinition" for d in chart.objects)
    assert any(d.origin == "hook" and d.kind == "Job" for d in chart.objects)


def test_chart_objects_get_the_release_namespace_unless_cluster_scoped():
    stack = render(release("keda", pinned("keda"), "autoscale"))

    namespaced = [d for d in stack.objects if d.kind in ("Deployment", "Service", "ServiceAccount")]
    assert namespaced and all(d.namespace == "autoscale" for d in namespaced)
    assert all(d.namespace == "" for d in stack.objects if d.kind in ("ClusterRole", "APIService", "CustomResourceDefinition"))


def test_charts_see_the_api_versions_the_platform_installs():
    # falcosidekick renders its ServiceMonitor only when the cluster serves monitoring.coreos.com/v1.
    values = {"falcosidekick": {"enabled": True, "serviceMonitor": {"enabled": True}}}
    alone = render(release("falco", pinned("falco"), "falco", values))
    crds = release("kube-prometheus-stack", pinned("kube-prometheus-stack"), "monitoring", v3=True, name="kps")
    with_prometheus = render(release("falco", pinned("falco"), "falco", values), crds)

    assert not any(d.kind == "ServiceMonitor" for d in alone.objects)
    assert any(d.kind == "ServiceMonitor" and d.release == "falco" for d in with_prometheus.objects)
    assert "monitoring.coreos.com/v1" in with_prometheus.api_versions


def test_a_chart_that_fails_to_render_reports_the_engines_message():
    [chart] = render(release("loki", pinned("loki"), "monitoring", {"deploymentMode": "SimpleScalable", "loki": {"storage": {"type": "s3"}}})).charts

    assert "bucketNames" in chart.error and chart.objects == []


def test_a_chart_version_the_lock_does_not_pin_is_an_error_not_a_skip():
    [chart] = render(release("istiod", "0.0.1", "istio-system")).charts

    assert chart.error == f"chart istiod 0.0.1 is not the version charts.lock pins ({pinned('istiod')}); fix the pin in the program or the lock"


def test_a_chart_the_lock_does_not_list_is_an_error_naming_the_lock():
    [chart] = render(release("nginx", "1.0.0", "web")).charts

    assert chart.error == "chart nginx is not in charts.lock; add it there (and run `make charts-lock`)"


def test_one_module_renders_with_the_helm_sdk_and_one_fetches_with_it():
    # The SDK's native call is private surface: one wrapper module of ours renders with it;
    # render/engine/charts.py pulls, indexes and unpacks with its public functions only.
    users, native = [], []
    for path in sorted(ROOT.glob("**/*.py")):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "helm_python":
                names += [f"{node.module}.{a.name}" for a in node.names]
            if any(n.split(".")[0] == "helm_python" for n in names):
                users.append(path.relative_to(ROOT).as_posix())
            if any("_native" in n for n in names):
                native.append(path.relative_to(ROOT).as_posix())
    assert sorted(set(users)) == ["render/engine/charts.py", "render/engine/helm_engine.py"]
    assert sorted(set(native)) == ["render/engine/helm_engine.py"]


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_every_release_of_the_stacks_renders(rendered, stack):
    run, data, deployed = rendered(stack)

    releases = [r for r in run.resources if r.type in (V4_CHART, V3_RELEASE)]
    assert [c["urn"] for c in data["charts"]] == [r.urn for r in releases]
    assert all(c["error"] == "" and c["objects"] > 0 for c in data["charts"])
    # What `pulumi up` deploys is several times what the program declares.
    assert len(deployed.objects) > 3 * len([r for r in run.resources if r.kubernetes_object])
