"""The registry: layers, checks, findings, and judging them (see the package docstring)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.deployed import Deployed
    from ..engine.facts import StackContext
    from ..engine.harness import Run

IGNORE_ANNOTATION = "gitops-platform.io/ignore-check."
"""`<this><check name>: <reason>` on an object sets that check's findings on it aside, with the reason."""


@dataclass(frozen=True)
class Finding:
    """One problem a check found: on what, what is wrong, and what to do."""

    check: str
    object: str
    message: str
    remediation: str
    severity: str = "error"
    """`error` fails the render; `warning` is reported only."""
    urn: str = ""
    entry: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The layer section's own record of it (set aside with the finding)."""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "severity": self.severity, "object": self.object, "urn": self.urn, "message": self.message, "remediation": self.remediation}


class Context:
    """What every check reads: the stack's objects (as declared and as admitted), its facts, its run."""

    def __init__(self, objects: Sequence[Deployed], stack: StackContext | None, run: Run | None = None,
                 pack_config: Mapping[str, Any] | None = None, computed: Mapping[str, Any] | None = None) -> None:
        self.objects = list(objects)
        self.stack = stack
        self.run = run
        self.pack_config = dict(pack_config or {})
        self._layers: dict[str, Any] = dict(computed or {})
        self._aside: dict[str, Callable[[], dict[str, Any]]] = {}

    @functools.cached_property
    def admitted(self) -> list[Deployed]:
        """The objects as admission leaves them: Istio's sidecar and labels on the pods it injects."""
        from ..engine.injection import as_admitted

        return as_admitted(self.objects)

    def layer(self, name: str) -> Any:
        """The report section of layer `name`, computed once."""
        if name not in self._layers:
            join = self._aside.pop(name, None)
            self._layers[name] = join()[name] if join is not None else LAYERS[name].compute(self)
        return self._layers[name]

    def compute_aside(self, names: Sequence[str]) -> None:
        """Compute layers `names` in a forked child process (`engine.processes.forked`) while this
        one goes on; `layer(name)` collects them. Only layers that read nothing but the objects
        and facts (no Helm call): the child must not enter the Helm library."""
        from ..engine.processes import forked

        todo = [n for n in names if n not in self._layers and n not in self._aside]
        if todo:
            join = forked(lambda: {n: LAYERS[n].compute(self) for n in todo})
            self._aside.update(dict.fromkeys(todo, join))

    def has(self, name: str) -> bool:
        """Whether layer `name` has (or can compute) its section: not without the charts, nor run-level ones without a run."""
        return name in self._layers or (self.stack is not None and LAYERS[name].available(self))


Record = tuple[str, Mapping[str, Any], str, str, str]


@dataclass(frozen=True)
class Layer:
    """One section of `report.json`, and how its records become findings."""

    name: str
    compute: Callable[[Context], Any]
    records: Callable[[Any], Iterator[Record]]
    """Every problem the section records, as (check name, record, severity, object, message)."""
    needs_run: bool = False

    def available(self, ctx: Context) -> bool:
        return ctx.run is not None or not self.needs_run


@dataclass(frozen=True)
class Check:
    """One check: its name (`layer.check`), what it reads and looks for, and what to do about a finding."""

    name: str
    description: str
    remediation: str
    kinds: tuple[str, ...] = ()
    """The kinds it reads (empty: any)."""
    run: Callable[[Context], list[Finding]] | None = None
    """Its own findings; None for a built-in check, whose findings its layer records."""

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    def findings(self, ctx: Context) -> list[Finding]:
        if self.run is not None:
            return self.run(ctx)
        if not ctx.has(self.layer):
            return []
        return [
            Finding(self.name, what, message, self.remediation, severity, str(record.get("urn") or ""), record)
            for name, record, severity, what, message in LAYERS[self.layer].records(ctx.layer(self.layer))
            if name == self.name
        ]


# --- the layers ----------------------------------------------------------------------------


def _errors(layer: str) -> Callable[[Any], Iterator[Record]]:
    """Records of a section whose `errors` each name their check."""
    def records(section: Any) -> Iterator[Record]:
        for e in (section or {}).get("errors") or []:
            yield f"{layer}.{e.get('check')}", e, "error", str(e.get("object") or ""), str(e.get("message") or "")
    return records


def _policy_records(section: Any) -> Iterator[Record]:
    for v in (section or {}).get("violations") or []:
        severity = {"mandatory": "error", "advisory": "warning"}.get(str(v.get("enforcement")))
        if severity:
            yield f"policies.{v['policy']}", v, severity, str(v.get("urn") or ""), str(v.get("message") or "")


