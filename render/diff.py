"""What a change does to the cluster: two renders compared.

    python -m render diff BASE HEAD [--format text|json|markdown] [--output FILE] [--max-chars N]
    python -m render diff --git REF --stack STACK HEAD

BASE and HEAD are render output directories (`python -m render STACK --out DIR`); `--git
REF` renders the base itself, from REF checked out in a temporary worktree with REF's own
code. Objects are keyed by kind, namespace and name, declared resources and chart objects
alike (each manifest's first line says who applies it: `Source`);
the stack's other declared resources (cloud, Docker, commands) by type and name.

Each change is classified as the engine and the API server will treat it:

- `in-place`: updated where it stands (a workload's template rolls its pods out);
- `replace`: the engine deletes and recreates the object (a field its Kubernetes provider
  replaces on, `ENGINE_REPLACES`), and the report says what that loses (`LOST_ON_REPLACE`);
- `refused`: a field the API server holds immutable (`IMMUTABLE`) on an object Helm
  patches, or one the engine updates in place: the apply fails; the documented way through
  is given (`WAY_THROUGH`);
- `not-applied`: a CRD in a helm.v3.Release's `crds/` folder (Helm never upgrades those).

Then what the verdicts do: findings that appear or disappear, images added or removed,
flows opened or closed (`report.json`'s `network.list`) and the footprint before -> after.
Secret values are redacted in both renders, so a changed secret value does not show.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.quantity import memory_mib

Key = tuple[str, str, str]
"""(kind, namespace, name); namespace "" for cluster-scoped objects."""

Path_ = tuple[str, ...]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Fields the engine's Kubernetes provider replaces the object on (pulumi-kubernetes' "force
# new" properties) instead of patching it: a same-named object is deleted, then created.
ENGINE_REPLACES: dict[str, tuple[Path_, ...]] = {
    "ConfigMap": (("data",), ("binaryData",)),
    "Secret": (("type",), ("data",), ("stringData",)),
    # Not its resources: a claim's request is updated in place (pulumi-kubernetes#1705), so it can grow.
    "PersistentVolumeClaim": (("spec", "accessModes"), ("spec", "selector"), ("spec", "storageClassName"), ("spec", "volumeName")),
    "ResourceQuota": (("spec", "scopes"),),
    "Service": (("spec", "clusterIP"), ("spec", "type")),
    "Deployment": (("spec", "selector"),),
    "StatefulSet": (("spec", "podManagementPolicy"), ("spec", "revisionHistoryLimit"), ("spec", "selector"), ("spec", "serviceName"),
                    ("spec", "volumeClaimTemplates")),
    "Job": (("spec", "selector"), ("spec", "template")),
    "RoleBinding": (("roleRef",),),
    "ClusterRoleBinding": (("roleRef",),),
    "StorageClass": (("parameters",), ("provisioner",)),
}

# Fields the API server refuses to change (an update that touches one fails validation).
IMMUTABLE: dict[str, tuple[Path_, ...]] = {
    "Deployment": (("spec", "selector"),),
    "ReplicaSet": (("spec", "selector"),),
    "DaemonSet": (("spec", "selector"),),
    # Everything but replicas, ordinals, template, updateStrategy, minReadySeconds and the claim retention policy.
    "StatefulSet": (("spec", "selector"), ("spec", "serviceName"), ("spec", "volumeClaimTemplates"), ("spec", "podManagementPolicy"),
                    ("spec", "revisionHistoryLimit")),
    "Job": (("spec", "selector"), ("spec", "template"), ("spec", "completionMode")),
    "Service": (("spec", "clusterIP"), ("spec", "clusterIPs")),
    "PersistentVolumeClaim": (("spec", "accessModes"), ("spec", "storageClassName"), ("spec", "selector"), ("spec", "volumeName"),
                              ("spec", "volumeMode"), ("spec", "dataSource")),
    "RoleBinding": (("roleRef",),),
    "ClusterRoleBinding": (("roleRef",),),
    "StorageClass": (("parameters",), ("provisioner",), ("reclaimPolicy",), ("volumeBindingMode",)),
    "CustomResourceDefinition": (("spec", "scope"),),
}

LOST_ON_REPLACE: dict[str, str] = {
    "Deployment": "every pod at once instead of a rolling update: a gap in service",
    "StatefulSet": "every pod at once; its volume claims outlive it and are adopted again, so the data stays",
    "DaemonSet": "the pod on every node at once",
    "Service": "its cluster IP, a LoadBalancer's external address (DNS records pointing at it break) and in-flight connections",
    "PersistentVolumeClaim": "the volume and its data, unless its PersistentVolume's reclaim policy is Retain",
    "Job": "its run history; it runs again",
    "ConfigMap": "nothing stored, but pods that mount it see it missing for a moment",
    "Secret": "nothing stored, but pods that mount it see it missing for a moment",
    "Namespace": "everything in it",
}

WAY_THROUGH: dict[tuple[str, str], str] = {
    ("StatefulSet", "volumeClaimTemplates"): (
        "grow each existing claim by hand (kubectl patch pvc <claim>-<name>-<n> -p "
        "'{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"<size>\"}}}}'; the StorageClass must allow volume expansion), "
        "then delete the StatefulSet with --cascade=orphan so the new template is applied without touching its pods or data"
    ),
    ("StatefulSet", ""): "delete the StatefulSet with --cascade=orphan, then apply again: its pods and claims are adopted by the new one",
    ("Deployment", "selector"): "delete the Deployment (its pods go with it), then apply again; or give it a new name",
    ("DaemonSet", "selector"): "delete the DaemonSet, then apply again",
    ("Job", ""): "delete the Job (a finished Job is safe to delete), then apply again: it runs once more",
    ("Service", ""): "delete the Service, then apply again: it gets a new cluster IP",
    ("PersistentVolumeClaim", ""): "a claim's class, modes and volume never change: copy the data to a new claim",
    ("RoleBinding", "roleRef"): "delete the binding, then apply again",
    ("ClusterRoleBinding", "roleRef"): "delete the binding, then apply again",
    ("StorageClass", ""): "delete the StorageClass, then apply again (existing volumes keep what they were created with)",
    ("CustomResourceDefinition", ""): "a CRD's scope never changes: a new CRD (and migrating its objects) is the only way",
}

NOT_APPLIED_WAY = "Helm never upgrades a chart's crds/: apply the new CRDs yourself (kubectl apply --server-side -f <chart>/crds/)"


SOURCE_PREFIX = "# source: "


@dataclass(frozen=True)
class Source:
    """Who applies an object, as each manifest's first line says it (`SOURCE_PREFIX`, written by
    `render.report`): `managed_by` `pulumi` (the program's own objects, a helm.v4.Chart's,
    ConfigGroups': the engine diffs and replaces them) or `helm` (inside a helm.v3.Release: Helm
    patches them, and never upgrades `crds/`), its `origin` (`render.engine.deployed.Deployed.origin`),
    its release and the URN of the resource that declares it."""

    managed_by: str = "pulumi"
    origin: str = "program"
    release: str = ""
    urn: str = ""
    """The resource that declares it (the object itself, its chart or its ConfigGroup)."""

    def line(self) -> str:
        release = f" release={self.release}" if self.release else ""
        return f"{SOURCE_PREFIX}managed-by={self.managed_by} origin={self.origin}{release} urn={self.urn}"

    @classmethod
    def parse(cls, line: str) -> Source:
        fields = dict(part.split("=", 1) for part in line.removeprefix(SOURCE_PREFIX).split() if "=" in part)
        return cls(fields.get("managed-by", "pulumi"), fields.get("origin", "program"), fields.get("release", ""), fields.get("urn", ""))


@dataclass
class Rendered:
    """What one render directory holds, as the diff reads it."""

    stack: str
    objects: dict[Key, dict[str, Any]]
    sources: dict[Key, Source]
    resources: dict[tuple[str, str], dict[str, Any]]
    """Declared resources that are not Kubernetes objects: (type, name) -> inputs (secrets redacted)."""
    report: dict[str, Any]


class DiffError(Exception):
    """A render directory the diff cannot read (says which and why)."""


def load(directory: Path) -> Rendered:
    """Read a render's `manifests/` and `report.json`."""
    report_file, manifests = directory / "report.json", directory / "manifests"
    if not report_file.is_file() or not manifests.is_dir():
        raise DiffError(f"{directory}: not a render directory (no report.json or manifests/); make one with `python -m render STACK --out {directory}`")
    report = json.loads(report_file.read_text())
    objects: dict[Key, dict[str, Any]] = {}
    sources: dict[Key, Source] = {}
    for path in sorted(manifests.glob("*.yaml")):
        text = path.read_text()
        first, _, rest = text.partition("\n")
        sourced = first.startswith(SOURCE_PREFIX)
        source, body = (Source.parse(first), rest) if sourced else (Source(), text)
        stripped = "\n".join(line for line in body.splitlines() if not line.startswith("#"))
        obj = json.loads(stripped) if stripped.lstrip().startswith("{") else yaml.load(stripped, Loader=_LOADER)
        if not isinstance(obj, dict):
            continue
        metadata = obj.get("metadata") or {}
        key = (str(obj.get("kind", "")), str(metadata.get("namespace") or ""), str(metadata.get("name") or path.stem))
        objects[key], sources[key] = obj, source
    resources = {
        (str(r["type"]), str(r["name"])): r.get("inputs") or {}
        for r in report.get("resources") or []
        if r.get("custom") and not str(r["type"]).startswith("kubernetes:") and not str(r["type"]).startswith("pulumi:providers:")
    }
    return Rendered(str(report.get("stack", "")), objects, sources, resources, report)


