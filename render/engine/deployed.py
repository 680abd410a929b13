"""Everything a stack deploys: the objects the program declares plus every object inside its Helm releases.

The program declares 100-odd resources; the engine deploys several hundred more from
the charts. `deployed_objects(run, charts)` renders each release from the pinned charts
(`charts.lock`, fetched by `make charts`: `render.engine.charts`) through the real Helm engine, with exactly
the values, release name and namespace the program passes, the stack's Kubernetes
version and the API versions the cluster will serve, the way the engine installs it:

- `helm.v4.Chart`: hooks **dropped** (the provider renders with hooks disabled),
  `crds/` included, the release namespace filled in. Each object becomes a resource
  of its own type that the engine orders and the policy pack sees.
- `helm.v3.Release`: non-test hooks kept (Helm runs them), `crds/` unless `skipCrds`.
  Its objects are invisible to the engine and the policy pack.

A `yaml.v2.ConfigGroup` whose files are pinned chart URLs is expanded from the same
sources, so the CRDs it applies are part of the stack too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.local_cluster import KUBERNETES_VERSION

from . import helm_engine
from .charts import ChartSet
from .harness import RecordedResource, Run, reveal

V4_CHART = "kubernetes:helm.sh/v4:Chart"
V3_RELEASE = "kubernetes:helm.sh/v3:Release"
CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"

HOOK = "helm.sh/hook"
TEST_HOOKS = {"test", "test-success", "test-failure"}

# Built-in kinds without a namespace (Kubernetes 1.35). Custom kinds take their scope
# from their CRD; everything else is namespaced.
CLUSTER_SCOPED = frozenset(
    {
        "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding", "ComponentStatus",
        "CSIDriver", "CSINode", "CustomResourceDefinition", "FlowSchema", "IngressClass",
        "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "MutatingWebhookConfiguration", "Namespace",
        "Node", "PersistentVolume", "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass",
        "StorageClass", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration", "VolumeAttachment", "DeviceClass", "VolumeAttributesClass",
    }
)

# The built-in API group versions a Kubernetes 1.35 API server serves (`kubectl api-versions`).
BUILTIN_API_VERSIONS = (
    "v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1", "apps/v1",
    "authentication.k8s.io/v1", "authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2", "batch/v1",
    "certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "events.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1", "networking.k8s.io/v1", "node.k8s.io/v1", "policy/v1",
    "rbac.authorization.k8s.io/v1", "resource.k8s.io/v1", "scheduling.k8s.io/v1", "storage.k8s.io/v1",
)

# Pinned chart files referenced by URL (yaml.v2 ConfigGroup) -> their place in the pinned chart.
_RAW_CHART_URL = re.compile(
    r"^https://raw\.githubusercontent\.com/prometheus-community/helm-charts/"
    r"(?P<chart>kube-prometheus-stack)-(?P<version>[0-9.]+)/charts/kube-prometheus-stack/(?P<path>.+)$"
)


@dataclass
class Deployed:
    """One Kubernetes object the stack deploys, and where it comes from."""

    obj: dict[str, Any]
    """The object as applied (namespace filled in); secret values revealed — never print it unredacted."""
    source: str
    """URN of the program resource that declares it (the resource itself, its chart or its ConfigGroup)."""
    origin: str
    """`program`, `chart` (a v4 chart's template), `release` (a v3 release's template),
    `crds` (a chart's crds/ folder), `hook` (a hook a v3 release runs) or `config-group`."""
    release: str = ""
    """Release name for chart objects."""
    template: str = ""
    """Template path inside the chart."""

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str((self.obj.get("metadata") or {}).get("namespace") or "")

    @property
    def ref(self) -> str:
        """`Kind ns/name` (or `Kind name`), how messages name the object."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}" + (f" (release {self.release})" if self.release else "")

    @property
    def resource_type(self) -> str:
        """The Pulumi type token the provider registers this object under."""
        group, _, version = str(self.obj.get("apiVersion", "")).rpartition("/")
        return f"kubernetes:{group or 'core'}/{version}:{self.kind}"

    @property
    def visible_to_engine(self) -> bool:
        """Whether the engine (and the policy pack) sees it as a resource: not inside a v3 release."""
        return self.origin in ("program", "chart", "config-group") or (self.origin == "crds" and self.source_kind == V4_CHART)

    source_kind: str = ""
    """Type of the declaring resource (for chart objects: v4 Chart or v3 Release)."""


@dataclass
class ChartRender:
    """One Helm release as the engine installs it."""

    urn: str
    name: str
    chart: str
    version: str
    namespace: str
    install: str
    """`v4` (helm.v4.Chart) or `v3` (helm.v3.Release)."""
    objects: list[Deployed] = field(default_factory=list)
    """What the install applies (templates, crds/ and, for v3, hooks)."""
    hooks_dropped: list[dict[str, str]] = field(default_factory=list)
    hooks_kept: list[dict[str, str]] = field(default_factory=list)
    dropped: list[Deployed] = field(default_factory=list)
    """The hook objects the install drops (what they would have done is a deployability question)."""
    error: str = ""
    """Why the chart did not render (empty when it did)."""


def install_kind(resource: RecordedResource) -> str:
    return "v4" if resource.type == V4_CHART else "v3"


def parse_documents(text: str) -> list[dict[str, Any]]:
    """The non-empty objects of a multi-document YAML text (a `kind: List` is flattened)."""
    out: list[dict[str, Any]] = []
    for doc in helm_engine.parse_documents(text):
        if not isinstance(doc, dict) or not doc:
            continue
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out.extend(item for item in doc["items"] if isinstance(item, dict))
        else:
            out.append(doc)
    return out


def hook_of(obj: Mapping[str, Any]) -> str:
    """The object's `helm.sh/hook` annotation ("" when it is not a hook)."""
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(HOOK) or "")