def _schema_records(section: Any) -> Iterator[Record]:
    for e in (section or {}).get("errors") or []:
        yield "schema.objects", e, "error", str(e.get("object") or ""), f"{e.get('path')}: {e.get('message')}"
    for e in (section or {}).get("values_errors") or []:
        yield "schema.values", e, "error", f"values of {e.get('chart')} {e.get('version')}", f"{e.get('path')}: {e.get('message')}"


def _admission_records(section: Any) -> Iterator[Record]:
    section = section or {}
    for e in (section.get("gatekeeper") or {}).get("denied") or []:
        yield "admission.gatekeeper", e, "error", str(e.get("object") or e.get("constraint") or ""), f"{e.get('constraint')}: {e.get('message')}"
    for e in (section.get("gatekeeper") or {}).get("warnings") or []:
        yield "admission.gatekeeper", e, "warning", str(e.get("object") or ""), f"{e.get('constraint')} ({e.get('action')}): {e.get('message')}"
    for e in (section.get("pod_security") or {}).get("denied") or []:
        yield "admission.pod-security", e, "error", str(e.get("object") or ""), str(e.get("message") or "")
    for e in (section.get("pod_security") or {}).get("label_errors") or []:
        yield "admission.pod-security-labels", e, "error", f"Namespace {e.get('namespace')}", str(e.get("message") or "")
    for e in (section.get("quota") or {}).get("errors") or []:
        yield "admission.quota", e, "error", str(e.get("object") or ""), str(e.get("message") or "")


def _images_records(section: Any) -> Iterator[Record]:
    for e in (section or {}).get("errors") or []:
        yield f"images.{e.get('check', 'tag')}", e, "error", f"{e.get('image')} (used by {', '.join(e.get('used_by') or [])})", str(e.get("message") or "")


def _compute(name: str) -> Callable[[Context], Any]:
    """The built-in computation of layer `name` (imported late: the layers import the engine, not this module)."""
    def compute(ctx: Context) -> Any:
        from ..layers import layer_section

        return layer_section(name, ctx)
    return compute


LAYERS: dict[str, Layer] = {
    "policies": Layer("policies", _compute("policies"), _policy_records, needs_run=True),
    "schema": Layer("schema", _compute("schema"), _schema_records),
    "admission": Layer("admission", _compute("admission"), _admission_records),
    "deployability": Layer("deployability", _compute("deployability"), _errors("deployability")),
    "ordering": Layer("ordering", _compute("ordering"), _errors("ordering"), needs_run=True),
    "invariants": Layer("invariants", _compute("invariants"), _errors("invariants")),
    "images": Layer("images", _compute("images"), _images_records),
    "footprint": Layer("footprint", _compute("footprint"), lambda section: iter(())),
    "consistency": Layer("consistency", _compute("consistency"), _errors("consistency")),
    "network": Layer("network", _compute("network"), _errors("network")),
    "paths": Layer("paths", _compute("paths"), _errors("paths")),
    "scheduling": Layer("scheduling", _compute("scheduling"), _errors("scheduling")),
    "configs": Layer("configs", _compute("configs"), _errors("configs")),
}
"""Every section of the report a render computes, in report order."""


# --- the checks ------------------------------------------------------------------------------

_NETWORK_FIX = "add a NetworkPolicy rule that allows it (both the caller's egress and the destination's ingress), or remove the caller's dependency"

