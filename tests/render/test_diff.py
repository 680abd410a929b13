"""render.diff: two real renders of the local stack, the head with known changes planted, and
the diff finds exactly those, each classified as the engine and the API server treat it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, mermaid_blocks, mermaid_errors
from render import diff as render_diff

_NP = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def _extras(platform: Any, head: bool) -> None:
    """Objects beside the platform in namespace `apps`: the head changes each in one way."""
    import pulumi
    import pulumi_kubernetes as k8s

    opts = pulumi.ResourceOptions(provider=platform.provider)

    meta = {"namespace": "apps", "labels": {"app": "planted", "version": "1", "environment": "local"}}
    container = {"name": "web", "image": f"localhost:5001/planted:{'1.1' if head else '1.0'}",
                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}}
    k8s.apps.v1.Deployment("planted-web", metadata={**meta, "name": "planted-web"}, spec={
        "selector": {"matchLabels": {"app": "planted-web"}},
        "template": {"metadata": {"labels": {"app": "planted-web"}}, "spec": {"containers": [container]}}}, opts=opts)
    selector = "planted-two" if head else "planted-one"
    k8s.apps.v1.Deployment("planted-selector", metadata={**meta, "name": "planted-selector"}, spec={
        "selector": {"matchLabels": {"app": selector}},
        "template": {"metadata": {"labels": {"app": selector}}, "spec": {"containers": [{**container, "image": "localhost:5001/planted:1.0"}]}}}, opts=opts)
    claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi" if head else "1Gi"}}}
    k8s.apps.v1.StatefulSet("planted-db", metadata={**meta, "name": "planted-db"}, spec={
        "serviceName": "planted-db", "selector": {"matchLabels": {"app": "planted-db"}},
        "template": {"metadata": {"labels": {"app": "planted-db"}}, "spec": {"containers": [{**container, "image": "localhost:5001/planted:1.0"}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim}]}, opts=opts)
    k8s.core.v1.PersistentVolumeClaim("planted-data", metadata={**meta, "name": "planted-data"}, spec=claim, opts=opts)
    if head:
        k8s.core.v1.Service("planted-new", metadata={**meta, "name": "planted-new"},
                            spec={"selector": {"app": "planted-web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}, opts=opts)


def _close_frontend_to_backend(args: Any) -> Any:
    """The head's NetworkPolicy port change: frontend's egress to the backend on 8081, not 8080."""
    import pulumi

    if args.type_ == _NP and (args.props.get("metadata") or {}).get("name") == "frontend":
        spec = json.loads(json.dumps(args.props["spec"]))
        for rule in spec["egress"]:
            for port in rule.get("ports") or []:
                if port.get("port") == 8080:
                    port["port"] = 8081
        return pulumi.ResourceTransformationResult({**args.props, "spec": spec}, args.opts)
    return None


def _render(out: Path, head: bool) -> None:
    import pulumi

    import render.cli as cli
    from program import main as platform_program

    real = cli.run_program_recording

    def program() -> None:
        if head:
            pulumi.runtime.register_stack_transformation(_close_frontend_to_backend)
        _extras(platform_program(), head)

    def run(stack: str, config: dict[str, Any], **kw: Any) -> Any:
        if head:  # a chart value: Prometheus keeps five days of metrics instead of two
            config = {**config, "gitops-platform:observability": {"prometheus": {"retentionDays": 5}}}
        return real(stack, config, program=program, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "run_program_recording", run)
        patch.chdir(ROOT)
        cli.main(["local", "--out", str(out)])


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> tuple[Path, Path]:
    base, head = tmp_path_factory.mktemp("base"), tmp_path_factory.mktemp("head")
    _render(base, head=False)
    _render(head, head=True)
    return base, head


@pytest.fixture(scope="module")
def planted(renders) -> render_diff.Diff:
    base, head = renders
    return render_diff.diff(render_diff.load(base), render_diff.load(head))


def _by_ref(d: render_diff.Diff) -> dict[str, render_diff.Change]:
    return {f"{c.kind} {c.namespace}/{c.name}" if c.namespace else f"{c.kind} {c.name}": c for c in d.changes}


@pytest.mark.slow
def test_two_renders_of_the_same_code_diff_empty(renders, tmp_path):
    # Nothing in a render may change between runs: a chart templating a random value (Kiali's
    # signing key did) would be replaced by every `pulumi up`.
    base, _ = renders
    _render(tmp_path, head=False)
    same = render_diff.diff(render_diff.load(base), render_diff.load(tmp_path))

    assert same.empty and same.changes == [] and "no change" in render_diff.text(same), render_diff.text(same)


@pytest.mark.slow
def test_the_diff_finds_exactly_the_planted_changes(planted):
    changes = _by_ref(planted)

    assert set(changes) == {
        "NetworkPolicy apps/frontend",
        "Deployment apps/planted-web",
        "Deployment apps/planted-selector",
        "StatefulSet apps/planted-db",
        "PersistentVolumeClaim apps/planted-data",
        "Service apps/planted-new",
        "Prometheus monitoring/kps-prometheus",
    }, sorted(changes)


@pytest.mark.slow
def test_each_change_is_classified_as_the_engine_and_api_server_treat_it(planted):
    changes = _by_ref(planted)

    port = changes["NetworkPolicy apps/frontend"]
    assert (port.action, [(p, a, b) for p, a, b in port.fields]) == ("in-place", [("spec.egress.[1].ports.[0].port", 8080, 8081)])
    image = changes["Deployment apps/planted-web"]
    assert image.action == "in-place" and image.fields == [("spec.template.spec.containers.[web].image", "localhost:5001/planted:1.0", "localhost:5001/planted:1.1")]
    selector = changes["Deployment apps/planted-selector"]
    assert selector.action == "replace" and selector.why == ["spec.selector.matchLabels.app"] and "every pod at once" in selector.note
    claim_template = changes["StatefulSet apps/planted-db"]
    assert claim_template.action == "replace" and claim_template.why == ["spec.volumeClaimTemplates.[0].spec.resources.requests.storage"]
    assert "grow each existing claim by hand" in claim_template.note and "--cascade=orphan" in claim_template.note
    assert changes["PersistentVolumeClaim apps/planted-data"].action == "in-place"  # a claim may grow
    assert (changes["Service apps/planted-new"].change, changes["Service apps/planted-new"].action) == ("added", "create")
    # Grouped by the platform component that declares each (the planted objects are outside any).
    assert (port.component, changes["Prometheus monitoring/kps-prometheus"].component, image.component) == ("apps", "observability", "")
    chart = changes["Prometheus monitoring/kps-prometheus"]
    assert chart.action == "in-place" and chart.release == "kps" and ("spec.retention", "2d", "5d") in chart.fields


@pytest.mark.slow
def test_the_flows_and_findings_the_changes_cause(planted):
    verdicts = planted.verdicts

    assert [f for f in verdicts["flows"]["closed"] if "frontend" in f and "backend" in f and "now blocked" in f]
    assert any(f["check"].startswith("network.") and "frontend" in f["object"] + f["message"] for f in verdicts["findings"]["added"])
    assert verdicts["images"] == {"added": ["localhost:5001/planted:1.1"], "removed": []}


def test_the_same_change_on_an_object_helm_patches_is_refused_with_the_way_through():
    before = {"kind": "StatefulSet", "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "8Gi"}}}}]}}
    after = json.loads(json.dumps(before).replace("8Gi", "10Gi"))

    helm = render_diff.classify(("StatefulSet", "vault", "vault"), before, after, render_diff.Source("helm", "release", "vault"))

    assert helm.action == "refused" and "kubectl patch pvc" in helm.note and "--cascade=orphan" in helm.note


def test_a_chart_configmap_is_replaced_by_the_engine_and_shown_as_the_lines_that_differ():
    before = {"kind": "ConfigMap", "data": {"config.yaml": "auth:\n  strategy: token\nreplicas: 1\n"}}
    after = {"kind": "ConfigMap", "data": {"config.yaml": "auth:\n  strategy: token\nreplicas: 2\n"}}

    change = render_diff.classify(("ConfigMap", "istio-system", "kiali"), before, after, render_diff.Source("pulumi", "chart", "kiali"))
    shown = render_diff.text(render_diff.Diff("a", "b", "local", [change], render_diff.verdicts({}, {})))

    assert (change.action, change.why) == ("replace", ["data.config.yaml"]) and "pods that mount it" in change.note
    assert "data.config.yaml: (text)\n        -replicas: 1\n        +replicas: 2" in shown


def test_a_claim_that_shrinks_is_refused_and_a_helm_crd_is_not_applied():
    small = {"kind": "PersistentVolumeClaim", "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
    big = {"kind": "PersistentVolumeClaim", "spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    crd = {"kind": "CustomResourceDefinition", "spec": {"versions": [{"name": "v1"}]}}

    assert render_diff.classify(("PersistentVolumeClaim", "a", "c"), big, small, render_diff.Source("helm", "release", "x")).action == "refused"
    assert render_diff.classify(("PersistentVolumeClaim", "a", "c"), small, big, render_diff.Source("helm", "release", "x")).action == "in-place"
    # The engine updates a claim's request in place too (it replaces on its class): a shrink is the API server's to refuse.
    assert render_diff.classify(("PersistentVolumeClaim", "a", "c"), big, small, render_diff.Source()).action == "refused"
    # The request judged on its own: a claim that grows while its labels change is still in place.
    relabelled = {**big, "metadata": {"labels": {"tier": "db"}}}
    assert render_diff.classify(("PersistentVolumeClaim", "a", "c"), small, relabelled, render_diff.Source("helm", "release", "x")).action == "in-place"
    moved = {"kind": "PersistentVolumeClaim", "spec": {**small["spec"], "storageClassName": "gp3"}}
    assert render_diff.classify(("PersistentVolumeClaim", "a", "c"), small, moved, render_diff.Source()).action == "replace"
    crds = render_diff.classify(("CustomResourceDefinition", "", "x.io"), crd, {**crd, "spec": {"versions": []}}, render_diff.Source("helm", "crds", "x"))
    assert crds.action == "not-applied" and "never upgrades" in crds.note


@pytest.mark.slow
def test_the_markdown_is_counts_first_and_stays_under_the_limit_with_the_cut_stated(planted):
    md = render_diff.markdown(planted)
    small = render_diff.markdown(planted, max_chars=1500, full="the workflow artifact render-diff")

    assert md.startswith("**render diff") and "<details><summary>namespace apps:" in md and "<details><summary>observability: 1 in-place" in md and "| replace | Deployment apps/planted-selector |" in md
    assert len(small) <= 1500 and "cut here to fit a comment" in small and "the workflow artifact render-diff" in small
    for limit in (300, 700, 3000, 6000):
        cut = render_diff.markdown(planted, max_chars=limit)
        assert len(cut) <= limit and cut.count("```") % 2 == 0 and cut.count("<details>") == cut.count("</details>")
    assert "cut here" not in md
    [flows] = mermaid_blocks(md)  # the flows that open and close, as a picture
    assert 'n0 -. "8080/TCP closed" .-> n1' in flows and '"Rollout apps/backend"' in flows
    assert mermaid_errors({"diff-flows": flows}) == []


@pytest.mark.slow
def test_the_command_reads_two_directories_and_refuses_what_is_not_a_render(renders, tmp_path, capsys, monkeypatch):
    base, head = renders
    run = subprocess.run([sys.executable, "-m", "render", "diff", str(base), str(head), "--format", "json"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["counts"]["replace"] == 2

    assert render_diff.main([str(tmp_path), str(head)]) == 2
    assert "not a render directory" in capsys.readouterr().err
    monkeypatch.chdir(ROOT)
    assert render_diff.main(["--git", "no-such-ref", str(head)]) == 2
    assert "--git no-such-ref" in capsys.readouterr().err


@pytest.mark.slow
def test_git_renders_the_base_from_a_ref_with_that_refs_own_code(renders, tmp_path):
    # HEAD's committed code renders the shipped stack: against the planted head, the diff is
    # the planted objects (the extra Service among them) and the changes made to others.
    _, head = renders
    kept = tmp_path / "base"
    run = subprocess.run([sys.executable, "-m", "render", "diff", "--git", "HEAD", "--base-out", str(kept), str(head), "--format", "json"],
                         cwd=ROOT, capture_output=True, text=True)

    assert run.returncode == 0, run.stderr
    assert (kept / "report.json").is_file() and (kept / "platform.md").is_file()
    found = {(c["kind"], c["name"]): c["change"] for c in json.loads(run.stdout)["changes"]}
    assert found[("Service", "planted-new")] == "added" and found[("NetworkPolicy", "frontend")] == "changed"


def test_flows_are_not_compared_with_a_render_that_does_not_list_them():
    listed = {"network": {"list": [{"check": "url", "from": "a", "from_namespace": "x", "to": "b", "to_namespace": "y", "port": 80,
                                    "protocol": "TCP", "allowed": True}]}}
    older = {"network": {"flows": 1}}

    verdicts = render_diff.verdicts(older, listed)

    assert verdicts["flows"]["opened"] == [] and "network.list" in verdicts["flows"]["not_compared"]
    assert render_diff.verdicts(listed, {"network": {"list": []}})["flows"]["closed"] == ["a -> b:80/TCP (url) — no longer needed"]
