"""Components accept their own configuration: what each component would refuse when it loads it.

- `promql`: every expression in a PrometheusRule (the platform's, the services', and
  the charts' own), in every Grafana dashboard ConfigMap, in every Argo Rollouts analysis
  (`AnalysisTemplate`, `ClusterAnalysisTemplate`: `{{args.x}}` placeholders filled in) and
  in every KEDA `ScaledObject`'s Prometheus trigger parses, with the
  Prometheus parser's grammar (`promql-parser`, a port of Prometheus' own). Grafana's
  `$__rate_interval`-style variables are replaced by a duration first.
- `rules`: each PrometheusRule is a rule file Prometheus loads (`promtool check rules`):
  group names unique in it, every rule exactly one of `alert` or `record`, record names
  valid metric names, label names valid, `for`, `keep_firing_for` and group `interval`
  Prometheus durations, and no `for` on a recording rule.
- `alertmanager`: the rendered `alertmanager.yaml` has only Alertmanager's top-level
  keys, unique receiver names, routes and inhibit rules whose matchers parse, and
  every route names a receiver that exists — what `amtool check-config` rejects.
- `falco`: custom rules are lists of `rule`/`macro`/`list` items, each rule with
  `desc`, `condition`, `output` and a priority Falco knows, and every condition parses
  with Falco's grammar naming only macros and lists that exist (`render/falco.py`).
- `alloy`: Grafana Alloy's configuration (`*.alloy` ConfigMap keys) has balanced blocks,
  no component declared twice, and every component it references (`x.y.label.receiver`)
  declared — what `alloy fmt`/`alloy run` refuse first. Attribute types are not checked.

Named as unchecked (no validator that runs offline): Loki's and Gatekeeper's config
files, and Istio's mesh config (istiod validates it when it starts).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml

from ..engine.deployed import Deployed
from ..engine.falco import ConditionError
from ..engine.falco import Rules as FalcoRules

UNCHECKED = (
    "Loki's config.yaml: only `loki -verify-config` knows Loki 3.7's config; the chart's values.schema.json is checked instead",
    "Gatekeeper's Config and the controller's flags: validated by Gatekeeper at start",
    "Istio's meshConfig: istiod validates it when it starts; its keys are passed through as values",
)
_GRAFANA_INTERVAL = re.compile(r"\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)[^}]*\}")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]+\]\]")
_MATCHER = re.compile(r'^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^"\s,{}]*)\s*$')
_ALERTMANAGER_KEYS = {"global", "route", "receivers", "inhibit_rules", "templates", "time_intervals", "mute_time_intervals", "tracing"}
_FALCO_PRIORITIES = {"EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "INFO", "DEBUG"}


def promql_problem(expr: str) -> str | None:
    """Why Prometheus would refuse `expr`, or None."""
    import promql_parser

    text = _GRAFANA_VARIABLE.sub("x", _GRAFANA_INTERVAL.sub("5m", expr))
    try:
        promql_parser.parse(text)
    except ValueError as error:
        return str(error)
    return None


def _rule_expressions(d: Deployed) -> Iterator[tuple[str, str]]:
    for group in (d.obj.get("spec") or {}).get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            yield f"group {group.get('name')} rule {name}", str(rule.get("expr", ""))


def _dashboard_expressions(d: Deployed) -> Iterator[tuple[str, str]]:
    for key, text in (d.obj.get("data") or {}).items():
        if not str(key).endswith(".json"):
            continue
        try:
            dashboard = json.loads(text)
        except json.JSONDecodeError as error:
            yield f"{key}", f"<invalid JSON: {error}>"
            continue
        stack = list(dashboard.get("panels") or [])
        while stack:
            panel = stack.pop()
            stack.extend(panel.get("panels") or [])
            for target in panel.get("targets") or []:
                if target.get("expr"):
                    yield f"{key} panel {panel.get('title')!r}", str(target["expr"])


_ANALYSIS_ARGUMENT = re.compile(r"\{\{[^}]*\}\}")
"""`{{args.service-name}}`: an analysis argument Argo Rollouts substitutes before it queries."""


def _analysis_expressions(d: Deployed) -> Iterator[tuple[str, str]]:
    for metric in (d.obj.get("spec") or {}).get("metrics") or []:
        query = (((metric or {}).get("provider") or {}).get("prometheus") or {}).get("query")
        if query:
            yield f"metric {metric.get('name')}", _ANALYSIS_ARGUMENT.sub("0", str(query))


def _trigger_expressions(d: Deployed) -> Iterator[tuple[str, str]]:
    for trigger in (d.obj.get("spec") or {}).get("triggers") or []:
        query = ((trigger or {}).get("metadata") or {}).get("query")
        if (trigger or {}).get("type") == "prometheus" and query:
            yield f"trigger {trigger.get('name') or 'prometheus'}", str(query)


def check_promql(objects: Sequence[Deployed]) -> tuple[int, list[dict[str, str]]]:
    checked, errors = 0, []
    for d in objects:
        if d.kind == "PrometheusRule":
            expressions = list(_rule_expressions(d))
        elif d.kind == "ConfigMap" and ((d.obj.get("metadata") or {}).get("labels") or {}).get("grafana_dashboard"):
            expressions = list(_dashboard_expressions(d))
        elif d.kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
            expressions = list(_analysis_expressions(d))
        elif d.kind == "ScaledObject":
            expressions = list(_trigger_expressions(d))
        else:
            continue
        for where, expr in expressions:
            checked += 1
            problem = "the dashboard is not JSON" if expr.startswith("<invalid JSON") else promql_problem(expr)
            if problem:
                errors.append({"check": "promql", "object": d.ref, "urn": d.source, "message": f"{where}: `{expr[:120]}` does not parse: {problem}"})
    return checked, errors


_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")


def rule_file_problems(spec: Mapping[str, Any]) -> Iterator[str]:
    """What Prometheus refuses in a rule file (a PrometheusRule's spec), as `promtool check rules` says it."""
    names: set[str] = set()
    for group in spec.get("groups") or []:
        name = str(group.get("name") or "")
        if not name:
            yield "a group has no name"
        elif name in names:
            yield f"group {name!r} is repeated in the same file"
        names.add(name)
        interval = group.get("interval")
        if interval is not None and (not _DURATION.match(str(interval)) or not str(interval)):
            yield f"group {name}: interval {interval!r} is not a Prometheus duration"
        for rule in group.get("rules") or []:
            alert, record = rule.get("alert"), rule.get("record")
            what = f"group {name} rule {alert or record}"
            if bool(alert) == bool(record):
                yield f"{what}: a rule has exactly one of alert and record"
            if record and not _METRIC_NAME.match(str(record)):
                yield f"{what}: record {record!r} is not a valid metric name"
            for field in ("for", "keep_firing_for"):
                value = rule.get(field)
                if value is not None and (not str(value) or not _DURATION.match(str(value))):
                    yield f"{what}: {field} {value!r} is not a Prometheus duration"
                if value is not None and record:
                    yield f"{what}: a recording rule takes no {field}"
            for label in (rule.get("labels") or {}):
                if not _LABEL_NAME.match(str(label)):
                    yield f"{what}: label name {label!r} is invalid"


def check_rules(objects: Sequence[Deployed]) -> tuple[int, list[dict[str, str]]]:
    files = [d for d in objects if d.kind == "PrometheusRule" and str(d.obj.get("apiVersion", "")).startswith("monitoring.coreos.com/")]
    errors = [
        {"check": "rules", "object": d.ref, "urn": d.source, "message": f"{problem}: Prometheus refuses the whole file, so none of its alerts fire"}
        for d in files for problem in rule_file_problems(d.obj.get("spec") or {})
    ]
    return len(files), errors


def _matchers(values: Sequence[Any]) -> Iterator[str]:
    for value in values:
        text = str(value).strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        for part in filter(None, (p.strip() for p in text.split(","))):
            if not _MATCHER.match(part):
                yield part


def alertmanager_problems(config: Mapping[str, Any]) -> list[str]:
    """What `amtool check-config` would refuse in an Alertmanager configuration."""
    problems = [f"unknown top-level key {key!r}" for key in config if key not in _ALERTMANAGER_KEYS]
    receivers = [str(r.get("name")) for r in config.get("receivers") or []]
    problems += [f"receiver {name!r} is defined twice" for name in sorted({n for n in receivers if receivers.count(n) > 1})]
    route = config.get("route")
    if not isinstance(route, Mapping) or not route.get("receiver"):
        return [*problems, "the root route needs a receiver"]
    todo: list[tuple[str, Mapping[str, Any]]] = [("route", route)]
    while todo:
        where, node = todo.pop(0)
        if node.get("receiver") and node["receiver"] not in receivers:
            problems.append(f"{where} sends to receiver {node['receiver']!r}, which is not defined")
        problems += [f"{where}: matcher {m!r} does not parse" for m in _matchers(node.get("matchers") or [])]
        todo += [(f"{where}.routes[{i}]", child) for i, child in enumerate(node.get("routes") or [])]
    for i, rule in enumerate(config.get("inhibit_rules") or []):
        for key in ("source_matchers", "target_matchers"):
            problems += [f"inhibit_rules[{i}].{key}: matcher {m!r} does not parse" for m in _matchers(rule.get(key) or [])]
    return problems


def check_alertmanager(objects: Sequence[Deployed]) -> tuple[int, list[dict[str, str]]]:
    checked, errors = 0, []
    for d in objects:
        if d.kind != "Secret" or "alertmanager.yaml" not in {**(d.obj.get("data") or {}), **(d.obj.get("stringData") or {})}:
            continue
        text = (d.obj.get("stringData") or {}).get("alertmanager.yaml")
        if text is None:
            text = base64.b64decode(str(d.obj["data"]["alertmanager.yaml"])).decode()
        checked += 1
        try:
            config = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            errors.append({"check": "alertmanager", "object": d.ref, "urn": d.source, "message": f"alertmanager.yaml is not YAML: {error}"})
            continue
        errors += [{"check": "alertmanager", "object": d.ref, "urn": d.source, "message": f"alertmanager.yaml: {p}"} for p in alertmanager_problems(config)]
    return checked, errors


def falco_problems(rules: Any) -> list[str]:
    if not isinstance(rules, list):
        return ["a rules file is a list of rule, macro and list items"]
    problems = []
    for i, item in enumerate(rules):
        kinds = {"rule", "macro", "list", "required_engine_version", "required_plugin_versions"} & set(item or {})
        if not kinds:
            problems.append(f"item {i} is neither a rule, a macro nor a list")
        elif "rule" in kinds and not item.get("append") and not item.get("override"):
            missing = [k for k in ("desc", "condition", "output", "priority") if k not in item]
            if missing:
                problems.append(f"rule {item['rule']!r} lacks {', '.join(missing)}")
            elif str(item["priority"]).upper() not in _FALCO_PRIORITIES:
                problems.append(f"rule {item['rule']!r} has priority {item['priority']!r}; Falco knows {', '.join(sorted(_FALCO_PRIORITIES))}")
    if not problems:
        try:
            FalcoRules(rules)  # every condition parses and names only known macros and lists
        except ConditionError as error:
            problems.append(f"condition: {error}")
    return problems


def check_falco(objects: Sequence[Deployed]) -> tuple[int, list[dict[str, str]]]:
    checked, errors = 0, []
    for d in objects:
        if d.kind != "ConfigMap" or not d.name.endswith("-rules") or "falco" not in d.name:
            continue
        for key, text in (d.obj.get("data") or {}).items():
            checked += 1
            try:
                problems = falco_problems(yaml.safe_load(text))
            except yaml.YAMLError as error:
                problems = [f"not YAML: {error}"]
            errors += [{"check": "falco", "object": d.ref, "urn": d.source, "message": f"{key}: {p}"} for p in problems]
    return checked, errors


_ALLOY_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.S)
_ALLOY_COMPONENT = re.compile(r'^\s*([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)\s+"([^"]+)"\s*\{', re.M)
_ALLOY_REFERENCE = re.compile(r"\b([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)\.([a-z0-9_]+)\.(targets|output|receiver|exports)\b")