# --- field-level differences -------------------------------------------------------------------


def _segment(item: Any, index: int) -> str:
    return f"[{item['name']}]" if isinstance(item, Mapping) and isinstance(item.get("name"), str) else f"[{index}]"


def _flatten(value: Any, prefix: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """(path, leaf) of every leaf; list items by their `name` where they have one (containers, ports)."""
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            yield from _flatten(v, (*prefix, str(k)))
    elif isinstance(value, list) and value:
        names = [_segment(item, i) for i, item in enumerate(value)]
        unique = len(set(names)) == len(names)
        for i, item in enumerate(value):
            yield from _flatten(item, (*prefix, names[i] if unique else f"[{i}]"))
    else:
        yield prefix, value


_ABSENT = object()


def field_changes(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """(dotted path, before, after) of every leaf that differs; absent is None."""
    old, new = dict(_flatten(before)), dict(_flatten(after))
    changed = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path, _ABSENT), new.get(path, _ABSENT)
        if a != b:
            changed.append((".".join(path), None if a is _ABSENT else a, None if b is _ABSENT else b))
    return changed


def _starts(path: str, prefix: Path_) -> bool:
    dotted = ".".join(prefix)
    return path == dotted or path.startswith(dotted + ".") or path.startswith(dotted + "[") or path.startswith(dotted + ".[")


# --- classification --------------------------------------------------------------------------


@dataclass
class Change:
    """One object or resource that differs between the renders."""

    kind: str
    namespace: str
    name: str
    change: str
    """`added`, `removed` or `changed`."""
    action: str
    """`create`, `delete`, `in-place`, `replace`, `refused` or `not-applied`."""
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    """The fields that make it a replace or a refusal."""
    note: str = ""
    """What a replace loses, what a delete loses, or the way through a refusal."""
    managed_by: str = "pulumi"
    release: str = ""
    component: str = ""
    """The platform component (a direct child of Platform) that declares it, as the footprint names them."""

    @property
    def ref(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}" + (f" (release {self.release})" if self.release else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "namespace": self.namespace, "name": self.name, "change": self.change, "action": self.action,
            "managed_by": self.managed_by, "release": self.release, "component": self.component, "why": self.why, "note": self.note,
            "fields": [{"path": p, "before": a, "after": b} for p, a, b in self.fields],
        }