def _enabled_subcharts(chart_dir: Path, values: Mapping[str, Any]) -> set[str]:
    """Subcharts whose `condition` holds for `values` (Helm drops the others, their crds/ included)."""
    merged = helm_engine.merged_values(chart_dir, values)
    enabled = set()
    for dependency in helm_engine.chart_metadata(chart_dir).get("dependencies") or []:
        condition = dependency.get("condition")
        on = True
        for path in (condition or "").split(","):
            node: Any = merged
            for key in path.strip().split(".") if path.strip() else []:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, bool):
                on = node
                break
        if on:
            enabled.add(dependency["name"])
    return enabled


def _crd_scopes(objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {
        str(((o.get("spec") or {}).get("names") or {}).get("kind")): str((o.get("spec") or {}).get("scope", "Namespaced"))
        for o in objects
        if o.get("kind") == "CustomResourceDefinition"
    }


def served_api_versions(crds: Iterable[Mapping[str, Any]]) -> set[str]:
    """`group/version` and `group/version/Kind` of every served version of `crds`."""
    found = set()
    for crd in crds:
        spec = crd.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            if version.get("served", True):
                found.add(f"{spec.get('group')}/{version['name']}")
                found.add(f"{spec.get('group')}/{version['name']}/{kind}")
    return found


def _render_release(
    resource: RecordedResource, charts: ChartSet, api_versions: Iterable[str]
) -> tuple[ChartRender, list[dict[str, Any]]]:
    """The release's ChartRender; also its raw templates' CRDs (for the API version list)."""
    inputs = reveal(resource.inputs)
    install = install_kind(resource)
    render = ChartRender(
        urn=resource.urn,
        name=str(inputs.get("name") or resource.name),
        chart=str(inputs.get("chart")),
        version=str(inputs.get("version")),
        namespace=str(inputs.get("namespace") or "default"),
        install=install,
    )
    source = charts.directory(render.chart, render.version)
    if source is None:
        render.error = charts.missing(render.chart, render.version)
        return render, []
    values = inputs.get("values") or {}
    try:
        templates = helm_engine.render_templates(
            source,
            values,
            release=render.name,
            namespace=render.namespace,
            kube_version=f"v{KUBERNETES_VERSION}.0",
            api_versions=api_versions,
        )
        crd_files = [] if inputs.get("skipCrds") else _parsed_crds(source, frozenset(_enabled_subcharts(source, values)))
    except helm_engine.HelmRenderError as error:
        render.error = str(error)
        return render, []
    origin = "chart" if install == "v4" else "release"
    if inputs.get("createNamespace"):
        # `helm install --create-namespace` creates the namespace (labelled with its name).
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": render.namespace, "labels": {"name": render.namespace}}}
        render.objects.append(Deployed(namespace, resource.urn, origin, render.name, "(createNamespace)", source_kind=resource.type))
    for path, text in sorted(templates.items()):
        if path.endswith("NOTES.txt"):
            continue
        try:
            documents = parse_documents(text)
        except helm_engine.HelmRenderError as error:
            render.error = f"{path}: {error}"
            return render, []
        for obj in documents:
            hook = hook_of(obj)
            if hook:
                entry = {"template": path, "kind": str(obj.get("kind")), "name": str((obj.get("metadata") or {}).get("name")), "hook": hook}
                if install == "v4" or set(hook.split(",")) <= TEST_HOOKS:
                    render.hooks_dropped.append(entry)
                    render.dropped.append(Deployed(obj, resource.urn, "dropped-hook", render.name, path, source_kind=resource.type))
                    continue
                render.hooks_kept.append(entry)
                render.objects.append(Deployed(obj, resource.urn, "hook", render.name, path, source_kind=resource.type))
                continue
            render.objects.append(Deployed(obj, resource.urn, origin, render.name, path, source_kind=resource.type))
    for path, crd_objects in crd_files:
        for obj in crd_objects:
            render.objects.append(Deployed(obj, resource.urn, "crds", render.name, path, source_kind=resource.type))
    return render, [d.obj for d in render.objects if d.kind == "CustomResourceDefinition"]


def _config_group_objects(resource: RecordedResource, charts: ChartSet) -> tuple[list[Deployed], list[str]]:
    """Objects of a yaml.v2 ConfigGroup (inline `objs`/`yaml`, or `files` from pinned chart URLs)."""
    inputs = reveal(resource.inputs)
    objects: list[Deployed] = []
    problems: list[str] = []
    texts: list[str] = []
    for entry in inputs.get("yaml") or []:
        texts.append(str(entry))
    for obj in inputs.get("objs") or []:
        objects.append(Deployed(dict(obj), resource.urn, "config-group", source_kind=resource.type))
    for url in inputs.get("files") or []:
        match = _RAW_CHART_URL.match(str(url))
        source = charts.directory(match["chart"], match["version"]) if match else None
        path = source / match["path"] if source is not None and match else None
        if path is None or not path.is_file():
            problems.append(f"{url}: not a file of a chart charts.lock pins; the render cannot see what it applies")
            continue
        texts.append(path.read_text())
    for text in texts:
        objects += [Deployed(obj, resource.urn, "config-group", source_kind=resource.type) for obj in parse_static(text)]
    return objects, problems


@functools.lru_cache(maxsize=64)
def parse_static(text: str) -> tuple[dict[str, Any], ...]:
    """`parse_documents` for files that are the same in every render (CRD files): parsed once per process.

    The objects are shared between callers: never mutate them (CRDs are cluster-scoped,
    so nothing fills in a namespace).
    """
    return tuple(parse_documents(text))


@dataclass
class DeployedStack:
    """Every object a stack deploys, per source."""

    objects: list[Deployed]
    charts: list[ChartRender]
    problems: list[dict[str, str]]
    """Sources the render could not expand (a ConfigGroup file outside the pinned charts)."""
    api_versions: list[str]


class EarlyRenders:
    """Helm renders started while the program still runs (`run_program_recording(on_register=...)`).

    A release whose chart never reads `.Capabilities.APIVersions` renders the same whatever
    API list the cluster serves, so it need not wait for the program to finish declaring the
    CRDs that complete that list: it renders on a worker thread the moment the program
    registers it, the engine's calls (which release the GIL) on the other core while the
    program runs on this one. `deployed_objects(run, charts, early)` takes each render whose
    resource is the very one it renders; the others (capability-asking charts) it renders then.
    """

    def __init__(self, charts: ChartSet) -> None:
        self.charts = charts
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="early-render")
        self._started: dict[str, tuple[RecordedResource, Future[tuple[ChartRender, list[dict[str, Any]]] | None]]] = {}

    def registered(self, resource: RecordedResource) -> None:
        """`on_register`: start rendering `resource` if it is a release (returns at once)."""
        if resource.type in (V4_CHART, V3_RELEASE):
            self._started[resource.urn] = (resource, self._pool.submit(self._render, resource))

    def _render(self, resource: RecordedResource) -> tuple[ChartRender, list[dict[str, Any]]] | None:
        if _asks_capabilities(resource, self.charts):
            return None  # its output depends on the API list: rendered when the program is done
        return _render_release(resource, self.charts, ())

    def close(self) -> None:
        """No more registrations (the program is done): the workers end once their renders do."""
        self._pool.shutdown(wait=False)

    def take(self, resource: RecordedResource) -> tuple[ChartRender, list[dict[str, Any]]] | None:
        """The early render of exactly `resource` (None: not rendered early); each is handed out once."""
        started = self._started.pop(resource.urn, None)
        if started is None or started[0] is not resource:
            return None
        return started[1].result()

    @property
    def untaken(self) -> list[str]:
        """URNs of the releases started and not handed out (after `deployed_objects`: those whose
        charts ask for the API list, which it rendered itself)."""
        return sorted(self._started)