def alloy_problems(text: str) -> list[str]:
    """What Alloy would refuse in a configuration: unbalanced blocks, a component declared
    twice, or a reference (`loki.write.default.receiver`) to a component that is not declared."""
    # Comments go; strings stay (component labels) or become "" (so braces and dots in them are not code).
    uncommented = _ALLOY_TOKEN.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)
    code = _ALLOY_TOKEN.sub(lambda m: '""' if m.group(0).startswith('"') else "", text)
    problems = []
    depth = 0
    for char in code:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        problems.append("unbalanced braces")
    declared = [f"{kind}.{label}" for kind, label in _ALLOY_COMPONENT.findall(uncommented)]
    problems += [f"component {c} declared twice" for c in sorted({c for c in declared if declared.count(c) > 1})]
    for kind, label, _export in _ALLOY_REFERENCE.findall(code):
        if f"{kind}.{label}" not in declared:
            problems.append(f"{kind}.{label} is referenced but not declared")
    return problems


def check_alloy(objects: Sequence[Deployed]) -> tuple[int, list[dict[str, str]]]:
    checked, errors = 0, []
    for d in objects:
        if d.kind != "ConfigMap":
            continue
        for key, text in (d.obj.get("data") or {}).items():
            if key.endswith(".alloy"):
                checked += 1
                errors += [{"check": "alloy", "object": d.ref, "urn": d.source, "message": f"{key}: {p}"} for p in alloy_problems(str(text))]
    return checked, errors


def configs_report(objects: Sequence[Deployed]) -> dict[str, Any]:
    """The render's `configs` section."""
    live = [d for d in objects if d.origin != "dropped-hook"]
    counts, errors = {}, []
    for name, check in (("promql", check_promql), ("rules", check_rules), ("alertmanager", check_alertmanager), ("falco", check_falco), ("alloy", check_alloy)):
        checked, found = check(live)
        counts[name] = checked
        errors += found
    return {"checked": counts, "errors": errors, "unchecked": list(UNCHECKED)}