_BUILT_IN: tuple[tuple[str, str, str], ...] = (
    ("schema.objects", "every object validates against its kind's schema (Kubernetes' OpenAPI, the stack's CRDs, Gatekeeper templates)", "fix the field the message names"),
    ("schema.values", "every Helm value the program sets exists in the pinned chart (values.yaml, its schema, its subcharts)", "use a key the chart has, or drop it"),
    ("admission.gatekeeper", "the stack's Gatekeeper constraints, with their Rego, admit every object they match", "change the object, or the constraint's parameters or match"),
    ("admission.pod-security", "every pod passes its namespace's Pod Security level", "meet the level (non-root, no capabilities, seccomp RuntimeDefault, ...) or justify a lower one"),
    ("admission.pod-security-labels", "every namespace the stack creates states its Pod Security level, and why below restricted", "label the namespace with the level and the reason annotation"),
    ("admission.quota", "each ResourceQuota holds its namespace's pods at the replicas asked, with surge and sidecars", "raise the quota or shrink the workloads"),
    ("deployability.references", "every name one object uses to find another resolves, kind-aware, with the key, port, route or subset it needs", "create the object, or name one the stack creates"),
    ("deployability.addresses", "every in-cluster address wired into values, env or config names a Service and port that exist", "fix the host or port, or create the Service"),
    ("deployability.webhooks", "webhooks and APIServices call Services that exist, with a CA that will be there", "point them at the right Service, or keep the hooks that fill the CA"),
    ("deployability.namespaces", "every object's namespace (and every namespace a hook labels) exists", "create the namespace first, or fix the name"),
    ("deployability.dropped-hooks", "a helm.v4.Chart does not depend on the hooks it drops", "choose values that need no hooks, or install as a helm.v3.Release"),
    ("deployability.irsa", "each IAM role assumed through a ServiceAccount trusts it, and it carries the role", "make the role's trust and the ServiceAccount's annotation name each other"),
    ("deployability.render", "every chart renders and every ConfigGroup file is readable", "fix the values the chart needs"),
    ("ordering.crds", "every custom resource waits for what installs its CRD (or ConstraintTemplate)", "depend on the chart or resource that installs it"),
    ("ordering.webhooks", "objects a fail-closed webhook intercepts wait for it", "depend on the webhook's release, or install it after them"),
    ("ordering.injection", "injected workloads wait for istiod", "depend on the mesh's ready resources"),
    ("ordering.providers", "every Kubernetes resource names the cluster's provider", "pass the cluster's provider"),
    ("invariants.names", "object names follow their kind's rule", "rename the object"),
    ("invariants.labels", "label keys and values are valid", "fix the label"),
    ("invariants.ports", "port names are IANA service names", "use at most 15 lowercase letters, digits and '-'"),
    ("invariants.duplicates", "no two objects share kind, namespace and name", "rename or drop one"),
    ("invariants.pods", "pod templates pass the API server's own rules", "fix the field the message names"),
    ("invariants.workloads", "controllers select their own template, can roll out, and restart as allowed", "fix the selector, strategy or restart policy"),
    ("invariants.services", "Services pass the API server's port and type rules", "fix the port, name, NodePort or type"),
    ("invariants.disruption", "PodDisruptionBudgets set one valid bound", "keep one of minAvailable and maxUnavailable, as a count or a percentage"),
    ("invariants.autoscaling", "HPA bounds are valid", "keep 1 <= minReplicas <= maxReplicas"),
    ("images.tag", "every image has a fixed tag or digest", "pin a version tag or a digest"),
    ("images.lock", "every third-party image is in images.lock", "fix the tag, or run `make images-lock` after a deliberate upgrade"),
    ("consistency.services", "Service selectors select pods", "match the labels of the workload it fronts"),
    ("consistency.workloads", "Istio Gateways' and policies' selectors select pods", "match the labels of the workload it is for"),
    ("consistency.subsets", "DestinationRule subsets select pods behind their host", "label the pods with the subset's labels"),
    ("consistency.principals", "AuthorizationPolicy principals name ServiceAccounts that pods run as", "name the caller's ServiceAccount"),
    ("consistency.targets", "autoscaler targets exist", "target a workload the stack creates"),
    ("consistency.probes", "named probe ports are declared", "name a declared port"),
    ("consistency.monitors", "monitors select targets on declared ports and a Prometheus loads them (and every PrometheusRule)", "match the labels and port names, and the Prometheus' selectors"),
    ("consistency.disruption", "disruption budgets allow an eviction at the replicas asked", "lower the budget or run more replicas"),
    *((f"network.{flow}", f"the {what} flows the platform depends on pass the NetworkPolicies", _NETWORK_FIX) for flow, what in (
        ("dns", "name resolution (UDP and TCP)"), ("scrape", "Prometheus scrape"), ("api-server", "API server to webhook"),
        ("api-client", "pod to API server"), ("istiod", "Envoy to istiod"), ("tracing", "Envoy to the tracing collector"),
        ("gateway", "ingress gateway to route destination"), ("url", "configured in-cluster address"), ("external", "internet"),
    )),
    ("network.egress", "an injected pod's external calls are declared under REGISTRY_ONLY", "declare the host in the service's egress, or add a ServiceEntry"),
    ("paths.entry", "every documented URL and port-forward reaches the container that answers", "fix the hop the message names"),
    ("paths.client", "every configured in-cluster address reaches a container that answers, through the mesh", "fix the hop the message names"),
    ("paths.service-ports", "every named target port resolves in the pods a Service selects", "name a declared container port"),
    ("paths.probes", "numeric probes target a port the container answers on", "probe a port it serves, or declare it"),
    ("scheduling.placement", "pods fit the stack's nodes by selector, affinity and taints", "match the nodes' labels and taints"),
    ("scheduling.capacity", "one pod's requests fit a node", "lower the requests or use larger nodes"),
    ("scheduling.spread", "spread and anti-affinity can be met at the replicas asked", "relax the constraint or add nodes/zones"),
    ("scheduling.storage", "volume claims name StorageClasses that exist, at sizes they allow", "use the stack's StorageClass"),
    ("configs.promql", "every PromQL expression parses", "fix the query"),
    ("configs.rules", "every PrometheusRule is a rule file Prometheus loads", "fix the group or rule the message names"),
    ("configs.alertmanager", "the Alertmanager configuration passes amtool's checks", "fix the route, receiver or matcher"),
    ("configs.falco", "Falco's custom rules are well-formed", "fix the rule, macro or list"),
    ("configs.alloy", "Alloy's configuration is well-formed", "fix the component or reference"),
)


