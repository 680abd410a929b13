"""The engine's order: does every object wait for what it needs, read from the recorded dependency graph?

The engine creates resources as soon as their dependencies are done, in parallel.
What an object needs before it can be created:

- `crds`: a custom resource needs its CRD: the resource that installs it (a chart, a
  ConfigGroup, a declared CRD) must be among its dependencies, direct or transitive;
  a Gatekeeper constraint needs its ConstraintTemplate. A CRD that nothing in the stack
  installs is an error of its own.
- `injection`: a pod template in a namespace where Istio injects sidecars needs the
  injector webhook (istiod) to be up, or its pods start without a sidecar.
- `webhooks`: an admission webhook with `failurePolicy: Fail` rejects what it
  intercepts while its backend is not running: every object it intercepts must wait
  for the webhook's release, or the webhook must be installed after the object. The
  report says which holds, per webhook.
- `providers`: every in-cluster resource uses the stack's cluster provider (none may
  fall back to the ambient kubeconfig).

Objects inside a chart wait for whatever the chart waits for (the provider passes the
chart's dependencies to its objects), and a chart's own CRDs are applied before its
custom resources.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..engine.deployed import BUILTIN_API_VERSIONS, CONFIG_GROUP, V3_RELEASE, V4_CHART, Deployed
from ..engine.harness import RecordedResource, Run
from ..engine.selectors import namespace_labels, selects
from ..engine.workloads import pod_metadata, pod_spec

CONSTRAINTS_GROUP = "constraints.gatekeeper.sh"
_IRREGULAR_PLURALS = {"Endpoints": "endpoints", "Ingress": "ingresses", "NetworkPolicy": "networkpolicies", "PodSecurityPolicy": "podsecuritypolicies"}


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


class Graph:
    """The recorded resources' dependency graph, with transitive closure."""

    def __init__(self, run: Run) -> None:
        self.by_urn = run.by_urn()
        self.edges = {r.urn: dependency_edges(r) for r in run.resources}

    @functools.cache  # noqa: B019 - one Graph per render
    def ancestors(self, urn: str) -> frozenset[str]:
        """Every resource `urn` waits for, directly or transitively."""
        found: set[str] = set()
        todo = list(self.edges.get(urn, ()))
        while todo:
            dep = todo.pop()
            if dep not in found:
                found.add(dep)
                todo.extend(self.edges.get(dep, ()))
        return frozenset(found)

    def waits_for(self, urn: str, other: str) -> bool:
        return urn == other or other in self.ancestors(urn)

    def short(self, urn: str) -> str:
        return urn.rsplit("::", 1)[-1]


def _group(d: Deployed) -> str:
    return str(d.obj.get("apiVersion", "")).rpartition("/")[0]


def crd_installers(objects: Iterable[Deployed]) -> dict[tuple[str, str], str]:
    """(group, kind) -> URN of the program resource that installs its CRD; Gatekeeper kinds -> their template."""
    installers: dict[tuple[str, str], str] = {}
    for d in objects:
        spec = d.obj.get("spec") or {}
        if d.kind == "CustomResourceDefinition":
            installers[(str(spec.get("group")), str((spec.get("names") or {}).get("kind")))] = d.source
        elif d.kind == "ConstraintTemplate":
            kind = (((spec.get("crd") or {}).get("spec") or {}).get("names") or {}).get("kind")
            installers[(CONSTRAINTS_GROUP, str(kind))] = d.source
    return installers


BUILTIN_GROUPS = frozenset(version.rpartition("/")[0] for version in BUILTIN_API_VERSIONS)
"""The API groups the API server serves itself. Not every `*.k8s.io` group is one:
`autoscaling.k8s.io` (VPA) and `gateway.networking.k8s.io` come from CRDs like any other."""


def _builtin(group: str) -> bool:
    return group in BUILTIN_GROUPS


def check_crds(graph: Graph, objects: Sequence[Deployed]) -> list[dict[str, str]]:
    installers = crd_installers(objects)
    findings = []
    for d in objects:
        group = _group(d)
        if _builtin(group) or d.origin == "dropped-hook":
            continue
        installer = installers.get((group, d.kind))
        what = "ConstraintTemplate" if group == CONSTRAINTS_GROUP else "CRD"
        if installer is None:
            findings.append({"check": "crds", "object": d.ref, "urn": d.source,
                             "message": f"no resource of the stack installs the {what} for {group}/{d.kind}: enable the component that owns it, or drop the object"})
        elif not graph.waits_for(d.source, installer):
            findings.append({"check": "crds", "object": d.ref, "urn": d.source,
                             "message": f"is created without waiting for {graph.short(installer)}, which installs its {what}: add it to depends_on"})
    return findings


def plural(d: Deployed, objects_crds: Mapping[tuple[str, str], str]) -> str:
    """The API resource name of an object's kind (`Deployment` -> `deployments`)."""
    plural_name = objects_crds.get((_group(d), d.kind))
    if plural_name:
        return plural_name
    kind = d.kind
    if kind in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[kind]
    lower = kind.lower()
    return lower + ("es" if lower.endswith("s") else "s") if not lower.endswith("y") else lower[:-1] + "ies"


