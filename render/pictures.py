"""The platform as pictures that GitHub and editors display as they are: Mermaid and DOT.

The render writes `OUT/platform.md` (Mermaid in Markdown) and `OUT/platform.dot` (the same
graphs for Graphviz) with two pictures of the stack:

- **the platform map**: every namespace the stack creates as a group, each component's
  workloads inside it (one node per component and namespace, its workloads listed, the
  gateways drawn apart), and the flows the NetworkPolicies allow between them (the network
  layer's `network.list`, aggregated per pair of nodes with their ports), users entering
  through the ingress gateway and the internet the pods call. The flows every pod has
  (DNS, the API server, istiod, the tracing collector) are counted in a note instead of
  drawn: what is left out is always stated.
- **the order the engine follows**: the resources by dependency level (a resource waits for
  everything one level up it depends on), each level one node counting its resources per
  component, and the critical path drawn resource by resource.

    python -m render.pictures README.md build/render-local   # refresh README's platform map from a render
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine.harness import Run

_RELEASE = re.compile(r" \(release [^)]*\)$")
# Flows every pod (or every sidecar) has: counted, not drawn.
_EVERYWHERE = {"dns": "from every pod to CoreDNS", "api-client": "from the pods with API rights to the API server",
               "istiod": "from every Envoy to istiod", "tracing": "from every Envoy to the tracing collector"}
_GATEWAYS = ("ingressgateway", "egressgateway")
README_START, README_END = "<!-- platform-map:start -->", "<!-- platform-map:end -->"


@dataclass
class Node:
    id: str
    label: str
    style: str = ""
    """`gateway`, `outside`, `critical` or ``."""


@dataclass
class Graph:
    """Groups of nodes, edges between nodes, and a note of what was left out."""

    direction: str
    groups: dict[str, tuple[str, list[Node]]] = field(default_factory=dict)
    """group id -> (label, nodes)."""
    loose: list[Node] = field(default_factory=list)
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(from, to, label, style: `allowed`, `blocked` or `path`)."""
    left_out: list[str] = field(default_factory=list)

    def nodes(self) -> list[Node]:
        return [n for _, nodes in self.groups.values() for n in nodes] + self.loose