def deployed_objects(run: Run, charts: ChartSet, early: EarlyRenders | None = None) -> DeployedStack:
    """The program's Kubernetes objects plus every chart and ConfigGroup object, as the engine applies them.

    `early`: renders started while the program ran (`EarlyRenders`), used where they apply."""
    objects: list[Deployed] = []
    problems: list[dict[str, str]] = []
    releases = [r for r in run.resources if r.type in (V4_CHART, V3_RELEASE)]
    # The engine's calls release the GIL (ctypes), so the big CRD files and the charts
    # are parsed and rendered in parallel.
    pool = ThreadPoolExecutor(max_workers=4)
    folders = [pool.submit(_crds_folder, r, charts) for r in releases]
    groups = {r.urn: pool.submit(_config_group_objects, r, charts) for r in run.resources if r.type == CONFIG_GROUP}
    for r in run.resources:
        if r.kubernetes_object:
            objects.append(Deployed(reveal(r.outputs), r.urn, "program", source_kind=r.type))
        elif r.urn in groups:
            found, missing = groups[r.urn].result()
            objects += found
            problems += [{"urn": r.urn, "message": m} for m in missing]
    # The API versions the cluster serves: built-ins, the CRDs the program applies, and
    # the CRDs the charts install. Charts that never ask `.Capabilities.APIVersions`
    # render first; the CRDs they render (Istio's come from templates) complete the list
    # for those that do. (A CRD that only a capability-asking chart renders from a
    # template is not seen by the other asking charts; no pinned chart does that.)
    known_crds = [d.obj for d in objects if d.kind == "CustomResourceDefinition"]
    for folder in folders:
        known_crds += folder.result()
    api_versions = set(BUILTIN_API_VERSIONS) | served_api_versions(known_crds)
    asks = {r.urn: _asks_capabilities(r, charts) for r in releases}
    renders: dict[str, ChartRender] = {}

    def independent(r: RecordedResource) -> tuple[ChartRender, list[dict[str, Any]]]:
        return (early.take(r) if early is not None else None) or _render_release(r, charts, served)

    with pool:
        served = frozenset(api_versions)
        for render, crds in pool.map(independent, [r for r in releases if not asks[r.urn]]):
            renders[render.urn] = render
            api_versions |= served_api_versions(crds)
        served = frozenset(api_versions)
        for render, _ in pool.map(lambda r: _render_release(r, charts, served), [r for r in releases if asks[r.urn]]):
            renders[render.urn] = render
    ordered = [renders[r.urn] for r in releases]
    for render in ordered:
        objects += render.objects
    _fill_namespaces(objects, ordered)
    return DeployedStack(objects, ordered, problems, sorted(api_versions))