def _intercepts(webhook: Mapping[str, Any], d: Deployed, resource: str, ns_labels: Mapping[str, Mapping[str, str]]) -> bool:
    rules = webhook.get("rules") or []
    group = "" if resource == "pods" else _group(d)
    if not any(
        ("*" in (r.get("apiGroups") or []) or group in (r.get("apiGroups") or []))
        and ("*" in (r.get("resources") or []) or resource in (r.get("resources") or []))
        and ({"CREATE", "*"} & set(r.get("operations") or []))
        for r in rules
    ):
        return False
    labels = (d.obj.get("metadata") or {}).get("labels") or {}
    if resource == "pods":
        labels = pod_metadata(d.obj).get("labels") or {}
    if not selects(webhook.get("objectSelector"), labels):
        return False
    namespace = d.name if d.kind == "Namespace" else d.namespace
    if namespace and not selects(webhook.get("namespaceSelector"), ns_labels.get(namespace, {"kubernetes.io/metadata.name": namespace})):
        return False
    return True


def check_webhook_order(graph: Graph, objects: Sequence[Deployed]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Fail-closed webhooks against everything they intercept: (errors, one verdict per webhook)."""
    ns_labels = namespace_labels(objects)
    plurals = {
        (str((d.obj.get("spec") or {}).get("group")), str(((d.obj.get("spec") or {}).get("names") or {}).get("kind"))): str(
            ((d.obj.get("spec") or {}).get("names") or {}).get("plural")
        )
        for d in objects
        if d.kind == "CustomResourceDefinition"
    }
    findings: list[dict[str, str]] = []
    verdicts: list[dict[str, Any]] = []
    for config in objects:
        if config.kind not in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration") or config.origin == "dropped-hook":
            continue
        for webhook in config.obj.get("webhooks") or []:
            if webhook.get("failurePolicy", "Fail") != "Fail":
                continue
            waiting, after, unordered = 0, 0, []
            for d in objects:
                if d.source == config.source or d.origin == "dropped-hook":
                    continue
                resource = "pods" if pod_spec(d.obj) is not None else plural(d, plurals)
                if not _intercepts(webhook, d, resource, ns_labels):
                    continue
                if graph.waits_for(d.source, config.source):
                    waiting += 1
                elif graph.waits_for(config.source, d.source):
                    after += 1
                else:
                    unordered.append(d)
            verdict = {"webhook": webhook.get("name"), "configuration": config.ref, "intercepted": waiting + after + len(unordered),
                       "wait_for_backend": waiting, "created_before_webhook": after, "unordered": len(unordered)}
            verdicts.append(verdict)
            for d in unordered:
                findings.append({"check": "webhooks", "object": d.ref, "urn": d.source, "message":
                                 f"webhook {webhook.get('name')} (failurePolicy Fail, from {graph.short(config.source)}) intercepts it, but neither waits for "
                                 "the other: it is refused whenever it is created before the webhook's backend runs. Make it depend on "
                                 f"{graph.short(config.source)}, or install the webhook after it"})
    return findings, verdicts


def check_injection(graph: Graph, objects: Sequence[Deployed]) -> list[dict[str, str]]:
    """Pods that Istio injects wait for the injector (the release that renders its webhook)."""
    injectors = [d for d in objects if d.kind == "MutatingWebhookConfiguration" and "sidecar-injector" in d.name]
    if not injectors:
        return []
    injector = injectors[0].source
    ns_labels = namespace_labels(objects)
    findings = []
    for d in objects:
        if pod_spec(d.obj) is None or d.origin == "dropped-hook" or d.source == injector:
            continue
        pod_labels = pod_metadata(d.obj).get("labels") or {}
        injected = pod_labels.get("sidecar.istio.io/inject") == "true" or (
            ns_labels.get(d.namespace, {}).get("istio-injection") == "enabled" and pod_labels.get("sidecar.istio.io/inject") != "false"
        )
        if injected and not graph.waits_for(d.source, injector):
            findings.append({"check": "injection", "object": d.ref, "urn": d.source,
                             "message": f"its pods get an Istio sidecar, but it does not wait for {graph.short(injector)} (the injector): depend on the mesh's `ready`"})
    return findings


def check_providers(run: Run) -> list[dict[str, str]]:
    """Every Kubernetes resource names the stack's cluster provider explicitly."""
    providers = [r.urn for r in run.resources if r.type == "pulumi:providers:kubernetes"]
    findings = []
    for r in run.resources:
        if not (r.custom and r.type.startswith("kubernetes:")) or r.type == "pulumi:providers:kubernetes":
            continue
        if r.provider not in providers:
            findings.append({"check": "providers", "object": r.name, "urn": r.urn,
                             "message": "uses the default Kubernetes provider (the ambient kubeconfig), not the stack's cluster: pass the provider through opts"})
    return findings


def ordering_report(run: Run, objects: Sequence[Deployed]) -> dict[str, Any]:
    """The render's `ordering` section."""
    graph = Graph(run)
    errors = check_crds(graph, objects) + check_injection(graph, objects)
    webhook_errors, webhooks = check_webhook_order(graph, objects)
    errors += webhook_errors + check_providers(run)
    installers = {r.urn for r in run.resources if r.type in (V4_CHART, V3_RELEASE, CONFIG_GROUP)}
    return {"checked": len(objects), "errors": errors, "webhooks": webhooks, "installers": len(installers)}