def _way_through(kind: str, paths: Sequence[str]) -> str:
    for path in paths:
        leaf = path.split(".")[1] if path.startswith("spec.") and "." in path else path.split(".")[0]
        if (kind, leaf) in WAY_THROUGH:
            return WAY_THROUGH[(kind, leaf)]
    return WAY_THROUGH.get((kind, ""), "delete the object, then apply again")


_CLAIM_SIZE = "spec.resources.requests.storage"


def _claim_shrinks(fields: Sequence[tuple[str, Any, Any]]) -> bool:
    """Whether a claim's storage request changes other than by growing: growing is the one
    change to a claim's spec the API server takes (volume expansion)."""
    for path, a, b in fields:
        if path == _CLAIM_SIZE:
            try:
                return a is None or b is None or memory_mib(b) <= memory_mib(a)
            except ValueError:
                return True
    return False


def classify(key: Key, before: dict[str, Any], after: dict[str, Any], source: Source) -> Change:
    """How the engine and the API server treat the change of one object."""
    kind, namespace, name = key
    fields = field_changes(before, after)
    spec_paths = [p for p, _, _ in fields]
    if kind == "ConfigMap" or kind == "Secret":
        immutable = (("data",), ("binaryData",), ("stringData",)) if before.get("immutable") else ()
        immutable_fields = [p for p in spec_paths if any(_starts(p, f) for f in immutable)]
    else:
        immutable_fields = [p for p in spec_paths if any(_starts(p, f) for f in IMMUTABLE.get(kind, ()))]
    if kind == "PersistentVolumeClaim" and _claim_shrinks(fields):
        immutable_fields.append(_CLAIM_SIZE)
    change = Change(kind, namespace, name, "changed", "in-place", fields, managed_by=source.managed_by, release=source.release)
    if source.origin == "crds" and source.managed_by == "helm":
        change.action, change.note = "not-applied", NOT_APPLIED_WAY
        return change
    if source.managed_by == "pulumi":
        replaces = [p for p in spec_paths if any(_starts(p, f) for f in ENGINE_REPLACES.get(kind, ()))]
        if replaces:
            change.action, change.why = "replace", replaces
            change.note = f"a replace loses {LOST_ON_REPLACE.get(kind, 'its state in the cluster (status, what controllers recorded)')}"
            if kind == "StatefulSet" and any(_starts(p, ("spec", "volumeClaimTemplates")) for p in replaces):
                change.note += f"; the existing claims keep their old size: {WAY_THROUGH[('StatefulSet', 'volumeClaimTemplates')]}"
            return change
    if immutable_fields:
        change.action, change.why = "refused", immutable_fields
        change.note = _way_through(kind, immutable_fields)
    return change


