"""The render's command line: run a stack's program under mocks, check everything it deploys, print verdicts.

    python -m render local --out build/render-local [--config-file PATH] [--policy-config PATH] [--no-charts]

Writes `DIR/manifests/` and `DIR/report.json` (see `render.report`), prints the
verdicts of every layer first, then one line per Helm release, then the resource
types, and exits 2 on a configuration error or when the pinned charts are not on this
machine (one line saying how to get them, before the program runs), 1 on an error in
any layer, else 0. `--no-charts` asks for a program-only render: PARTIAL in its first
line and in report.json, the layers that read the charts' objects not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from components.config import ConfigError

from .engine.charts import ChartSet, ChartsUnavailable, available
from .engine.deployed import EarlyRenders, warm_up
from .engine.harness import read_stack_file, run_program_recording
from .report import write


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _error_lines(errors: list[dict[str, str]]) -> list[str]:
    """One line per finding of a layer: the check, the object (or its declaring resource), the message."""
    return [f"  ERROR [{e['check']}] {e['object'] or _short(e['urn'])}: {e['message']}" for e in errors]


def _policies_lines(policies: Any) -> list[str]:
    lines: list[str] = []
    if policies is not None:
        blocking = [v for v in policies["violations"] if v["enforcement"] == "mandatory"]
        hidden = policies.get("release_objects", [])
        lines.append(
            f"policies: {policies['policies']} policies on {policies['evaluated']} resources, "
            f"{len(blocking)} mandatory and {len(policies['violations']) - len(blocking)} advisory violations"
            f"; {len(hidden)} on objects inside helm.v3.Releases (not seen by the engine)"
        )
        for v in policies["violations"]:
            lines.append(f"  {v['enforcement'].upper()} {v['policy']} {_short(v['urn'])}: {v['message']}")
        for v in hidden:
            lines.append(f"  IN-RELEASE {v['policy']} {_short(v['urn'])}: {v['message']}")
        for registry in policies.get("unlisted_registries", []):
            lines.append(
                f"  NOTE the stack's own registry {registry} is not in the pack config's allowed registries: images pushed there are refused; "
                "list it under kubernetes-container-allowed-registries.registries in policies/config/<stack>.json"
            )
    return lines


def _schema_lines(schema: Any) -> list[str]:
    lines: list[str] = []
    if schema is not None:
        lines.append(
            f"schema: {schema['validated']} objects validated, {len(schema['errors'])} errors, "
            f"{len(schema['unvalidated'])} unvalidated, {len(schema['values_errors'])} Helm values errors"
        )
        for error in schema["errors"]:
            lines.append(f"  ERROR {error['object']} ({_short(error['urn'])}) {error['path']}: {error['message']}")
        for error in schema["values_errors"]:
            lines.append(f"  ERROR values {error['chart']} {error['version']} {error['path']}: {error['message']}")
        for item in schema["unvalidated"]:
            lines.append(f"  UNVALIDATED {item['object']} ({_short(item['urn'])}): {item['reason']}")
    return lines


def _admission_lines(admission: Any) -> list[str]:
    lines: list[str] = []
    if admission is not None:
        gk, psa, quota = admission["gatekeeper"], admission["pod_security"], admission["quota"]
        lines.append(
            f"admission (sidecars injected): Gatekeeper {gk['constraints']} constraints, {gk['evaluated']} objects matched, {len(gk['denied'])} denied, "
            f"{len(gk['warnings'])} warnings; Pod Security {psa['evaluated']} pod templates, {len(psa['denied'])} rejected, "
            f"{len(psa.get('label_errors', []))} namespace level errors; "
            f"{len(quota['quotas'])} ResourceQuotas and LimitRanges, {len(quota['errors'])} errors"
        )
        for e in quota["errors"]:
            lines.append(f"  QUOTA {e['object']}: {e['message']}")
        for e in gk["denied"]:
            lines.append(f"  DENIED {e['constraint']} {e['object']}: {e['message']}")
        for e in gk["warnings"]:
            lines.append(f"  WARN {e['constraint']} {e['object']}: {e['message']}")
        for e in psa["denied"]:
            lines.append(f"  REJECTED {e['object']}: {e['message']}")
        for e in psa.get("label_errors", []):
            lines.append(f"  LEVEL {e['namespace']}: {e['message']}")
    return lines


def _layer_lines(section: Any, headline: Callable[[Any], str], more: Callable[[Any], list[str]] | None = None) -> list[str]:
    """A layer's summary: its headline, each of its errors, then what else it lists (nothing without the layer)."""
    if section is None:
        return []
    return [headline(section), *_error_lines(section["errors"]), *(more(section) if more else [])]


