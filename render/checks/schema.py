"""Schemas, offline: what the API server's validation of each object, and each chart's values, would reject.

- Core Kubernetes objects are validated with kubernetes-validate's strict schemas at
  `KUBERNETES_VERSION` (unknown fields are errors, as under strict field validation).
- Custom resources are validated against the `openAPIV3Schema` of the served version
  of their CRD among those the stack installs (rendered from the pinned charts),
  converted to JSON Schema with the API server's
  structural-schema rules: unknown fields are errors unless
  `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string` accepts both,
  `nullable` accepts null. (CEL `x-kubernetes-validations` cannot be evaluated here.)
  A custom resource whose CRD the stack does not install is reported as unvalidated, never passed.
- Helm values: every key path the program sets must exist in the pinned chart's
  default values.yaml (or its subchart's), be allowed by its values.schema.json, or lie
  under a declared free-form map (`FREE_FORM`). Where the chart ships a
  values.schema.json, the merged values are validated against it, as `helm install` does.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, cast

import jsonschema
import referencing
import referencing.jsonschema

from components.local_cluster import KUBERNETES_VERSION

from ..engine.charts import ISTIO_DEFAULTS_KEY, ChartSet
from ..engine.validation import Accept, acceptor

# Free-form maps: values whose keys are the user's (labels, annotations) or whose
# structure is a Kubernetes or upstream type the chart passes through verbatim.
# Keys below them are not looked up in the chart's defaults. `*` is one key, `**.`
# any depth; a `chart:` prefix limits an entry to one chart. Keep each entry justified.
FREE_FORM: tuple[str, ...] = (
    "**.annotations",  # user-chosen annotation keys
    "**.podAnnotations",
    "**.labels",  # user-chosen label keys
    "**.podLabels",
    "**.nodeSelector",  # user-chosen node label keys
    "**.resources",  # core/v1 ResourceRequirements (requests/limits), checked by the API server
    "**.securityContext",  # core/v1 SecurityContext / PodSecurityContext
    "**.podSecurityContext",
    "**.containerSecurityContext",
    "**.seccompProfile",  # a core/v1 SeccompProfile
    "metrics-server:updateStrategy",  # an apps/v1 DeploymentStrategy
    "trivy-operator:trivyOperator.scanJobPodTemplatePodSecurityContext",  # a core/v1 PodSecurityContext for scan jobs
    "**.affinity",  # core/v1 Affinity
    "**.extraArgs",  # command-line flags of the chart's binary, passed through
    "istiod:meshConfig",  # Istio MeshConfig, passed verbatim to istiod (which validates it)
    "istiod:profile",  # read by the Istio charts' zzz_profile.yaml, not in values.yaml
    "base:profile",
    "gateway:profile",
    "falco:customRules",  # rule file name -> Falco rules YAML
    "vault:server.extraEnvironmentVars",  # environment variable names of the Vault server
    "jaeger:userconfig",
    # Kiali's configuration: the chart writes its values into Kiali's ConfigMap verbatim;
    # values.yaml lists only some external_services (Kiali documents the rest in its CR reference).
    "kiali-server:external_services",  # Jaeger v2 (OpenTelemetry collector) configuration, passed verbatim
    "kube-prometheus-stack:alertmanager.config",  # Alertmanager configuration, validated by Alertmanager
    # Entries of argocd-cm and argocd-cmd-params-cm, written verbatim into those ConfigMaps
    # (Argo CD documents them; values.yaml lists only some, others as comments).
    "argo-cd:configs.cm",
    "argo-cd:configs.params",
    "kube-prometheus-stack:prometheus.prometheusSpec.storageSpec",  # the operator's StorageSpec (a PVC template)
    # An issuer reference copied verbatim into the webhook's Certificate by
    # templates/prometheus-operator/certmanager.yaml; values.yaml has it only as a comment.
    "kube-prometheus-stack:prometheusOperator.admissionWebhooks.certManager.issuerRef",
    "loki:loki.schemaConfig",  # Loki configuration blocks, rendered into Loki's config file
    "loki:loki.limits_config",
    "loki:loki.compactor",
    "loki:loki.storage.bucketNames",
)


# --- Kubernetes objects ------------------------------------------------------------------


def _schema_dir() -> Any:
    return resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", f"v{KUBERNETES_VERSION}.0-local-strict")


@functools.cache
def _core_registry() -> referencing.Registry[Any]:
    definitions = json.loads(_schema_dir().joinpath("_definitions.json").read_text())
    registry = referencing.Registry().with_resource("_definitions.json", referencing.jsonschema.DRAFT202012.create_resource(definitions))
    # Crawl once: an uncrawled registry is crawled again on every $ref lookup of every validator.
    return cast("referencing.Registry[Any]", registry.crawl())


@functools.cache
def _core_acceptor(kind: str, api_version: str) -> Accept | None:
    """The quick yes (`engine.validation`) of `_core_validator(kind, api_version)`."""
    validator = _core_validator(kind, api_version)
    return acceptor(validator, _Inliner.shared().definition) if validator is not None else None


@functools.cache
def _core_validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    # kubernetes-validate's file naming: rbac.authorization.k8s.io/v1 -> rbac-v1
    group, _, version = api_version.rpartition("/")
    prefix = f"{group.split('.')[0]}-{version}" if group else version
    path = _schema_dir().joinpath(f"{kind.lower()}-{prefix}.json")
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(_Inliner.shared().inline(schema), registry=_core_registry())


_DEFINITION_REF = "/api/_definitions.json#/$defs/"


class _Inliner:
    """Replaces each `$ref` to a Kubernetes definition with the definition itself.

    Resolving a `$ref` through the registry on every use dominates validation time; the
    Kubernetes schemas nest definitions a few dozen deep, so inlining them once makes
    validation several times faster. Definitions that can reach themselves
    (JSONSchemaProps) keep their `$ref`, which the registry still resolves. Descriptions
    are dropped: they never change a verdict.
    """

    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs
        self.done: dict[str, Any] = {}
        self.edges = {name: set(self._refs(schema)) for name, schema in defs.items()}
        self.recursive = {name for name in defs if name in self._reachable(name)}

    @classmethod
    @functools.cache
    def shared(cls) -> _Inliner:
        return cls(json.loads(_schema_dir().joinpath("_definitions.json").read_text())["$defs"])

    def definition(self, ref: str) -> Any:
        """The inlined schema of a recursive definition's `$ref` (what the registry resolves it to), once per name."""
        name = ref.removeprefix(_DEFINITION_REF)
        if name == ref or name not in self.defs:
            return None
        if name not in self.done:
            self.done[name] = self.inline(self.defs[name])
        return self.done[name]

    def _refs(self, node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and "/$defs/" in ref:
                yield ref.rpartition("/")[2]
            for value in node.values():
                yield from self._refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from self._refs(value)

    def _reachable(self, start: str) -> set[str]:
        found: set[str] = set()
        todo = list(self.edges[start])
        while todo:
            name = todo.pop()
            if name not in found and name in self.edges:
                found.add(name)
                todo.extend(self.edges[name])
        return found

    def inline(self, node: Any, *, in_properties: bool = False) -> Any:
        if isinstance(node, list):
            return [self.inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        if in_properties:  # keys are property names here, not keywords
            return {k: self.inline(v) for k, v in node.items()}
        siblings = {
            k: self.inline(v, in_properties=k in ("properties", "patternProperties"))
            for k, v in node.items()
            if k not in ("$ref", "description")
        }
        ref = node.get("$ref")
        if not (isinstance(ref, str) and ref.startswith((_DEFINITION_REF, "#/$defs/"))):
            return siblings
        name = ref.rpartition("/")[2]
        if name in self.recursive or name not in self.defs:
            # Definitions refer to each other as "#/$defs/..."; the registry knows them by file.
            resolved: Any = {"$ref": _DEFINITION_REF + name}
        else:
            if name not in self.done:
                self.done[name] = self.inline(self.defs[name])
            resolved = self.done[name]
        return {"allOf": [resolved], **siblings} if siblings else resolved


def _crd_version(crd: Mapping[str, Any], version: str) -> Mapping[str, Any] | None:
    return next((v for v in crd["spec"]["versions"] if v["name"] == version), None)


def structural_to_json_schema(node: Any, *, root: bool = False) -> Any:
    """An OpenAPI v3 structural schema (CRD) as JSON Schema with the API server's pruning rules."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: structural_to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = structural_to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [structural_to_json_schema(sub) for sub in value]
        elif not key.startswith("x-kubernetes-") and key not in ("nullable", "type"):
            out[key] = value
    types = node.get("type")
    if node.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [*out.get("anyOf", []), {"type": "integer"}, {"type": "string"}]
    elif types is not None:
        out["type"] = [types, "null"] if node.get("nullable") else types
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if root:
        # The API server validates metadata as ObjectMeta whatever the CRD says.
        out.setdefault("properties", {})["metadata"] = {"type": "object"}
        out["properties"].setdefault("apiVersion", {"type": "string"})
        out["properties"].setdefault("kind", {"type": "string"})
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if types == "object" and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    return out


_STACK_VALIDATORS: dict[tuple[int, str], tuple[Any, Accept | None, str]] = {}


def _stack_crd_validator(crd: Mapping[str, Any], version: str) -> tuple[jsonschema.protocols.Validator | None, Accept | None, str]:
    """(validator, its quick yes, why there is none) of a CRD version the stack installs."""
    # Keyed by the CRD document's identity: a render builds each validator once.
    key = (id(crd), version)
    if key not in _STACK_VALIDATORS:
        kind = crd["spec"]["names"]["kind"]
        served = _crd_version(crd, version)
        schema = ((served or {}).get("schema") or {}).get("openAPIV3Schema")
        if served is None or not served.get("served", False):
            versions = [v["name"] for v in crd["spec"]["versions"] if v.get("served")]
            _STACK_VALIDATORS[key] = (None, None, f"{crd['spec']['group']}/{version} is not a served version of {kind} (served: {', '.join(versions)})")
        elif schema is None:
            _STACK_VALIDATORS[key] = (None, None, f"the {kind} CRD has no openAPIV3Schema for {version}")
        else:
            validator = jsonschema.Draft4Validator(structural_to_json_schema(schema, root=True))
            _STACK_VALIDATORS[key] = (validator, acceptor(validator), "")
    return _STACK_VALIDATORS[key]


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


CONSTRAINTS_GROUP = "constraints.gatekeeper.sh"


def constraint_schema(template: Mapping[str, Any]) -> dict[str, Any]:
    """The schema Gatekeeper generates for a template's constraint kind: the common
    constraint fields, with `parameters` from the template's openAPIV3Schema."""
    crd = ((template.get("spec") or {}).get("crd") or {}).get("spec") or {}
    parameters = (crd.get("validation") or {}).get("openAPIV3Schema") or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "enforcementAction": {"type": "string", "enum": ["deny", "dryrun", "warn", "scoped"]},
                    "scopedEnforcementActions": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    "match": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "parameters": parameters,
                },
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }


