"""render.pictures: the platform map and the engine's order, as Mermaid (checked by Mermaid's own
parser) and DOT, for both stacks; README's map is the render's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, mermaid_blocks, mermaid_errors
from render import pictures
from render.report import component_of, longest_chains


def _pictures(rendered: Any, stack: str, out: Path) -> tuple[str, str, list[str]]:
    run, data, deployed = rendered(stack)
    namespaces = sorted({d.name for d in deployed.objects if d.kind == "Namespace" and d.origin != "dropped-hook"})
    pictures.write(out, run, data, namespaces, chains=longest_chains(run.resources), component_of=component_of(run))
    return (out / "platform.md").read_text(), (out / "platform.dot").read_text(), namespaces


@pytest.fixture(scope="module")
def drawn(rendered, tmp_path_factory) -> dict[str, tuple[str, str, list[str]]]:
    return {stack: _pictures(rendered, stack, tmp_path_factory.mktemp(stack)) for stack in ("local", "aws")}


def _synthetic() -> tuple[pictures.Graph, str]:
    data = {
        "footprint": {"workloads": [{"component": "platform-apps", "workload": "Deployment apps/web"},
                                    {"component": "platform-apps", "workload": "Deployment apps/api"},
                                    {"component": "platform-observability", "workload": "Deployment monitoring/prometheus"}]},
        "network": {"list": [
            {"check": "scrape", "from": "Deployment monitoring/prometheus (release kps)", "from_namespace": "monitoring",
             "to": "Deployment apps/web", "to_namespace": "apps", "port": 9090, "protocol": "TCP", "allowed": False},
            {"check": "dns", "from": "Deployment apps/web", "from_namespace": "apps", "to": "CoreDNS", "to_namespace": "kube-system",
             "port": 53, "protocol": "UDP", "allowed": True},
        ]},
    }
    graph = pictures.platform_map(data, ["apps", "monitoring", "empty"])
    return graph, pictures.to_mermaid(graph)


def test_every_picture_parses_with_mermaids_own_parser(drawn):
    # One run of the parser for all of them: both stacks' map and order, and the synthetic map below.
    diagrams = {f"{stack}-{i}": block for stack, (md, _, _) in drawn.items() for i, block in enumerate(mermaid_blocks(md))}
    diagrams["synthetic"] = _synthetic()[1]

    assert len(diagrams) == 5 and mermaid_errors(diagrams) == []


@pytest.mark.parametrize("stack", ["local", "aws"])
def test_the_map_shows_every_namespace_the_stack_creates(drawn, stack):
    md, dot, namespaces = drawn[stack]
    platform = mermaid_blocks(md)[0]

    assert len(namespaces) > 10
    assert {f'"namespace {ns}"' for ns in namespaces} <= set(re.findall(r'"namespace [a-z0-9-]+"', platform))
    assert all(f'label="namespace {ns}"' in dot for ns in namespaces)
    assert "istio-ingressgateway" in platform and "users (" in platform and "Not drawn:" in md


def test_the_order_marks_the_critical_path_resource_by_resource(drawn, rendered):
    _, data, _ = rendered("local")
    order = mermaid_blocks(drawn["local"][0])[1]
    length = data["critical_path"]["length"]

    assert [f"c{i} ==> c{i + 1}" for i in range(length - 1)] == re.findall(r"c\d+ ==> c\d+", order)
    assert "Command platform-cluster-kind" in order and "class c0," in order


def test_the_dot_file_declares_every_node_an_edge_uses(drawn):
    for _, dot, _ in drawn.values():
        declared = set(re.findall(r"^\s+(\w+) \[label=", dot, re.MULTILINE))
        used = {n for edge in re.findall(r"^\s+(\w+) -> (\w+)", dot, re.MULTILINE) for n in edge}
        assert dot.count("digraph") == 2 and dot.count("{") == dot.count("}") and used <= declared


def test_readmes_map_is_the_renders(drawn):
    readme = (ROOT / "README.md").read_text()
    block = pictures.readme_block(drawn["local"][0])

    assert f"{pictures.README_START}\n{block}\n{pictures.README_END}" in readme, (
        "README's platform map is stale: make render STACK=local && .venv/bin/python -m render.pictures README.md build/render-local"
    )


def test_a_blocked_flow_is_drawn_blocked_and_the_everyday_flows_are_counted():
    graph, text = _synthetic()

    assert "w_monitoring_observability -. blocked .-> w_apps_apps" in text and '"apps: api, web"' in text
    assert '"no workloads"' in text and graph.left_out == ["1 flows from every pod to CoreDNS"]


def test_the_readme_refresh_replaces_only_the_map(tmp_path, capsys):
    (tmp_path / "render").mkdir()
    (tmp_path / "render" / "platform.md").write_text("# x\n\n```mermaid\nflowchart LR\n  a --> b\n```\n\nmore\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{pictures.README_START}\nold\n{pictures.README_END}\nrest\n")

    assert pictures.main([str(readme), str(tmp_path / "render")]) == 0
    assert readme.read_text() == f"intro\n{pictures.README_START}\n```mermaid\nflowchart LR\n  a --> b\n```\n{pictures.README_END}\nrest\n"
    assert pictures.main([str(readme), str(tmp_path / "nothing")]) == 2
    assert "render the stack first" in capsys.readouterr().err