def _ordering_headline(ordering: Any) -> str:
    fail_closed = ordering["webhooks"]
    return (
        f"ordering: {ordering['checked']} objects against the dependency graph, {len(ordering['errors'])} errors; "
        f"{len(fail_closed)} fail-closed webhooks: "
        + (", ".join(f"{w['webhook']} ({w['wait_for_backend']} wait, {w['created_before_webhook']} before)" for w in fail_closed) or "none")
    )


def _unchecked(section: Any) -> list[str]:
    return [f"  UNCHECKED {note}" for note in section["unchecked"]]


# Layers whose summary is a headline, their errors and perhaps a list: report key -> (headline, what else).
_LAYER_SUMMARIES: dict[str, tuple[Callable[[Any], str], Callable[[Any], list[str]] | None]] = {
    "deployability": (
        lambda d: f"deployability: {d['checked']} objects checked, {len(d['errors'])} errors, {len(d['prerequisites'])} prerequisites you provide",
        lambda d: [f"  PREREQUISITE {p['kind']} {p['namespace']}/{p['name']} ({p['key']}): {p['how']}" for p in d["prerequisites"]],
    ),
    "ordering": (_ordering_headline, None),
    "consistency": (
        lambda c: f"consistency: selectors, workload selectors, subsets, principals, targets, probes, monitors and disruption budgets, "
        f"{len(c['errors'])} errors",
        None,
    ),
    "network": (
        lambda n: f"network: {n['flows']} flows ({', '.join(f'{k} {check}' for check, k in n['checks'].items())}) against the NetworkPolicies, "
        f"{len(n['errors'])} blocked",
        lambda n: [f"  OPEN namespaces with pods and no default deny: {', '.join(n['open_namespaces'])}"] if n["open_namespaces"] else [],
    ),
    "paths": (
        lambda p: f"paths: {len(p['entries'])} entry points and {p['clients']} client addresses traced to the container that answers, "
        f"every Service port and probe, {len(p['errors'])} errors; {len(p['unanswered'])} Service ports nothing uses or answers",
        None,
    ),
    "scheduling": (
        lambda s: f"scheduling: {s['checked']} pod templates on {len(s['nodes'])} node(s) ({', '.join(s['storage_classes'])} storage), "
        f"{len(s['errors'])} errors",
        _unchecked,
    ),
    "configs": (
        lambda c: f"configs: {', '.join(f'{n} {name}' for name, n in c['checked'].items())} checked, {len(c['errors'])} errors, "
        f"{len(c['unchecked'])} named unchecked",
        _unchecked,
    ),
    "invariants": (
        lambda i: f"invariants: {i['checked']} objects' names, labels, port names, uniqueness and the API server's rules for pods, workloads, "
        f"Services, budgets and autoscalers, {len(i['errors'])} errors",
        None,
    ),
}


def _images_lines(images: Any) -> list[str]:
    lines: list[str] = []
    if images is not None:
        locked = f" against {images['locked']} in images.lock" if "locked" in images else ""
        lines.append(f"images: {len(images['images'])} images{locked}, {len(images['errors'])} errors")
        for e in images["errors"]:
            lines.append(f"  ERROR {e['message']} (used by {', '.join(e['used_by'])})")
    return lines


