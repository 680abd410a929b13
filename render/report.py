"""The render report: everything a stack deploys, and what every layer of checks says about it.

    data = report(run, config)                 # the report of a recorded run
    data = write(run, out, config, pack)       # ... also writing out/manifests/ and out/report.json

`report.json` holds `resources`, `helm_releases`, `critical_path` and, with the stack's
config, `policies`, `schema`, `admission`, `deployability`, `images`, `footprint`,
`charts` and `api_versions`. Secret values never reach the output ("[secret]").
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.config import NAMESPACE, PlatformConfig, parse_config
from components.mesh import INGRESS_NAMESPACE
from components.security import VAULT_NAMESPACE

from .checks import LAYERS, Context, judge
from .checks.ordering import dependency_edges
from .checks.policies import child_urn, policy_report
from .diff import Source
from .engine.charts import ChartSet
from .engine.deployed import Deployed, DeployedStack, EarlyRenders, deployed_objects
from .engine.facts import CloudRole, Facts, Prerequisite, StackContext, stack_registries
from .engine.harness import SECRET_PLACEHOLDER, RecordedResource, Run, redact, reveal
from .engine.processes import forked
from .pictures import write as write_pictures

# libyaml's emitter when PyYAML has it (the wheels do): the CRDs alone are megabytes.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

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


def longest_chains(resources: Sequence[RecordedResource]) -> dict[str, list[str]]:
    """urn -> the longest chain of dependency edges that ends at it, first dependency first
    (its length less one is the resource's dependency level)."""
    known = {r.urn: r for r in resources}
    longest: dict[str, list[str]] = {}

    def chain(urn: str) -> list[str]:
        if urn not in longest:
            longest[urn] = []  # cycle guard; the engine rejects cycles anyway
            best: list[str] = []
            for dep in sorted(dependency_edges(known[urn])):
                if dep in known and len(candidate := chain(dep)) > len(best):
                    best = candidate
            longest[urn] = [*best, urn]
        return longest[urn]

    return {r.urn: chain(r.urn) for r in resources}


def critical_path(resources: Sequence[RecordedResource]) -> dict[str, Any]:
    """The longest chain of dependency edges, counted in resources, first dependency first."""
    path = max(longest_chains(resources).values(), key=len, default=[])
    return {"length": len(path), "urns": path}


def component_of(run: Run) -> Callable[[str], str]:
    """urn -> name of the platform component (a direct child of Platform) it belongs to."""
    by_urn = run.by_urn()
    platforms = {r.urn for r in run.resources if r.type == "gitops-platform:index:Platform"}

    def find(urn: str) -> str:
        resource = by_urn.get(urn)
        while resource is not None and resource.parent not in platforms:
            resource = by_urn.get(resource.parent)
        return resource.name if resource is not None else "(outside the platform)"

    return find


def chart_summaries(run: Run, stack: DeployedStack, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's `charts`: per release what it installs and what each layer found in it."""
    def count(items: list[dict[str, Any]], urn: str) -> int:
        return sum(1 for item in items if item.get("urn") == urn)

    schema = data.get("schema") or {}
    policies = data.get("policies") or {}
    admission = data.get("admission") or {}
    denied = (admission.get("gatekeeper") or {}).get("denied", []) + (admission.get("pod_security") or {}).get("denied", [])
    summaries = []
    policy_urns = Counter(v["urn"] for v in policies.get("violations", []) + policies.get("release_objects", []))
    for chart in stack.charts:
        objects = [d for d in stack.objects if d.source == chart.urn]
        parent = next(r for r in run.resources if r.urn == chart.urn)
        own = {chart.urn} | {child_urn(parent, d)[0] for d in objects}
        summaries.append(
            {
                "urn": chart.urn,
                "release": chart.name,
                "chart": chart.chart,
                "version": chart.version,
                "namespace": chart.namespace,
                "install": chart.install,
                "objects": len(objects),
                "objects_by_kind": dict(sorted(Counter(d.kind for d in objects).items())),
                "hooks": {"dropped": chart.hooks_dropped, "kept": chart.hooks_kept},
                "error": chart.error,
                "violations": {
                    "schema": count(schema.get("errors", []), chart.urn),
                    "policies": sum(policy_urns[urn] for urn in own),
                    "admission": count(denied, chart.urn),
                    "deployability": count((data.get("deployability") or {}).get("errors", []), chart.urn),
                },
            }
        )
    return summaries


PARTIAL_LAYERS = (
    "schema", "admission", "deployability", "ordering", "invariants", "images", "footprint", "consistency", "network", "paths", "scheduling", "configs",
)
"""The layers that read what the charts deploy: not run by a program-only (`--no-charts`) render."""


def report(run: Run, config: dict[str, Any] | None = None, pack_config: dict[str, Any] | None = None, *, charts: ChartSet | None) -> dict[str, Any]:
    """The render report of a run; with the stack `config`, also every check on everything it deploys."""
    return checked(run, config, pack_config, charts=charts)[0]


def checked(
    run: Run, config: dict[str, Any] | None = None, pack_config: dict[str, Any] | None = None, stack: DeployedStack | None = None,
    *, charts: ChartSet | None, disable: Iterable[str] = (),
) -> tuple[dict[str, Any], DeployedStack | None]:
    """(report, everything the stack deploys — None without config or charts).

    `charts`: the pinned charts (`render.engine.charts.available()`); None asks for a program-only
    report, marked `partial` with the layers it did not run. `stack`: what
    `deployed_objects(run, charts)` returned, if the caller has it already. `disable`:
    checks (`checks.CHECKS` names) whose findings are set aside.
    """
    data = resources_report(run)
    if config is None:
        return data, None
    if stack is None and charts is not None:
        stack = deployed_objects(run, charts)
    platform_config = parse_config({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")})
    if stack is None or charts is None:
        data["policies"] = policy_report(run, pack_config, stack)
        data["partial"] = {
            "reason": "program only (--no-charts): no chart was rendered, so the policies saw the program's own resources only",
            "not_run": list(PARTIAL_LAYERS),
        }
        _judged(data, Context([], None, run, pack_config, computed={"policies": data["policies"]}), disable)
        return data, None
    context = stack_context(run, platform_config, stack, charts, data["helm_releases"])
    ctx = Context(stack.objects, context, run, pack_config)
    # The admission layer runs in a child on the other core while this process computes the
    # rest, then collects it (the report keeps the layers' order).
    aside = ("admission",)
    ctx.compute_aside(aside)
    for name in LAYERS:
        if name not in aside:
            ctx.layer(name)
    data["policies"] = ctx.layer("policies")
    data["chart_sources"] = charts.verdict()
    for name in LAYERS:
        data[name] = ctx.layer(name)
    data["api_versions"] = stack.api_versions
    _judged(data, ctx, disable)
    data["charts"] = chart_summaries(run, stack, data)
    return data, stack


def _judged(data: dict[str, Any], ctx: Context, disable: Iterable[str]) -> None:
    """Run every registered check; record the findings (and what was set aside) in `data`, and take
    the set-aside ones out of their layer's section so that it shows only what counts."""
    judgement = judge(ctx, disable=disable)
    data["findings"] = [f.as_dict() for f in judgement.findings]
    data["ignored"], data["disabled"] = judgement.ignored, judgement.disabled
    aside = {id(f["entry"]) for f in judgement.set_aside if f.get("entry") is not None}
    if aside:
        _drop_entries(data, aside)


def _drop_entries(node: Any, aside: set[int]) -> None:
    if isinstance(node, dict):
        for value in node.values():
            _drop_entries(value, aside)
    elif isinstance(node, list):
        node[:] = [item for item in node if id(item) not in aside]
        for item in node:
            _drop_entries(item, aside)


def stack_context(run: Run, config: PlatformConfig, stack: DeployedStack, charts: ChartSet, releases: Sequence[Mapping[str, Any]]) -> StackContext:
    """What the object layers know about `run`'s stack beyond its objects."""
    facts = Facts(
        environment=config.environment,
        prerequisites=prerequisites(config, stack.objects),
        release_values={c.urn: reveal(run.by_urn()[c.urn].inputs).get("values") or {} for c in stack.charts},
        cloud_roles=cloud_roles(run),
    )
    return StackContext(config, facts, stack, releases, charts, stack_registries(run), component_of(run))


def cloud_roles(run: Run) -> list[CloudRole]:
    """The stack's IAM roles that a ServiceAccount assumes (web identity), with the subjects their trust names."""
    bound = {str(reveal(r.inputs).get("serviceAccountRoleArn")) for r in run.resources if r.type == "aws:eks/addon:Addon"}
    roles = []
    for r in run.of_type("aws:iam/role:Role"):
        policy = reveal(r.inputs.get("assumeRolePolicy"))
        try:
            document = json.loads(policy) if isinstance(policy, str) else policy
        except ValueError:
            continue
        statements = (document or {}).get("Statement") or [] if isinstance(document, dict) else []
        subjects = tuple(
            str(subject)
            for statement in (statements if isinstance(statements, list) else [statements])
            if "AssumeRoleWithWebIdentity" in str(statement.get("Action"))
            for condition in (statement.get("Condition") or {}).values()
            for key, value in condition.items()
            if key.endswith(":sub")
            for subject in (value if isinstance(value, list) else [value])
        )
        arn = str(reveal(r.outputs).get("arn") or "")
        if subjects and arn:
            roles.append(CloudRole(r.name, r.urn, arn, subjects, bound_elsewhere=arn in bound))
    return roles


def prerequisites(config: PlatformConfig, objects: Sequence[Deployed]) -> list[Prerequisite]:
    """Objects the stack config says the user provides (TLS Secrets), unless the stack creates them."""
    have = {(d.kind, d.namespace, d.name) for d in objects}
    wanted = []
    mesh = getattr(config, "mesh", None)
    if mesh is not None and mesh.enabled and mesh.gateway.credential_name:
        wanted.append(
            Prerequisite(
                "Secret", INGRESS_NAMESPACE, mesh.gateway.credential_name,
                "mesh.gateway.credentialName",
                "a kubernetes.io/tls Secret (tls.crt, tls.key) for the gateway's hosts: "
                "kubectl -n istio-ingress create secret tls <name> --cert=fullchain.pem --key=privkey.pem",
            )
        )
    vault = getattr(getattr(config, "security", None), "vault", None)
    if vault is not None and vault.enabled and vault.tls_secret_name:
        wanted.append(
            Prerequisite(
                "Secret", VAULT_NAMESPACE, vault.tls_secret_name, "security.vault.tlsSecretName",
                "a Secret with tls.crt, tls.key and ca.crt for vault.vault.svc: "
                "kubectl -n vault create secret generic <name> --from-file=tls.crt --from-file=tls.key --from-file=ca.crt",
            )
        )
    return [p for p in wanted if (p.kind, p.namespace, p.name) not in have]


def resources_report(run: Run) -> dict[str, Any]:
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


def _redacted(d: Deployed, run_manifest: dict[str, Any] | None) -> dict[str, Any]:
    """What the manifests folder shows of an object: program objects as declared (secrets
    redacted), and every Secret's values replaced, whoever renders it."""
    obj = run_manifest if run_manifest is not None else d.obj
    if obj.get("kind") == "Secret":
        obj = {**obj, **{key: {k: SECRET_PLACEHOLDER for k in (obj.get(key) or {})} for key in ("data", "stringData") if key in obj}}
    ordered: dict[str, Any] = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    ordered.update({k: v for k, v in obj.items() if k not in ordered})
    return ordered


def write(
    run: Run, out: Path, config: dict[str, Any] | None = None, pack_config: dict[str, Any] | None = None, *, charts: ChartSet | None,
    disable: Iterable[str] = (), early: EarlyRenders | None = None,
) -> dict[str, Any]:
    """Write `out/manifests/` (every object the stack deploys) and `out/report.json`; return the report.
    `charts` None: a program-only (partial) render. `early`: the Helm renders started while `run` ran."""
    manifests = out / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    stack = None
    if config is not None and charts is not None:
        # The engine's Helm calls leave this thread waiting: another loads meanwhile what the
        # checks read from the pinned charts.
        preparing = threading.Thread(target=_prepare_layers, args=(run, charts), name="prepare-layers")
        preparing.start()
        stack = deployed_objects(run, charts, early)
        preparing.join()
    by_urn = run.by_urn()
    if stack is None:
        objects = [(_source_line(d), _redacted(d, d.obj)) for d in (Deployed(manifest(r), r.urn, "program") for r in run.resources if r.kubernetes_object)]
    else:
        objects = [
            (_source_line(d), _redacted(d, manifest(by_urn[d.source]) if d.origin == "program" else None))
            for d in stack.objects if d.origin != "dropped-hook"
        ]
    # Emitting several MB of YAML is pure CPU: a child process does it while the checks run.
    join = forked(lambda: _write_manifests(objects, manifests))
    data, _ = checked(run, config, pack_config, stack, charts=charts, disable=disable)
    namespaces = [str((obj.get("metadata") or {}).get("name")) for _, obj in objects if obj.get("kind") == "Namespace"]
    write_pictures(out, run, data, namespaces, chains=longest_chains(run.resources), component_of=component_of(run))
    written = join()
    for stale in manifests.glob("*.yaml"):  # a previous render's objects this one no longer has
        if stale.name not in written:
            stale.unlink()
    (out / "report.json").write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return data


def _prepare_layers(run: Run, charts: ChartSet) -> None:
    from .layers import prepare  # the layers' modules load here too, off the main thread's path

    prepare(run, charts)


def _outline_json(value: Any, depth: int = 4, indent: str = "") -> str:
    """`value` as JSON, one member per line down to `depth` levels, compact (the C encoder) below."""
    inner = indent + " "
    if depth == 0 or not isinstance(value, dict | list) or not value:
        return json.dumps(value)
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + _outline_json(v, depth - 1, inner) for v in value) + "\n" + indent + "]"
    return "{\n" + ",\n".join(f"{inner}{json.dumps(k)}: {_outline_json(v, depth - 1, inner)}" for k, v in value.items()) + "\n" + indent + "}"


def _source_line(d: Deployed) -> str:
    """The manifest's first line: who applies the object (`render.diff.Source`, which reads it back)."""
    return Source("pulumi" if d.visible_to_engine else "helm", d.origin, d.release, d.source).line()


def _write_manifests(sourced: Sequence[tuple[str, dict[str, Any]]], manifests: Path) -> set[str]:
    """Write one file per object (over a previous render's file of the same name); return the names written."""
    seen: Counter[str] = Counter()
    written: set[str] = set()
    for index, (source, obj) in enumerate(sourced):
        name = _file_name(obj, index)
        seen[name] += 1
        if seen[name] > 1:  # the same kind/namespace/name twice: a real conflict, kept visible
            name = name.removesuffix(".yaml") + f"-{seen[name]}.yaml"
        if obj.get("kind") == "CustomResourceDefinition":
            # CRDs are megabytes of schema no one reads line by line: written as JSON (a
            # subset of YAML, so every YAML reader takes it), laid out down to each version's
            # fields and compact below (each version's schema is one line).
            text = f"{source}\n# {obj.get('kind')} {name} (JSON, which is YAML)\n{_outline_json(obj)}\n"
        else:
            text = f"{source}\n" + yaml.dump(obj, Dumper=_DUMPER, sort_keys=False)
        (manifests / name).write_text(text)
        written.add(name)
    return written