def _crds_folder(resource: RecordedResource, charts: ChartSet) -> list[dict[str, Any]]:
    """The CRDs in a release's chart `crds/` folders (those of disabled subcharts too: only for the API list)."""
    inputs = resource.inputs
    source = charts.directory(str(inputs.get("chart")), str(inputs.get("version")))
    if source is None:
        return []
    try:
        return [obj for _, objs in _parsed_crds(source, None) for obj in objs if obj.get("kind") == "CustomResourceDefinition"]
    except helm_engine.HelmRenderError:
        return []


@functools.cache
def _crd_file_objects(source: Path) -> tuple[tuple[str, str, tuple[dict[str, Any], ...]], ...]:
    # Parsed once per process: the same chart's crds/ are read for the API list and the install.
    return tuple((name, sub, parse_static(text)) for name, sub, text in helm_engine.chart_crd_files(source))


def _parsed_crds(source: Path, enabled_subcharts: frozenset[str] | None) -> list[tuple[str, tuple[dict[str, Any], ...]]]:
    """(file, objects) of the chart's crds/ folders; a subchart's only when it is enabled (None: all)."""
    return [(name, objs) for name, sub, objs in _crd_file_objects(source) if not sub or enabled_subcharts is None or sub in enabled_subcharts]


def warm_up(charts: ChartSet) -> Future[None]:
    """Load every pinned chart and parse its crds/ folders in the background.

    The engine's calls release the GIL, so this overlaps with running the program under
    mocks; `deployed_objects` then finds them in its caches. Nothing depends on it
    finishing: the caches fill on demand either way.
    """

    def load() -> None:
        for source in charts.sources.values():
            try:
                _crd_file_objects(source.directory)
                helm_engine.uses_api_versions(source.directory)
            except helm_engine.HelmRenderError:
                continue  # reported where the release renders

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(load)
    pool.shutdown(wait=False)
    return future


def _asks_capabilities(resource: RecordedResource, charts: ChartSet) -> bool:
    source = charts.directory(str(resource.inputs.get("chart")), str(resource.inputs.get("version")))
    return source is not None and helm_engine.uses_api_versions(source)


def _directory(charts: ChartSet, chart: str, version: str) -> Path | None:
    return charts.directory(chart, version)


def _fill_namespaces(objects: Sequence[Deployed], renders: Sequence[ChartRender]) -> None:
    """Set the release namespace on namespaced chart objects that have none, as the install does."""
    scopes = _crd_scopes(d.obj for d in objects)
    release_ns = {r.urn: r.namespace for r in renders}
    for d in objects:
        if d.origin == "program" or d.source not in release_ns:
            continue
        if d.kind in CLUSTER_SCOPED or scopes.get(d.kind) == "Cluster":
            continue
        metadata = d.obj.setdefault("metadata", {}) or {}
        d.obj["metadata"] = metadata
        if not metadata.get("namespace"):
            metadata["namespace"] = release_ns[d.source]