def _id(prefix: str, text: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", text)


def _workload_names(names: Sequence[str], shown: int = 4) -> str:
    short = [n.split("/", 1)[-1] for n in sorted(names)]
    return ", ".join(short[:shown]) + (f" +{len(short) - shown} more" if len(short) > shown else "")


def platform_map(data: Mapping[str, Any], namespaces: Iterable[str]) -> Graph:
    """Namespaces, each component's workloads in them, and the flows allowed between them."""
    graph = Graph("LR")
    by_place: dict[tuple[str, str], list[str]] = defaultdict(list)
    place_of: dict[str, tuple[str, str]] = {}
    for w in (data.get("footprint") or {}).get("workloads") or []:
        kind, _, where = str(w["workload"]).partition(" ")
        namespace = where.split("/", 1)[0] if "/" in where else ""
        component = str(w.get("component") or "").removeprefix("platform-")
        if any(g in where for g in _GATEWAYS):
            component = where.split("/", 1)[-1]  # a gateway is its own node
        place = (namespace, component)
        by_place[place].append(f"{kind} {where}")
        place_of[str(w["workload"])] = place
    every_namespace = sorted(set(namespaces) | {ns for ns, _ in by_place if ns})
    for namespace in every_namespace:
        nodes = []
        for (ns, component), names in sorted(by_place.items()):
            if ns == namespace:
                gateway = any(g in component for g in _GATEWAYS)
                label = component if gateway else f"{component}: {_workload_names(names)}"
                nodes.append(Node(_id("w_", f"{ns}_{component}"), label, "gateway" if gateway else ""))
        graph.groups[_id("ns_", namespace)] = (f"namespace {namespace}", nodes)
    outside: dict[str, Node] = {}

    def endpoint(name: str, namespace: str) -> str | None:
        place = place_of.get(_RELEASE.sub("", name))
        if place is not None:
            return _id("w_", f"{place[0]}_{place[1]}")
        if name in ("the API server", "node") or not namespace:
            label = "the internet" if not namespace and name not in ("the API server", "node") else name
            node = outside.setdefault(label, Node(_id("x_", label), label, "outside"))
            return node.id
        return None

    counted: Counter[str] = Counter()
    edges: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    unplaced = 0
    for flow in (data.get("network") or {}).get("list") or []:
        if flow["check"] in _EVERYWHERE:
            counted[flow["check"]] += 1
            continue
        source, destination = endpoint(flow["from"], flow["from_namespace"]), endpoint(flow["to"], flow["to_namespace"])
        if source is None or destination is None or source == destination:
            unplaced += source is None or destination is None
            continue
        edges[(source, destination, "allowed" if flow["allowed"] else "blocked")].add(str(flow["port"]))
    entries = (data.get("paths") or {}).get("entries") or []
    ingress = next((p for p, names in by_place.items() if "ingressgateway" in p[1]), None)
    if entries and ingress is not None:
        users = outside.setdefault("users", Node("x_users", f"users ({len(entries)} entry points)", "outside"))
        edges[(users.id, _id("w_", f"{ingress[0]}_{ingress[1]}"), "allowed")].add("443")
    for (source, destination, style), ports in sorted(edges.items()):
        graph.edges.append((source, destination, ",".join(sorted(ports, key=lambda p: (len(p), p))), style))
    graph.loose = list(outside.values())
    graph.left_out = [f"{n} flows {_EVERYWHERE[check]}" for check, n in sorted(counted.items())]
    if unplaced:
        graph.left_out.append(f"{unplaced} flows between pods no workload of the stack owns")
    return graph


def engine_order(resources: Sequence[Mapping[str, Any]], level: Mapping[str, int],
                 component_of: Callable[[str], str], critical: Sequence[str]) -> Graph:
    """Dependency levels (`level`: urn -> level; each level counted per component) and the
    critical path, resource by resource."""
    by_urn = {str(r["urn"]): r for r in resources}
    custom = [str(r["urn"]) for r in resources if r.get("custom")]
    graph = Graph("TB")
    per_level: dict[int, Counter[str]] = defaultdict(Counter)
    for urn in custom:
        per_level[level[urn]][component_of(urn).removeprefix("platform-")] += 1
    for urn in critical:
        if urn in level:
            per_level.setdefault(level[urn], Counter())
    for n in sorted(per_level):
        counts = per_level[n]
        label = f"level {n}: {sum(counts.values())} resources<br/>" + ", ".join(f"{c} {k}" for k, c in sorted(counts.items(), key=lambda kc: (-kc[1], kc[0])))
        label = label if counts else f"level {n}"
        nodes = [Node(f"L{n}", label)]
        nodes += [Node(f"c{i}", f"{by_urn[urn]['type'].split(':')[-1]} {by_urn[urn]['name']}", "critical")
                  for i, urn in enumerate(critical) if urn in level and level[urn] == n]
        graph.groups[f"level{n}"] = (f"level {n}", nodes)
    levels = sorted(per_level)
    graph.edges += [(f"L{a}", f"L{b}", "", "allowed") for a, b in pairwise(levels)]
    graph.edges += [(f"c{i}", f"c{i + 1}", "", "path") for i, _ in enumerate(pairwise(critical))]
    graph.left_out = [f"{len(by_urn) - len(custom)} component resources (they group resources, nothing waits for them)",
                      f"the resources off the critical path, one by one: each is counted in its level (the {len(critical)} on it are drawn, in bold)"]
    return graph


def _label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def to_mermaid(graph: Graph) -> str:
    lines = [f"flowchart {graph.direction}"]
    for gid, (label, nodes) in graph.groups.items():
        lines.append(f"  subgraph {gid}[{_label(label)}]")
        lines += [f"    {n.id}[{_label(n.label)}]" if n.style != "gateway" else f"    {n.id}{{{{{_label(n.label)}}}}}" for n in nodes]
        if not nodes:
            lines.append(f"    {gid}_empty[{_label('no workloads')}]")
        lines.append("  end")
    lines += [f"  {n.id}([{_label(n.label)}])" for n in graph.loose]
    arrows = {"allowed": "-->", "blocked": "-. blocked .->", "path": "==>"}
    for source, destination, label, style in graph.edges:
        arrow = arrows[style]
        if label and style == "allowed":
            lines.append(f"  {source} -->|{_label(label)}| {destination}")
        else:
            lines.append(f"  {source} {arrow} {destination}")
    styles = {"gateway": "fill:#fde7c8,stroke:#c77800", "outside": "fill:#eeeeee,stroke:#777777", "critical": "fill:#fbd0d0,stroke:#b00020,stroke-width:2px"}
    for style, css in styles.items():
        ids = [n.id for n in graph.nodes() if n.style == style]
        if ids:
            lines.append(f"  classDef {style} {css}")
            lines.append(f"  class {','.join(ids)} {style}")
    return "\n".join(lines)


def to_dot(graph: Graph, name: str) -> str:
    def q(text: str) -> str:
        return '"' + text.replace("<br/>", "\\n").replace('"', '\\"') + '"'

    lines = [f"digraph {q(name)} {{", f"  rankdir={graph.direction};", "  node [shape=box, fontname=Helvetica];"]
    for gid, (label, nodes) in graph.groups.items():
        lines.append(f"  subgraph cluster_{gid} {{ label={q(label)};")
        lines += [f"    {n.id} [label={q(n.label)}{', shape=hexagon' if n.style == 'gateway' else ''}"
                  f"{', style=bold, color=red' if n.style == 'critical' else ''}];" for n in nodes]
        lines.append("  }")
    lines += [f"  {n.id} [label={q(n.label)}, shape=ellipse];" for n in graph.loose]
    for source, destination, label, style in graph.edges:
        attrs = {"allowed": f"label={q(label)}" if label else "", "blocked": "style=dashed, color=red, label=blocked", "path": "style=bold, color=red"}[style]
        lines.append(f"  {source} -> {destination}" + (f" [{attrs}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines)


def markdown(stack: str, platform: Graph, order: Graph) -> str:
    """`platform.md`: both pictures, each with what it leaves out."""
    def section(title: str, graph: Graph) -> list[str]:
        return [f"## {title}", "", "```mermaid", to_mermaid(graph), "```", "", *[f"- Not drawn: {item}" for item in graph.left_out], ""]

    return "\n".join([
        f"# Stack {stack}: the platform as the render sees it", "",
        "Generated by `python -m render` from the objects the stack deploys (`platform.dot` has the same graphs for Graphviz).", "",
        *section("Where everything runs and what may call what", platform),
        *section("The order the engine follows", order),
    ])


def dot(stack: str, platform: Graph, order: Graph) -> str:
    return to_dot(platform, f"{stack} platform") + "\n\n" + to_dot(order, f"{stack} order") + "\n"


def write(out: Path, run: Run, data: Mapping[str, Any], namespaces: Iterable[str], *,
          chains: Mapping[str, Sequence[str]], component_of: Callable[[str], str]) -> None:
    """`out/platform.md` and `out/platform.dot` of a render (`chains`: urn -> the longest
    dependency chain ending at it, `render.report.longest_chains`)."""
    platform = platform_map(data, namespaces)
    resources = [{"urn": r.urn, "type": r.type, "name": r.name, "custom": r.custom} for r in run.resources]
    levels = {urn: len(chain) - 1 for urn, chain in chains.items()}
    order = engine_order(resources, levels, component_of, list((data.get("critical_path") or {}).get("urns") or []))
    stack = str(data.get("stack", ""))
    (out / "platform.md").write_text(markdown(stack, platform, order))
    (out / "platform.dot").write_text(dot(stack, platform, order))


def readme_block(md: str) -> str:
    """The platform map's Mermaid block of a `platform.md`."""
    start = md.index("```mermaid")
    return md[start:md.index("```\n", start + 3) + 3]


def splice(readme: str, block: str) -> str:
    """README with the text between its platform-map markers replaced by `block`."""
    if README_START not in readme or README_END not in readme:
        raise ValueError(f"README has no {README_START} ... {README_END} markers")
    head, rest = readme.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{block}\n{README_END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m render.pictures README.md RENDER_DIR (refreshes README's platform map from RENDER_DIR/platform.md)", file=sys.stderr)
        return 2
    readme, rendered = Path(args[0]), Path(args[1]) / "platform.md"
    if not rendered.is_file():
        print(f"error: {rendered} not found: render the stack first (make render STACK=local)", file=sys.stderr)
        return 2
    readme.write_text(splice(readme.read_text(), readme_block(rendered.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