def _footprint_lines(fp: Any) -> list[str]:
    lines: list[str] = []
    if fp is not None:
        lines.append(
            f"footprint: {fp['cpu_millicores']}m CPU, {fp['memory_mib']}Mi memory requested on {fp['nodes']} node(s); "
            f"{len(fp['unrequested'])} containers without requests"
        )
        for item in fp["unrequested"]:
            lines.append(f"  NO REQUESTS {item['workload']} container {item['container']}")
    return lines


def verdicts(data: dict[str, Any]) -> list[str]:
    """The summary's first lines: each layer's verdict, then every error it found."""
    lines: list[str] = []
    lines += _policies_lines(data.get("policies"))
    lines += _schema_lines(data.get("schema"))
    lines += _admission_lines(data.get("admission"))
    for layer, (headline, more) in _LAYER_SUMMARIES.items():
        lines += _layer_lines(data.get(layer), headline, more)
    lines += _images_lines(data.get("images"))
    lines += _footprint_lines(data.get("footprint"))
    lines += _findings_line(data)
    path = data["critical_path"]
    lines.append(f"critical path: {path['length']} resources: " + " -> ".join(_short(u) for u in path["urns"]))
    return lines


def summary(data: dict[str, Any], out: Path) -> str:
    """Verdicts first, then one line per Helm release, then the resource types."""
    partial = data.get("partial")
    first = [f"PARTIAL render of stack {data['stack']}: {partial['reason']}; not run: {', '.join(partial['not_run'])}"] if partial else []
    sources = [data["chart_sources"]] if data.get("chart_sources") else []
    lines = [*first, f"stack {data['stack']}: {len(data['resources'])} resources declared", *sources, *verdicts(data)]
    charts = data.get("charts")
    if charts is not None:
        lines.append(f"helm releases: {len(charts)}, rendered with the real Helm engine")
        for c in charts:
            hooks = f"{len(c['hooks']['dropped'])} hooks dropped, {len(c['hooks']['kept'])} kept"
            found = ", ".join(f"{n} {layer}" for layer, n in c["violations"].items() if n) or "clean"
            status = f"FAILED: {c['error']}" if c["error"] else f"{c['objects']} objects, {hooks}; {found}"
            lines.append(f"  {c['install']} {c['release']:<22} {c['chart']} {c['version']} ({c['namespace']}): {status}")
    else:
        lines.append(f"helm releases: {len(data['helm_releases'])} (not rendered)")
    counts = Counter(r["type"] for r in data["resources"])
    width = max((len(t) for t in counts), default=4)
    lines.append(f"{'type':<{width}}  count")
    lines += [f"{t:<{width}}  {n:>5}" for t, n in sorted(counts.items())]
    lines.append(f"written: {out / 'manifests'}/, {out / 'report.json'}")
    return "\n".join(lines)


def failed(data: dict[str, Any]) -> bool:
    """Whether the render must exit non-zero: an error-severity finding of any check (what
    `--disable` and ignore annotations set aside does not count)."""
    return any(f["severity"] == "error" for f in data.get("findings") or [])


def list_checks() -> str:
    """Every registered check: name, layer, description and remediation (`--list-checks`)."""
    from .checks import CHECKS

    width = max(len(c.name) for c in CHECKS)
    lines = [f"{'check':<{width}}  description -> remediation"]
    lines += [f"{c.name:<{width}}  {c.description} -> {c.remediation}" for c in CHECKS]
    lines.append(f"{len(CHECKS)} checks. Turn one off with --disable NAME, or on one object with the annotation "
                 "gitops-platform.io/ignore-check.<name>: <reason>.")
    return "\n".join(lines)


