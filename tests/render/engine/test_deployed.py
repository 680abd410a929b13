"""render.engine.deployed: every object a stack deploys, as the engine installs it — v4 charts without hooks, v3 releases with them, crds/, namespaces, API versions."""

from __future__ import annotations

import pytest

from helpers import pinned, pinned_charts, release, render, stack_config
from render.engine.deployed import V3_RELEASE, V4_CHART, EarlyRenders, deployed_objects, hook_of, parse_documents, served_api_versions
from render.engine.harness import run_program_recording
from render.engine.helm_engine import uses_api_versions


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


def test_a_chart_version_the_lock_does_not_pin_is_an_error_not_a_skip():
    [chart] = render(release("istiod", "0.0.1", "istio-system")).charts

    assert chart.error == f"chart istiod 0.0.1 is not the version charts.lock pins ({pinned('istiod')}); fix the pin in the program or the lock"


def test_a_chart_the_lock_does_not_list_is_an_error_naming_the_lock():
    [chart] = render(release("nginx", "1.0.0", "web")).charts

    assert chart.error == "chart nginx is not in charts.lock; add it there (and run `make charts-lock`)"


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_every_release_of_the_stacks_renders(rendered, stack):
    run, data, deployed = rendered(stack)

    releases = [r for r in run.resources if r.type in (V4_CHART, V3_RELEASE)]
    assert [c["urn"] for c in data["charts"]] == [r.urn for r in releases]
    assert all(c["error"] == "" and c["objects"] > 0 for c in data["charts"])
    # What `pulumi up` deploys is several times what the program declares.
    assert len(deployed.objects) > 3 * len([r for r in run.resources if r.kubernetes_object])


def test_documents_are_parsed_as_kubernetes_does_and_lists_are_flattened():
    text = "---\n# empty\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n---\nkind: Secret\nmetadata: {name: b}\n"

    assert [(o["kind"], o["metadata"]["name"]) for o in parse_documents(text)] == [("ConfigMap", "a"), ("Secret", "b")]


def test_hooks_are_read_from_their_annotation_and_crds_give_their_served_versions():
    assert hook_of({"metadata": {"annotations": {"helm.sh/hook": "post-install"}}}) == "post-install" and hook_of({}) == ""
    crd = {"spec": {"group": "example.com", "names": {"kind": "Widget"}, "versions": [{"name": "v1", "served": True}, {"name": "v1alpha1", "served": False}]}}

    assert {"example.com/v1", "example.com/v1/Widget"} <= served_api_versions([crd])
    assert not any("v1alpha1" in v for v in served_api_versions([crd]))


def test_releases_rendered_while_the_program_runs_are_the_ones_rendered_after_it(rendered):
    charts = pinned_charts()
    early = EarlyRenders(charts)
    config, secrets = stack_config("local")
    run, failure = run_program_recording("local", config, secret_keys=secrets, on_register=early.registered)
    early.close()  # the renders already started finish; their threads end with them
    assert failure is None

    stack = deployed_objects(run, charts, early)

    _, _, after = rendered("local")
    assert [(d.source, d.origin, d.template, d.obj) for d in stack.objects] == [(d.source, d.origin, d.template, d.obj) for d in after.objects]
    assert stack.api_versions == after.api_versions
    releases = [r for r in run.resources if r.type in (V4_CHART, V3_RELEASE)]
    asking = sorted(r.urn for r in releases if uses_api_versions(charts.directory(r.inputs["chart"], r.inputs["version"])))
    # Every release whose chart never asks for the API list was rendered early and used;
    # the others waited for the program's CRDs.
    assert early.untaken == asking
    assert 0 < len(asking) < len(releases)


def test_an_early_render_is_handed_out_once_and_only_for_the_resource_it_rendered():
    charts = pinned_charts()
    early = EarlyRenders(charts)
    first = release("cert-manager", pinned("cert-manager"), "cert-manager", {"crds": {"enabled": True}})
    early.registered(first)
    same_urn_other_inputs = release("cert-manager", pinned("cert-manager"), "cert-manager", {"crds": {"enabled": False}})

    assert early.take(same_urn_other_inputs) is None  # another run's resource: rendered afresh
    early.registered(first)
    taken = early.take(first)
    assert taken is not None and taken[0].urn == first.urn and taken[0].objects
    assert early.take(first) is None and early.untaken == []
