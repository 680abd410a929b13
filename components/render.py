"""Offline render: run the real program for a stack under mocks and write what it declares.

    python -m components.render local --out build/render-local [--config-file PATH]

Writes `DIR/manifests/` (every Kubernetes object, as YAML) and `DIR/report.json`
(`stack`, `resources`, `helm_releases`, `critical_path`), prints a summary, and
exits non-zero on a configuration error. No Pulumi CLI, cloud account, cluster or
Docker daemon is needed; secret values never reach the output ("[secret]").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .config import NAMESPACE, ConfigError, parse_config
from .footprint import footprint, node_count
from .harness import RecordedResource, Run, read_stack_file, redact, run_program_recording
from .harness import reveal
from .upstream import bundle
from .validate import schema_report

HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")


def manifest(resource: RecordedResource) -> dict[str, Any]:
    """The Kubernetes object a resource declares (metadata.name filled in as the provider would)."""
    obj = redact(resource.outputs)
    ordered = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    ordered.update({k: v for k, v in obj.items() if k not in ordered})
    return ordered


def helm_release(resource: RecordedResource) -> dict[str, Any]:
    inputs = redact(resource.inputs)
    return {
        "urn": resource.urn,
        "type": resource.type,
        "name": inputs.get("name", resource.name),
        "chart": inputs.get("chart"),
        "repo": (inputs.get("repositoryOpts") or {}).get("repo"),
        "version": inputs.get("version"),
        "namespace": inputs.get("namespace"),
        "values": inputs.get("values", {}),
    }


def dependency_edges(resource: RecordedResource) -> set[str]:
    """What a resource waits for: explicit depends_on, property dependencies, its explicit provider.

    Parent links are not edges: a parent does not delay its children.
    """
    edges = set(resource.dependencies)
    for urns in resource.property_dependencies.values():
        edges.update(urns)
    if resource.provider:
        edges.add(resource.provider)
    edges.discard(resource.urn)
    return edges


def critical_path(resources: Sequence[RecordedResource]) -> dict[str, Any]:
    """The longest chain of dependency edges, counted in resources, first dependency first."""
    known = {r.urn: r for r in resources}
    longest: dict[str, list[str]] = {}

    def chain(urn: str) -> list[str]:
        if urn not in longest:
            longest[urn] = []  # cycle guard; the engine rejects cycles anyway
            best: list[str] = []
            for dep in sorted(dependency_edges(known[urn])):
                if dep in known and len(candidate := chain(dep)) > len(best):
                    best = candidate
            longest[urn] = best + [urn]
        return longest[urn]

    path = max((chain(r.urn) for r in resources), key=len, default=[])
    return {"length": len(path), "urns": path}


def component_of(run: Run) -> Any:
    """urn -> name of the platform component (a direct child of Platform) it belongs to."""
    by_urn = run.by_urn()
    platforms = {r.urn for r in run.resources if r.type == "gitops-platform:index:Platform"}

    def find(urn: str) -> str:
        resource = by_urn.get(urn)
        while resource is not None and resource.parent not in platforms:
            resource = by_urn.get(resource.parent)
        return resource.name if resource is not None else "(outside the platform)"

    return find


def stack_registries(run: Run) -> list[str]:
    """Image prefixes of the stack's own registry (the policy pack's allowed registries include them)."""
    prefixes = set()
    for r in run.resources:
        if r.type == "aws:ecr/repository:Repository" and r.outputs.get("repositoryUrl"):
            prefixes.add(str(r.outputs["repositoryUrl"]).split("/", 1)[0] + "/")
        if r.type == "docker:index/container:Container" and "gitops-platform:index:LocalRegistry$" in r.urn:
            prefixes.update(f"localhost:{p['external']}/" for p in r.inputs.get("ports") or [] if p.get("external"))
    return sorted(prefixes)


def policy_report(run: Run, pack_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every policy of the pack on every recorded resource and on the stack."""
    from policies import ALL_POLICIES
    from policies.evaluate import Resource, effective, evaluate

    config = dict(pack_config or {})
    allowed = next(p for p in ALL_POLICIES if p.name == "kubernetes-container-allowed-registries")
    _, registries_config = effective(allowed, config)
    entry = config.get(allowed.name)
    entry = {"enforcementLevel": entry} if isinstance(entry, str) else dict(entry or {})
    entry["registries"] = sorted(set(registries_config["registries"]) | set(stack_registries(run)))
    config[allowed.name] = entry
    resources = [
        Resource(
            type=r.type,
            urn=r.urn,
            name=r.name,
            props=reveal(r.inputs),
            protect=r.protect,
            parent=r.parent,
            dependencies=r.dependencies,
            property_dependencies=r.property_dependencies,
            provider=r.provider,
            ignore_changes=r.ignore_changes,
            delete_before_replace=r.delete_before_replace,
            additional_secret_outputs=r.additional_secret_outputs,
        )
        for r in run.resources
    ]
    result = evaluate(resources, pack_config=config)
    result["registries"] = entry["registries"]
    return result