def object_validator(
    obj: Mapping[str, Any],
    templates: Mapping[str, Mapping[str, Any]] | None = None,
    crds: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> tuple[jsonschema.protocols.Validator | None, Accept | None, str]:
    """(validator, its quick yes or None, why there is no validator) for one Kubernetes object.

    `templates`: Gatekeeper ConstraintTemplates of the same render by constraint kind;
    a constraint validates against the schema Gatekeeper generates from its template.
    `crds`: the CRDs the stack itself installs, by (group, kind) — rendered from the pinned
    charts, so exactly what the API server will validate against.
    """
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    validator = _core_validator(kind, api_version)
    if validator is not None:
        return validator, _core_acceptor(kind, api_version), ""
    group, _, version = api_version.rpartition("/")
    if group == CONSTRAINTS_GROUP:
        template = (templates or {}).get(kind)
        if template is None:
            return None, None, f"no ConstraintTemplate for constraint kind {kind} in this program"
        # A validator per constraint: too few objects to repay compiling a quick yes.
        return jsonschema.Draft4Validator(structural_to_json_schema(constraint_schema(template), root=True)), None, ""
    if not group:
        return None, None, f"no schema for {api_version} {kind}"
    if crds is None or (group, kind) not in crds:
        return None, None, f"no CRD for {group}/{kind} among those the stack installs"
    return _stack_crd_validator(crds[(group, kind)], version)


def validate_object(
    obj: Mapping[str, Any],
    templates: Mapping[str, Mapping[str, Any]] | None = None,
    crds: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> tuple[bool, list[dict[str, str]], str]:
    """(validated, errors, reason-if-unvalidated) for one Kubernetes object (see `object_validator`).

    Most objects are valid: their quick yes (`engine.validation`) answers, and jsonschema
    walks only the others, for its messages.
    """
    validator, accepts, reason = object_validator(obj, templates, crds)
    if validator is None:
        return False, [], reason
    if accepts is not None and accepts(obj):
        return True, [], ""
    errors = [
        {"path": _path(error.absolute_path) or "(root)", "message": error.message}
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    ]
    return True, errors, ""


# --- Helm values -------------------------------------------------------------------------


def _leaves(values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Key paths the values set (a list or empty map is a leaf)."""
    if isinstance(values, dict) and values:
        for key, sub in values.items():
            yield from _leaves(sub, (*prefix, str(key)))
    else:
        yield prefix


def _free_form(chart: str, path: tuple[str, ...]) -> bool:
    dotted = ".".join(path)
    for entry in FREE_FORM:
        scope, _, pattern = entry.rpartition(":")
        if scope and scope != chart:
            continue
        if pattern.startswith("**."):
            if fnmatch.fnmatchcase(path[-1], pattern[3:]):
                return True
        elif fnmatch.fnmatchcase(dotted, pattern):
            return True
    return False


def _schema_allows(schema: Any, path: tuple[str, ...], root: Any) -> bool:
    node = schema
    for key in path:
        node = _resolve(node, root)
        if not isinstance(node, dict):
            return False
        candidates = [node] + [_resolve(s, root) for s in node.get("allOf", []) + node.get("anyOf", []) + node.get("oneOf", [])]
        nxt = None
        for candidate in candidates:
            if isinstance(candidate, dict) and key in candidate.get("properties", {}):
                nxt = candidate["properties"][key]
                break
        if nxt is None:
            extra = next((c.get("additionalProperties") for c in candidates if isinstance(c, dict) and "additionalProperties" in c), None)
            if extra is True or (isinstance(extra, dict) and extra):
                return True
            return False
        node = nxt
    return True


def _resolve(node: Any, root: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        target = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


_DIG = re.compile(r'\bdig((?:\s+"[^"]+")+)\s+(?:"[^"]*"|[^\s"()]+)\s+\.Values(?=[\s)}])')


@functools.cache
def _dug(directory: Path | None) -> frozenset[tuple[str, ...]]:
    """Key paths the chart's own templates read from `.Values` with a default
    (`dig "global" "key" true .Values`): keys that exist though values.yaml does not list them."""
    if directory is None:
        return frozenset()
    found = set()
    for template in (directory / "templates").rglob("*"):
        if template.suffix in (".yaml", ".tpl", ".yml") and template.is_file():
            for match in _DIG.finditer(template.read_text(errors="replace")):
                found.add(tuple(re.findall(r'"([^"]+)"', match.group(1))))
    return frozenset(found)


def _exists(defaults: Any, path: tuple[str, ...]) -> bool:
    node = defaults
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(override)


def prepare(charts: ChartSet, releases: Iterable[tuple[str, str]]) -> None:
    """Load what this layer reads before the objects exist: the Kubernetes schema definitions,
    and each (chart, version) release's default values, schema and subcharts from the pinned
    charts. Only caches fill; whatever fails here fails again, and is reported, in the layer."""
    _Inliner.shared()
    _core_registry()
    for chart, version in releases:
        charts.values(chart, version)
        charts.schema(chart, version)
        charts.subcharts(chart, version)


def check_values(chart: str, version: str, values: Mapping[str, Any], charts: ChartSet) -> list[dict[str, str]]:
    """Problems with `values` for `chart` `version` (key paths that do not exist, schema violations)."""
    if charts.directory(chart, version) is None:
        return [{"path": "", "message": charts.missing(chart, version)}]
    defaults = charts.values(chart, version) or {}
    schema = charts.schema(chart, version)
    # Values key (alias or name) -> defaults of each subchart the chart vendors.
    subcharts = charts.subcharts(chart, version)
    problems = []
    for path in _leaves(dict(values)):
        if not path:
            continue
        prefixes = [path[: i + 1] for i in range(len(path))]
        if any(_free_form(chart, p) for p in prefixes) or _exists(defaults, path):
            continue
        if schema is not None and _schema_allows(schema, path, schema):
            continue
        if path in _dug(charts.directory(chart, version)):
            continue
        if path[0] in subcharts and len(path) > 1:
            rest, (sub_chart, sub_defaults) = path[1:], subcharts[path[0]]
            if _exists(sub_defaults, rest) or any(_free_form(sub_chart, rest[: i + 1]) for i in range(len(rest))):
                continue
        problems.append({"path": ".".join(path), "message": f"no such key in {chart} {version} values.yaml (nor its schema or subcharts)"})
    if schema is not None:
        raw = charts.raw_values(chart, version) or {}
        merged = {**raw, **dict(values)} if ISTIO_DEFAULTS_KEY in raw else _deep_merge(raw, dict(values))
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        for error in validator_class(schema).iter_errors(merged):
            problems.append({"path": _path(error.absolute_path), "message": f"values.schema.json: {error.message}"})
    return problems


def _ref(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    name = f"{metadata['namespace']}/{metadata.get('name')}" if metadata.get("namespace") else str(metadata.get("name"))
    return f"{obj.get('kind')} {name}"


def schema_report(
    objects: Iterable[tuple[str, Mapping[str, Any]]], releases: Iterable[Mapping[str, Any]], charts: ChartSet
) -> dict[str, Any]:
    """The render report's `schema` section for `objects` ((source urn, object) pairs) and Helm `releases`.

    Custom resources validate against the CRDs among `objects` (what the stack installs);
    Helm values against the pinned charts' defaults and schemas.
    """
    objects = list(objects)
    templates = {
        str(((((o.get("spec") or {}).get("crd") or {}).get("spec") or {}).get("names") or {}).get("kind")): o
        for _, o in objects
        if o.get("kind") == "ConstraintTemplate"
    }
    crds = {
        (str(o["spec"].get("group")), str((o["spec"].get("names") or {}).get("kind"))): o
        for _, o in objects
        if o.get("kind") == "CustomResourceDefinition" and isinstance(o.get("spec"), Mapping)
    }
    validated, errors, unvalidated = 0, [], []
    for urn, obj in objects:
        ok, problems, reason = validate_object(obj, templates, crds)
        kind = f"{obj.get('apiVersion')}/{obj.get('kind')}"
        if not ok:
            unvalidated.append({"urn": urn, "kind": kind, "object": _ref(obj), "reason": reason})
            continue
        validated += 1
        errors += [{"urn": urn, "kind": kind, "object": _ref(obj), **problem} for problem in problems]
    values_errors = [
        {"urn": release["urn"], "chart": release["chart"], "version": release["version"], **problem}
        for release in releases
        for problem in check_values(release["chart"], release["version"], release.get("values") or {}, charts)
    ]
    return {"validated": validated, "errors": errors, "unvalidated": unvalidated, "values_errors": values_errors}
