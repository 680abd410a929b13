"""render.engine.helm_engine: the real Helm engine renders, merges values and parses YAML as the cluster does; its message when a chart fails."""

from __future__ import annotations

import ast

import pytest

from helpers import ROOT, pinned, pinned_charts, release, render
from render.engine.helm_engine import HelmRenderError, chart_metadata, merged_values, parse_documents, render_templates


def test_a_chart_that_fails_to_render_reports_the_engines_message():
    [chart] = render(release("loki", pinned("loki"), "monitoring", {"deploymentMode": "SimpleScalable", "loki": {"storage": {"type": "s3"}}})).charts

    assert "bucketNames" in chart.error and chart.objects == []


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


def test_templates_render_with_the_release_and_values_given_and_defaults_merge_under_them():
    directory = pinned_charts().directory("metrics-server", pinned("metrics-server"))
    assert directory is not None

    templates = render_templates(directory, {"replicas": 2}, release="ms", namespace="kube-system", kube_version="v1.35.0")
    manifests = [o for path, text in templates.items() if path.endswith(".yaml") for o in parse_documents(text) if o]
    deployment = next(o for o in manifests if o.get("kind") == "Deployment")

    assert deployment["spec"]["replicas"] == 2 and deployment["metadata"]["name"].startswith("ms")
    assert merged_values(directory, {"replicas": 2})["replicas"] == 2 and "image" in merged_values(directory, {})
    assert chart_metadata(directory)["name"] == "metrics-server"


def test_yaml_means_what_it_means_to_the_cluster_and_bad_yaml_is_named():
    [document] = parse_documents("a: yes\nb: 0777\n")

    assert document == {"a": True, "b": 511}  # YAML 1.1: `yes` is true and 0777 octal, as the API machinery (sigs.k8s.io/yaml) reads them
    with pytest.raises(HelmRenderError, match="invalid YAML"):
        parse_documents("a: [unclosed\n")