def report(run: Run, config: dict[str, Any] | None = None, pack_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The render report of a run; with the stack `config`, also policies, schema checks and footprint."""
    data = _resources_report(run)
    if config is None:
        return data
    data["policies"] = policy_report(run, pack_config)
    objects = [(r.urn, manifest(r)) for r in run.resources if r.kubernetes_object]
    data["schema"] = schema_report(objects, data["helm_releases"], bundle())
    platform_config = parse_config({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")})
    data["footprint"] = footprint(objects, data["helm_releases"], nodes=node_count(platform_config), component_of=component_of(run))
    return data


def _resources_report(run: Run) -> dict[str, Any]:
    return {
        "stack": run.stack,
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "custom": r.custom,
                "parent": r.parent,
                "provider": r.provider,
                "dependencies": sorted(dependency_edges(r) - ({r.provider} if r.provider else set())),
                "protect": r.protect,
                "retainOnDelete": r.retain_on_delete,
                "deleteBeforeReplace": r.delete_before_replace,
                "inputs": redact(r.inputs),
            }
            for r in run.resources
        ],
        "helm_releases": [helm_release(r) for r in run.resources if r.type in HELM_TYPES],
        "critical_path": critical_path(run.resources),
    }


def _file_name(obj: dict[str, Any], index: int) -> str:
    metadata = obj.get("metadata") or {}
    parts = [obj.get("kind", "Object"), metadata.get("namespace") or "cluster", metadata.get("name") or str(index)]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "-".join(parts)).lower() + ".yaml"


def write(run: Run, out: Path, config: dict[str, Any] | None = None, pack_config: dict[str, Any] | None = None) -> dict[str, Any]:
    manifests = out / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    for stale in manifests.glob("*.yaml"):
        stale.unlink()
    for index, resource in enumerate(r for r in run.resources if r.kubernetes_object):
        obj = manifest(resource)
        (manifests / _file_name(obj, index)).write_text(yaml.safe_dump(obj, sort_keys=False))
    data = report(run, config, pack_config)
    (out / "report.json").write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return data


def summary(data: dict[str, Any], out: Path) -> str:
    counts = Counter(r["type"] for r in data["resources"])
    width = max((len(t) for t in counts), default=4)
    lines = [f"stack {data['stack']}: {len(data['resources'])} resources", f"{'type':<{width}}  count"]
    lines += [f"{t:<{width}}  {n:>5}" for t, n in sorted(counts.items())]
    lines.append(f"helm releases: {len(data['helm_releases'])}")
    path = data["critical_path"]
    lines.append(f"critical path: {path['length']} resources: " + " -> ".join(u.rsplit("::", 1)[-1] for u in path["urns"]))
    policies = data.get("policies")
    if policies is not None:
        blocking = [v for v in policies["violations"] if v["enforcement"] == "mandatory"]
        lines.append(
            f"policies: {policies['policies']} policies on {policies['evaluated']} resources, "
            f"{len(blocking)} mandatory and {len(policies['violations']) - len(blocking)} advisory violations"
        )
        for v in policies["violations"]:
            lines.append(f"  {v['enforcement'].upper()} {v['policy']}: {v['message']}")
    schema = data.get("schema")
    if schema is not None and schema.get("skipped"):
        lines.append(f"schema checks SKIPPED: {schema['reason']}")
    elif schema is not None:
        lines.append(
            f"schema: {schema['validated']} objects validated, {len(schema['errors'])} errors, "
            f"{len(schema['unvalidated'])} unvalidated, {len(schema['values_errors'])} Helm values errors"
        )
        for error in schema["errors"]:
            lines.append(f"  ERROR {error['kind']} {error['urn'].rsplit('::', 1)[-1]} {error['path']}: {error['message']}")
        for error in schema["values_errors"]:
            lines.append(f"  ERROR values {error['chart']} {error['version']} {error['path']}: {error['message']}")
        for item in schema["unvalidated"]:
            lines.append(f"  UNVALIDATED {item['kind']} {item['urn'].rsplit('::', 1)[-1]}: {item['reason']}")
    fp = data.get("footprint")
    if fp is not None:
        lines.append(f"footprint: {fp['cpu_millicores']}m CPU, {fp['memory_mib']}Mi memory requested; {len(fp['unknown'])} workloads unknown")
        for item in fp["unknown"]:
            lines.append(f"  UNKNOWN {item['workload']}: {item['reason']}")
    lines.append(f"written: {out / 'manifests'}/, {out / 'report.json'}")
    return "\n".join(lines)


def failed(data: dict[str, Any]) -> bool:
    """Whether the render must exit non-zero (mandatory policy violations, schema or Helm values errors)."""
    schema = data.get("schema") or {}
    mandatory = [v for v in (data.get("policies") or {}).get("violations", []) if v["enforcement"] == "mandatory"]
    return bool(schema.get("errors") or schema.get("values_errors") or mandatory)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.render", description="Offline render of a stack under Pulumi mocks.")
    parser.add_argument("stack", help="stack name; config is read from Pulumi.<stack>.yaml")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--config-file", type=Path, help="stack config file (default: ./Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--policy-config", type=Path, help="policy pack config JSON, as for `pulumi preview --policy-pack-config` (default: policies/config/<stack>.json if present)"
    )
    args = parser.parse_args(argv)
    policy_config_file = args.policy_config or Path("policies") / "config" / f"{args.stack}.json"
    pack_config: dict[str, Any] = {}
    if args.policy_config is not None or policy_config_file.is_file():
        try:
            pack_config = json.loads(policy_config_file.read_text())
        except (OSError, json.JSONDecodeError) as error:
            print(f"error: policy config {policy_config_file}: {error}", file=sys.stderr)
            return 2

    config_file = args.config_file or Path(f"Pulumi.{args.stack}.yaml")
    if not config_file.is_file():
        print(f"error: {config_file} not found (run from the project root or pass --config-file)", file=sys.stderr)
        return 2
    config, secret_keys = read_stack_file(config_file)
    run, error = run_program_recording(args.stack, config, secret_keys=secret_keys)
    if isinstance(error, ConfigError):
        print(f"error: {error}", file=sys.stderr)
        return 2
    if error is not None:
        print(f"error: the program failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    from policies.evaluate import PolicyConfigError

    try:
        data = write(run, args.out, config, pack_config)
    except PolicyConfigError as error:
        print(f"error: policy config {policy_config_file}: {error}", file=sys.stderr)
        return 2
    print(summary(data, args.out))
    return 1 if failed(data) else 0


if __name__ == "__main__":
    raise SystemExit(main())