def diff_objects(base: Rendered, head: Rendered) -> list[Change]:
    """Every object and declared resource added, removed or changed, sorted by kind, namespace, name."""
    changes: list[Change] = []
    for key in sorted(set(base.objects) | set(head.objects)):
        kind, namespace, name = key
        if key not in base.objects:
            source = head.sources[key]
            changes.append(Change(kind, namespace, name, "added", "create", managed_by=source.managed_by, release=source.release))
        elif key not in head.objects:
            source = base.sources[key]
            lost = LOST_ON_REPLACE.get(kind, "") if kind in ("PersistentVolumeClaim", "Namespace", "StatefulSet", "Service") else ""
            note = f"deleting it loses {lost}" if lost else ""
            if source.managed_by == "helm" and source.origin == "crds":
                note = "Helm leaves a chart's CRDs (and every object of them) in the cluster"
            changes.append(Change(kind, namespace, name, "removed", "delete", note=note, managed_by=source.managed_by, release=source.release))
        elif base.objects[key] != head.objects[key]:
            changes.append(classify(key, base.objects[key], head.objects[key], head.sources[key]))
    for rkey in sorted(set(base.resources) | set(head.resources)):
        type_, name = rkey
        if rkey not in base.resources:
            changes.append(Change(type_, "", name, "added", "create"))
        elif rkey not in head.resources:
            changes.append(Change(type_, "", name, "removed", "delete"))
        elif base.resources[rkey] != head.resources[rkey]:
            changes.append(Change(type_, "", name, "changed", "in-place", field_changes(base.resources[rkey], head.resources[rkey]),
                                  note="the provider decides between an update and a replace: `pulumi preview` says which"))
    return changes