def _policy_checks() -> list[Check]:
    from policies import ALL_POLICIES

    return [Check(f"policies.{p.name}", str(p.description), f"see the pack's policy {p.name} (README: Policies), or configure it in the pack config")
            for p in ALL_POLICIES]


CHECKS: list[Check] = [
    *(Check(name, description, remediation) for name, description, remediation in _BUILT_IN),
    *_policy_checks(),
    # `judge` itself reports a bad ignore annotation.
    Check("render.ignore", "every ignore annotation names a check and gives its reason", "name a check and say why it does not apply", run=lambda ctx: []),
]
"""Every check the render runs, in report order. Add one (with `run`) to have it run, reported and ignorable."""


# --- judging --------------------------------------------------------------------------------


class UnknownCheck(ValueError):
    """A `--disable` or ignore annotation names no check."""


@dataclass
class Judgement:
    findings: list[Finding]
    ignored: list[dict[str, str]]
    """Findings an object's ignore annotation sets aside, with its reason."""
    disabled: list[dict[str, str]]
    """Findings of the checks `--disable` turns off."""
    set_aside: list[dict[str, Any]] = field(default_factory=list)
    """The layer records of both (`entry`), to take out of their sections."""

    @property
    def failed(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


def _ignores(objects: Iterable[Deployed]) -> dict[str, dict[str, str]]:
    """Object ref -> {check name: reason} from the objects' ignore annotations."""
    found: dict[str, dict[str, str]] = {}
    for d in objects:
        for key, value in ((d.obj.get("metadata") or {}).get("annotations") or {}).items():
            if str(key).startswith(IGNORE_ANNOTATION):
                found.setdefault(d.ref, {})[str(key)[len(IGNORE_ANNOTATION):]] = str(value or "").strip()
    return found


def judge(ctx: Context, checks: Sequence[Check] = (), disable: Iterable[str] = ()) -> Judgement:
    """Run `checks` (default: `CHECKS`) over `ctx`; set aside the disabled ones and ignored findings."""
    checks = list(checks or CHECKS)
    known = {c.name for c in checks}
    disable = set(disable)
    if disable - known:
        raise UnknownCheck(f"--disable names no check: {', '.join(sorted(disable - known))} (see --list-checks)")
    ignores = _ignores(ctx.objects)
    findings: list[Finding] = []
    for ref, wanted in sorted(ignores.items()):
        for name, reason in sorted(wanted.items()):
            problem = f"names no check {name!r} (see --list-checks)" if name not in known else "" if reason else "gives no reason"
            if problem:
                findings.append(Finding("render.ignore", ref, f"annotation {IGNORE_ANNOTATION}{name} {problem}",
                                        "name a check and say why it does not apply to this object"))
    ignored: list[dict[str, str]] = []
    disabled: list[dict[str, str]] = []
    aside: list[dict[str, Any]] = []
    for check in checks:
        for finding in check.findings(ctx):
            reason = ignores.get(finding.object, {}).get(check.name, "")
            if check.name in disable:
                disabled.append(finding.as_dict())
            elif reason:
                ignored.append({**finding.as_dict(), "reason": reason})
            else:
                findings.append(finding)
                continue
            aside.append({"entry": finding.entry})
    return Judgement(findings, ignored, disabled, aside)


def sarif(judgement: Judgement, checks: Sequence[Check], location: str) -> dict[str, Any]:
    """SARIF 2.1.0 of a judgement: one rule per check, one result per finding, located at `location` (the stack file)."""
    rules = [{"id": c.name, "shortDescription": {"text": c.description}, "help": {"text": c.remediation}} for c in checks]
    results = [
        {
            "ruleId": f.check,
            "level": "error" if f.severity == "error" else "warning",
            "message": {"text": f"{f.object}: {f.message}" if f.object else f.message},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": location}, "region": {"startLine": 1}},
                "logicalLocations": [{"fullyQualifiedName": f.object or f.urn}],
            }],
            "properties": {"remediation": f.remediation, "urn": f.urn},
        }
        for f in judgement.findings
    ]
    driver = {"name": "gitops-platform render", "rules": rules}
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}