def _findings_line(data: Mapping[str, Any]) -> list[str]:
    if "findings" not in data:
        return []
    found = data["findings"]
    errors_, warnings = sum(f["severity"] == "error" for f in found), sum(f["severity"] == "warning" for f in found)
    lines = [f"findings: {errors_} errors, {warnings} warnings; {len(data['ignored'])} ignored by annotation, {len(data['disabled'])} by --disable"]
    lines += [f"  IGNORED [{f['check']}] {f['object']}: {f['reason']}" for f in data["ignored"]]
    lines += [f"  ERROR [{f['check']}] {f['object']}: {f['message']}" for f in found if f["check"] == "render.ignore"]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m render", description="Offline render of a stack under Pulumi mocks.")
    parser.add_argument("stack", nargs="?", help="stack name; config is read from Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, help="output directory (required to render)")
    parser.add_argument("--list-checks", action="store_true", help="list every check (name, description, remediation) and exit")
    parser.add_argument("--disable", action="append", default=[], metavar="CHECK", help="set a check's findings aside (repeatable; see --list-checks)")
    parser.add_argument("--format", choices=("text", "sarif"), default="text", help="sarif: also write OUT/report.sarif (SARIF 2.1.0, for code scanning)")
    parser.add_argument("--config-file", type=Path, help="stack config file (default: ./Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--policy-config", type=Path, help="policy pack config JSON, as for `pulumi preview --policy-pack-config` (default: policies/config/<stack>.json if present)"
    )
    parser.add_argument(
        "--no-charts", action="store_true", help="program-only render without the pinned charts: PARTIAL, the layers that read the charts' objects not run"
    )
    args = parser.parse_args(argv)
    if args.list_checks:
        print(list_checks())
        return 0
    if args.stack is None or args.out is None:
        parser.error("a stack and --out are required to render (or --list-checks)")
    from .checks import CHECKS

    unknown = sorted(set(args.disable) - {c.name for c in CHECKS})
    if unknown:
        print(f"error: --disable names no check: {', '.join(unknown)} (see --list-checks)", file=sys.stderr)
        return 2
    charts: ChartSet | None = None
    if not args.no_charts:
        try:
            charts = available()
        except ChartsUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    from policies.evaluate import PolicyConfigError, validate_pack_config

    policy_config_file = args.policy_config or Path("policies") / "config" / f"{args.stack}.json"
    pack_config: dict[str, Any] = {}
    if args.policy_config is not None or policy_config_file.is_file():
        try:
            pack_config = json.loads(policy_config_file.read_text())
            if not isinstance(pack_config, dict):
                raise PolicyConfigError("a pack config is a JSON object: policy name -> level or {enforcementLevel, parameters}")
            validate_pack_config(pack_config)  # refused before the program runs, as `Configure` refuses it
        except (OSError, json.JSONDecodeError, PolicyConfigError) as error:
            print(f"error: policy config {policy_config_file}: {error}", file=sys.stderr)
            return 2

    config_file = args.config_file or Path(f"Pulumi.{args.stack}.yaml")
    if not config_file.is_file():
        print(f"error: {config_file} not found (run from the project root or pass --config-file)", file=sys.stderr)
        return 2
    try:
        config, secret_keys = read_stack_file(config_file)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    early = None
    if charts is not None:
        # Chart loading, CRD parsing and the releases whose render does not depend on the
        # program's CRDs are the engine's work: they overlap with the program.
        warm_up(charts)
        early = EarlyRenders(charts)
    run, failure = run_program_recording(args.stack, config, secret_keys=secret_keys, on_register=early.registered if early else None)
    if early is not None:
        early.close()
    if isinstance(failure, ConfigError):
        print(f"error: {failure}", file=sys.stderr)
        return 2
    if failure is not None:
        print(f"error: the program failed: {type(failure).__name__}: {failure}", file=sys.stderr)
        return 1
    data = write(run, args.out, config, pack_config, charts=charts, disable=args.disable, early=early)
    if args.format == "sarif":
        write_sarif(data, args.out / "report.sarif", str(config_file))
    print(summary(data, args.out))
    return 1 if failed(data) else 0


def write_sarif(data: Mapping[str, Any], path: Path, location: str) -> None:
    """SARIF 2.1.0 of the report's findings (GitHub code scanning shows them on the pull request)."""
    from .checks import CHECKS, Finding, Judgement, sarif

    keys = ("check", "object", "message", "remediation", "severity", "urn")
    findings = [Finding(**{k: f[k] for k in keys}) for f in data.get("findings") or []]
    path.write_text(json.dumps(sarif(Judgement(findings, [], []), CHECKS, location), indent=2) + "\n")