# --- what the verdicts do ---------------------------------------------------------------------


def _findings(report: Mapping[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(str(f.get("severity")), str(f.get("check")), str(f.get("object")), str(f.get("message"))) for f in report.get("findings") or []}


def _images(report: Mapping[str, Any]) -> set[str]:
    return {str(i.get("image")) for i in (report.get("images") or {}).get("images") or []}


def _flows(report: Mapping[str, Any]) -> dict[tuple[str, str, str, str, str, int, str], bool]:
    return {
        (f["check"], f["from_namespace"], f["from"], f["to_namespace"], f["to"], int(f["port"]), f["protocol"]): bool(f["allowed"])
        for f in (report.get("network") or {}).get("list") or []
    }


def _flow_text(flow: tuple[str, str, str, str, str, int, str]) -> str:
    check, _, source, _, destination, port, protocol = flow
    return f"{source} -> {destination}:{port}/{protocol} ({check})"


def verdicts(base: Mapping[str, Any], head: Mapping[str, Any]) -> dict[str, Any]:
    """Findings, images, flows and footprint: what appears, what goes, what moves."""
    old_findings, new_findings = _findings(base), _findings(head)
    old_images, new_images = _images(base), _images(head)
    old_flows, new_flows = _flows(base), _flows(head)
    compared = all("list" in (report.get("network") or {}) for report in (base, head))
    opened = sorted(f for f, ok in new_flows.items() if ok and not old_flows.get(f, False)) if compared else []
    closed = sorted(f for f, ok in old_flows.items() if ok and not new_flows.get(f, False)) if compared else []
    fp_old, fp_new = base.get("footprint") or {}, head.get("footprint") or {}

    def finding(f: tuple[str, str, str, str]) -> dict[str, str]:
        return {"severity": f[0], "check": f[1], "object": f[2], "message": f[3]}

    return {
        "findings": {"added": [finding(f) for f in sorted(new_findings - old_findings)], "removed": [finding(f) for f in sorted(old_findings - new_findings)]},
        "images": {"added": sorted(new_images - old_images), "removed": sorted(old_images - new_images)},
        "flows": {
            "opened": [_flow_text(f) for f in opened],
            "closed": [_flow_text(f) + (" — now blocked" if f in new_flows else " — no longer needed") for f in closed],
            **({} if compared else {"not_compared": "a render without network.list (made before it existed, or without the charts)"}),
        },
        "footprint": {
            key: {"before": fp_old.get(key), "after": fp_new.get(key)} for key in ("cpu_millicores", "memory_mib") if fp_old.get(key) != fp_new.get(key)
        },
    }


@dataclass
class Diff:
    base: str
    head: str
    stack: str
    changes: list[Change]
    verdicts: dict[str, Any]

    @property
    def empty(self) -> bool:
        v = self.verdicts
        flows = v["flows"]["opened"] or v["flows"]["closed"]
        return not self.changes and not any(v["findings"].values()) and not any(v["images"].values()) and not flows and not v["footprint"]

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for c in self.changes:
            counted[c.action] = counted.get(c.action, 0) + 1
        return counted

    def as_json(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head, "stack": self.stack, "counts": self.counts(),
                "changes": [c.as_json() for c in self.changes], "verdicts": self.verdicts}


def components(rendered: Rendered) -> dict[str, str]:
    """urn -> the platform component that declares it (a direct child of Platform), from report.json."""
    resources = {str(r["urn"]): r for r in rendered.report.get("resources") or []}
    platforms = {u for u, r in resources.items() if r.get("type") == "gitops-platform:index:Platform"}
    found: dict[str, str] = {}
    for urn in resources:
        resource: Mapping[str, Any] | None = resources[urn]
        while resource is not None and resource.get("parent") not in platforms:
            resource = resources.get(str(resource.get("parent") or ""))
        if resource is not None:
            found[urn] = str(resource["name"]).removeprefix("platform-")
    return found


def _with_components(changes: list[Change], base: Rendered, head: Rendered) -> list[Change]:
    found = {**components(base), **components(head)}
    urns = {key: source.urn for key, source in {**base.sources, **head.sources}.items()}
    urns.update({(type_, "", name): str(r["urn"]) for rendered in (base, head) for r in rendered.report.get("resources") or []
                 for type_, name in [(str(r["type"]), str(r["name"]))]})
    for c in changes:
        c.component = found.get(urns.get((c.kind, c.namespace, c.name), ""), "")
    return changes


def diff(base: Rendered, head: Rendered, base_name: str = "base", head_name: str = "head") -> Diff:
    changes = _with_components(diff_objects(base, head), base, head)
    return Diff(base_name, head_name, head.stack or base.stack, changes, verdicts(base.report, head.report))


# --- output ---------------------------------------------------------------------------------------

_ACTIONS = ("refused", "replace", "not-applied", "delete", "create", "in-place")
_FIELD_LINES = 12


def _value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _text_lines(before: str, after: str, indent: str) -> list[str]:
    """The lines that differ between two multi-line values (a config file in a ConfigMap)."""
    changed = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    shown = [f"{indent}  {_value(line)}" for line in changed[:_FIELD_LINES]]
    return shown + ([f"{indent}  ... {len(changed) - _FIELD_LINES} more lines"] if len(changed) > _FIELD_LINES else [])


def _field_lines(change: Change, indent: str) -> list[str]:
    lines = []
    for p, a, b in change.fields[:_FIELD_LINES]:
        if isinstance(a, str) and isinstance(b, str) and "\n" in a + b:
            lines += [f"{indent}{p}: (text)", *_text_lines(a, b, indent)]
        else:
            lines.append(f"{indent}{p}: {_value(a) if a is not None else '(absent)'} -> {_value(b) if b is not None else '(absent)'}")
    if len(change.fields) > _FIELD_LINES:
        lines.append(f"{indent}... and {len(change.fields) - _FIELD_LINES} more fields (the JSON output has them all)")
    return lines


def _summary_line(d: Diff) -> str:
    counts = d.counts()
    if d.empty:
        return f"render diff {d.base} -> {d.head} (stack {d.stack}): no change"
    parts = [f"{counts[a]} {a}" for a in _ACTIONS if counts.get(a)]
    v = d.verdicts
    more = [
        f"findings +{len(v['findings']['added'])} -{len(v['findings']['removed'])}",
        f"images +{len(v['images']['added'])} -{len(v['images']['removed'])}",
        f"flows opened {len(v['flows']['opened'])} closed {len(v['flows']['closed'])}",
    ]
    return f"render diff {d.base} -> {d.head} (stack {d.stack}): {len(d.changes)} changes ({', '.join(parts) or 'none'}); " + "; ".join(more)


def _verdict_lines(d: Diff) -> list[str]:
    v = d.verdicts
    lines = [f"  NEW {f['severity'].upper()} [{f['check']}] {f['object']}: {f['message']}" for f in v["findings"]["added"]]
    lines += [f"  GONE {f['severity'].upper()} [{f['check']}] {f['object']}: {f['message']}" for f in v["findings"]["removed"]]
    lines += [f"  IMAGE + {i}" for i in v["images"]["added"]] + [f"  IMAGE - {i}" for i in v["images"]["removed"]]
    lines += [f"  FLOW OPENED {f}" for f in v["flows"]["opened"]] + [f"  FLOW CLOSED {f}" for f in v["flows"]["closed"]]
    lines += [f"  FLOWS NOT COMPARED: {v['flows']['not_compared']}"] if "not_compared" in v["flows"] else []
    lines += [f"  FOOTPRINT {k}: {x['before']} -> {x['after']}" for k, x in v["footprint"].items()]
    return lines


def text(d: Diff) -> str:
    lines = [_summary_line(d)]
    for c in sorted(d.changes, key=lambda c: (_ACTIONS.index(c.action), c.kind, c.namespace, c.name)):
        lines.append(f"  {c.action.upper():<11} {c.ref}" + (f" [{', '.join(c.why)}]" if c.why else "") + (f" — {c.component}" if c.component else ""))
        if c.note:
            lines.append(f"      {c.note}")
        lines += _field_lines(c, "      ")
    return "\n".join(lines + _verdict_lines(d))


def _component(c: Change) -> str:
    if c.component:
        return c.component
    if c.release:
        return f"release {c.release}"
    if c.namespace:
        return f"namespace {c.namespace}"
    return "outside the platform's components"


def _fenced(lines: Sequence[str], budget: int) -> tuple[str, int]:
    """`lines` in a code block, as many as fit in `budget` characters: (block, lines left out)."""
    kept: list[str] = []
    size = len("```\n```\n")
    for line in lines:
        if size + len(line) + 1 > budget:
            break
        kept.append(line)
        size += len(line) + 1
    return "```\n" + "\n".join(kept) + "\n```\n", len(lines) - len(kept)


_FLOW_EDGES = 40


def flows_picture(d: Diff) -> str:
    """A Mermaid flowchart of the flows that open (solid) and close (dashed), at most `_FLOW_EDGES`."""
    ids: dict[str, str] = {}

    def node(name: str) -> str:
        if name not in ids:
            ids[name] = f"n{len(ids)}"
        return ids[name]

    edges = []
    changed = [(f, "opened") for f in d.verdicts["flows"]["opened"]] + [(f, "closed") for f in d.verdicts["flows"]["closed"]]
    for text_, how in changed[:_FLOW_EDGES]:
        ends, _, _ = text_.partition(" (")
        source, _, destination = ends.partition(" -> ")
        target, _, port = destination.rpartition(":")
        arrow = f'-->|"{port} opened"|' if how == "opened" else f'-. "{port} closed" .->'
        edges.append(f"  {node(source)} {arrow} {node(target)}")
    labels = [f'  {i}["{name.replace(chr(34), "#quot;")}"]' for name, i in ids.items()]
    more = [f'  more["... {len(changed) - _FLOW_EDGES} more flow changes (the JSON output has them all)"]'] if len(changed) > _FLOW_EDGES else []
    return "\n".join(["flowchart LR", *labels, *edges, *more])


def markdown(d: Diff, max_chars: int = 60000, full: str = "") -> str:
    """A PR comment: counts first, the verdict changes, what is replaced or refused, then one
    collapsible section per component; never over `max_chars`, the cut stated (and where
    the whole diff is: `full`)."""
    summary = f"**{_summary_line(d)}**\n"
    if d.empty:
        return summary
    note = "\n_The diff is cut here to fit a comment: {left} more lines left out; the whole diff is " + (full or "in the JSON output") + "._\n"
    budget = max_chars - len(note) - 20  # room for the note and its count
    out, left = summary, 0
    verdict = [line.strip() for line in _verdict_lines(d)]
    if verdict:
        block, dropped = _fenced(verdict, budget - len(out) - 30)
        out += "\nVerdicts that change:\n\n" + block
        left += dropped
    if d.verdicts["flows"]["opened"] or d.verdicts["flows"]["closed"]:
        picture = "\nFlows that change:\n\n```mermaid\n" + flows_picture(d) + "\n```\n"
        if len(out) + len(picture) <= budget:
            out += picture
    danger = [c for c in d.changes if c.action in ("refused", "replace", "not-applied")]
    if danger:
        table = "\n| action | object | why | what to know |\n|---|---|---|---|\n"
        rows = [f"| {c.action} | {c.ref} | {', '.join(c.why)} | {c.note} |\n" for c in danger]
        if len(out) + len(table) + len(rows[0]) <= budget:
            out += table
            for i, row in enumerate(rows):
                if len(out) + len(row) > budget:
                    left += len(rows) - i
                    break
                out += row
        else:
            left += len(rows)
    groups: dict[str, list[Change]] = {}
    for c in d.changes:
        groups.setdefault(_component(c), []).append(c)
    for name in sorted(groups):
        items = groups[name]
        counted = ", ".join(f"{sum(c.action == a for c in items)} {a}" for a in _ACTIONS if any(c.action == a for c in items))
        opening, closing = f"\n<details><summary>{name}: {counted}</summary>\n\n", "</details>\n"
        body = [line for c in items for line in (f"{c.action.upper()} {c.ref}", *_field_lines(c, "    "))]
        room = budget - len(out) - len(opening) - len(closing)
        if room < 200:
            left += len(body)
            continue
        block, dropped = _fenced(body, room)
        out += opening + block + closing
        left += dropped
    return out + (note.format(left=left) if left else "")


# --- command line ---------------------------------------------------------------------------------


def render_git_ref(ref: str, stack: str, workdir: Path, out: Path | None = None) -> Path:
    """Render `stack` as git ref `ref` has it, with that ref's own code, in a temporary worktree
    (into `out`, or a directory in `workdir`)."""
    root = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip())
    tree = workdir / "tree"
    added = subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(tree), ref], capture_output=True, text=True)
    if added.returncode != 0:
        raise DiffError(f"--git {ref}: {added.stderr.strip()}")
    try:
        out = out.resolve() if out is not None else workdir / "render"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        if (tree / "render" / "engine" / "charts.py").is_file():
            # The ref's own pinned charts (a chart upgrade's base pins the older ones), as `make render` fetches them.
            subprocess.run([sys.executable, "-m", "render.engine.charts", "--quiet"], cwd=tree, capture_output=True, text=True, env=env)
        rendered = subprocess.run([sys.executable, "-m", "render", stack, "--out", str(out)], cwd=tree, capture_output=True, text=True, env=env)
        if not (out / "report.json").is_file():
            raise DiffError(f"--git {ref}: the render of {stack} at {ref} failed:\n{rendered.stderr[-2000:]}")
        return out
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], capture_output=True, text=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m render diff", description="What a change does to the cluster: two renders compared.")
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="BASE HEAD render directories (or only HEAD with --git)")
    parser.add_argument("--git", metavar="REF", help="render the base from git REF (with REF's own code) in a temporary worktree")
    parser.add_argument("--stack", help="the stack to render at --git REF (default: HEAD's)")
    parser.add_argument("--base-out", type=Path, metavar="DIR", help="with --git: keep the base render in DIR (to diff it again, in another format)")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    parser.add_argument("--output", type=Path, help="write there instead of standard output")
    parser.add_argument("--max-chars", type=int, default=60000, help="markdown: cut to this many characters, stating the cut (default 60000)")
    parser.add_argument("--full", default="", help="markdown: where the whole diff is, named in the cut note (e.g. the workflow artifact)")
    args = parser.parse_args(argv)
    expected = 1 if args.git else 2
    if len(args.dirs) != expected:
        parser.error("give BASE and HEAD render directories, or --git REF and HEAD")
    if args.base_out is not None and not args.git:
        parser.error("--base-out goes with --git")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            head = load(Path(args.dirs[-1]))
            if args.git:
                base_dir = render_git_ref(args.git, args.stack or head.stack, Path(tmp), args.base_out)
                base, base_name = load(base_dir), args.git
            else:
                base, base_name = load(Path(args.dirs[0])), args.dirs[0]
            result = diff(base, head, base_name, args.dirs[-1])
    except DiffError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        output = json.dumps(result.as_json(), indent=2, default=str) + "\n"
    elif args.format == "markdown":
        output = markdown(result, args.max_chars, args.full) + "\n"
    else:
        output = text(result) + "\n"
    if args.output:
        args.output.write_text(output)
    else:
        sys.stdout.write(output)
    return 0
