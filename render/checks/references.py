"""Every name one object uses to find another: where it is, what it must resolve to.

One registry, `REFERRERS`: for each kind the stacks deploy (core and each CRD-backed
API), a function yielding the `Ref`s its fields make — the kind they name (kind-aware:
`Role` or `ClusterRole`, `Issuer` or `ClusterIssuer`, `AnalysisTemplate` or
`ClusterAnalysisTemplate`), the namespace the API looks in, and the parts the field
implies (a Secret's key, a Service's port, a DestinationRule's subset, a
VirtualService's route, a mesh extension provider). Each registered function lists the
fields it reads (`FIELDS`, shown in the report), taken from that API's reference.

`resolve` answers each `Ref` against everything the stack deploys, what controllers
create at run time (`RUNTIME_OBJECTS`, `BUILTIN_CLUSTER_OBJECTS`), Secrets other
objects produce (a Certificate's `secretName`, a kept hook Job's `--secret-name`, a
SecretProviderClass's `secretObjects`) and the documented prerequisites.

Selectors (a Service's, a PodDisruptionBudget's, an Istio policy's) are not names: the
`consistency` section checks them. Cloud identities (IRSA) are `deployability.check_irsa`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..engine.addresses import service_of_host
from ..engine.deployed import ChartRender, Deployed, hook_of
from ..engine.facts import Facts
from ..engine.objects import (
    Ref,
    certificate_secrets,
    flag_value,
    group_of,
    hook_created_secrets,
    key_ref,
    mappings,
    mesh_config,
    mounted_classes,
    pod_references,
    runtime_creator,
    spec_of,
    synced_secrets,
)
from ..engine.workloads import containers, pod_spec

# Mesh extension providers Istio defines without any meshConfig entry.
BUILTIN_MESH_PROVIDERS = frozenset({"prometheus", "envoy", "stackdriver"})

CERTIFICATE_KEYS = frozenset({"tls.crt", "tls.key", "ca.crt"})
"""The keys cert-manager writes into a Certificate's Secret."""


Referrer = Callable[[Deployed, "Context"], Iterator[Ref]]

REFERRERS: dict[tuple[str, str], Referrer] = {}
FIELDS: dict[str, tuple[str, ...]] = {}
"""`group/Kind` -> the fields the registry resolves, for the report."""


def refers(group: str, kinds: Sequence[str], *fields: str) -> Callable[[Referrer], Referrer]:
    """Register a function yielding the `Ref`s of `kinds` in API `group` ("" is core)."""
    def register(function: Referrer) -> Referrer:
        for kind in kinds:
            REFERRERS[(group, kind)] = function
            FIELDS[f"{group or 'core'}/{kind}"] = fields
        return function
    return register


@dataclass(frozen=True)
class Context:
    """Stack-wide facts a referrer needs to know where a name is looked up."""

    cluster_resource_namespace: str = "cert-manager"
    """Where cert-manager looks for a ClusterIssuer's Secrets (`--cluster-resource-namespace`)."""


# --- core / apps ------------------------------------------------------------------------------


@refers("", ("Pod",), "pod template: serviceAccountName, imagePullSecrets, priorityClassName, runtimeClassName",
        "volumes: secret (+items keys), configMap (+items keys), persistentVolumeClaim, projected, csi driver + secretProviderClass, ephemeral storageClassName",
        "containers: envFrom secretRef/configMapRef, env valueFrom secretKeyRef/configMapKeyRef (+key)")
def _workload(d: Deployed, ctx: Context) -> Iterator[Ref]:
    spec = pod_spec(d.obj) or {}
    yield from pod_references(spec, d.namespace)


@refers("apps", ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"), "spec.template (as core Pod)", "StatefulSet spec.serviceName -> Service",
        "StatefulSet spec.volumeClaimTemplates[].spec.storageClassName -> StorageClass")
def _apps_workload(d: Deployed, ctx: Context) -> Iterator[Ref]:
    yield from _workload(d, ctx)
    if d.kind == "StatefulSet":
        spec = spec_of(d)
        if spec.get("serviceName"):
            yield Ref("Service", d.namespace, str(spec["serviceName"]), "spec.serviceName")
        for template in mappings(spec.get("volumeClaimTemplates")):
            storage_class = (template.get("spec") or {}).get("storageClassName")
            if storage_class:
                yield Ref("StorageClass", "", str(storage_class), f"volumeClaimTemplate {(template.get('metadata') or {}).get('name')} storageClassName")


refers("batch", ("Job", "CronJob"), "spec.template / spec.jobTemplate (as core Pod)")(_workload)


@refers("", ("ServiceAccount",), "imagePullSecrets[] -> Secret")
def _service_account(d: Deployed, ctx: Context) -> Iterator[Ref]:
    for secret in mappings(d.obj.get("imagePullSecrets")):
        yield Ref("Secret", d.namespace, str(secret.get("name")), "imagePullSecrets")


@refers("", ("PersistentVolumeClaim",), "spec.storageClassName -> StorageClass")
def _claim(d: Deployed, ctx: Context) -> Iterator[Ref]:
    if spec_of(d).get("storageClassName"):
        yield Ref("StorageClass", "", str(spec_of(d)["storageClassName"]), "spec.storageClassName")


@refers("rbac.authorization.k8s.io", ("RoleBinding", "ClusterRoleBinding"),
        "roleRef -> Role (the binding's namespace) | ClusterRole", "subjects[kind=ServiceAccount] -> ServiceAccount (subject namespace)")
def _binding(d: Deployed, ctx: Context) -> Iterator[Ref]:
    role = d.obj.get("roleRef") or {}
    if role.get("name"):
        kind = str(role.get("kind") or "ClusterRole")
        yield Ref(kind, d.namespace if kind == "Role" else "", str(role["name"]), "roleRef")
    for subject in mappings(d.obj.get("subjects")):
        if subject.get("kind") == "ServiceAccount":
            yield Ref("ServiceAccount", str(subject.get("namespace") or d.namespace), str(subject.get("name")), "subjects")


# --- cert-manager -----------------------------------------------------------------------------


@refers("cert-manager.io", ("Certificate",), "spec.issuerRef -> Issuer (same namespace) | ClusterIssuer",
        "spec.keystores.{jks,pkcs12}.passwordSecretRef -> Secret key")
def _certificate(d: Deployed, ctx: Context) -> Iterator[Ref]:
    spec = spec_of(d)
    issuer = spec.get("issuerRef") or {}
    if issuer.get("name") and str(issuer.get("group") or "cert-manager.io") == "cert-manager.io":
        kind = str(issuer.get("kind") or "Issuer")
        yield Ref(kind, d.namespace if kind == "Issuer" else "", str(issuer["name"]), "spec.issuerRef")
    for store, config in (spec.get("keystores") or {}).items():
        yield from key_ref("Secret", d.namespace, (config or {}).get("passwordSecretRef"), f"spec.keystores.{store}.passwordSecretRef")


@refers("cert-manager.io", ("Issuer", "ClusterIssuer"), "spec.ca.secretName -> Secret (tls.crt, tls.key)",
        "spec.acme.solvers[].dns01.route53.{accessKeyIDSecretRef,secretAccessKeySecretRef} -> Secret key",
        "spec.acme.externalAccountBinding.keySecretRef -> Secret key", "spec.vault.auth.kubernetes.serviceAccountRef -> ServiceAccount",
        "(a ClusterIssuer's Secrets live in cert-manager's cluster resource namespace)")
def _issuer(d: Deployed, ctx: Context) -> Iterator[Ref]:
    spec = spec_of(d)
    namespace = ctx.cluster_resource_namespace if d.kind == "ClusterIssuer" else d.namespace
    ca = spec.get("ca") or {}
    if ca.get("secretName"):
        yield Ref("Secret", namespace, str(ca["secretName"]), "spec.ca.secretName", (("key", "tls.crt"), ("key", "tls.key")))
    acme = spec.get("acme") or {}
    yield from key_ref("Secret", namespace, (acme.get("externalAccountBinding") or {}).get("keySecretRef"), "spec.acme.externalAccountBinding.keySecretRef")
    for i, solver in enumerate(mappings(acme.get("solvers"))):
        route53 = (solver.get("dns01") or {}).get("route53") or {}
        for field in ("accessKeyIDSecretRef", "secretAccessKeySecretRef"):
            yield from key_ref("Secret", namespace, route53.get(field), f"spec.acme.solvers[{i}].dns01.route53.{field}")
    account = (((spec.get("vault") or {}).get("auth") or {}).get("kubernetes") or {}).get("serviceAccountRef") or {}
    if account.get("name"):
        yield Ref("ServiceAccount", namespace, str(account["name"]), "spec.vault.auth.kubernetes.serviceAccountRef")


# --- Argo Rollouts / Argo CD --------------------------------------------------------------------


def _analysis(refs: Any, namespace: str, where: str) -> Iterator[Ref]:
    for template in mappings((refs or {}).get("templates")):
        if template.get("templateName"):
            cluster = bool(template.get("clusterScope"))
            yield Ref("ClusterAnalysisTemplate" if cluster else "AnalysisTemplate", "" if cluster else namespace, str(template["templateName"]), where)


@refers("argoproj.io", ("Rollout",), "spec.template (as core Pod)", "spec.workloadRef -> Deployment | ReplicaSet",
        "canary.{canaryService,stableService}, blueGreen.{activeService,previewService} -> Service",
        "canary.trafficRouting.istio.virtualService(s) -> VirtualService (+routes)",
        "canary.trafficRouting.istio.destinationRule -> DestinationRule (+canarySubsetName, stableSubsetName)",
        "analysis / steps[].analysis / blueGreen pre- and postPromotionAnalysis templates -> AnalysisTemplate | ClusterAnalysisTemplate")
def _rollout(d: Deployed, ctx: Context) -> Iterator[Ref]:
    yield from _workload(d, ctx)
    spec, ns = spec_of(d), d.namespace
    workload = spec.get("workloadRef") or {}
    if workload.get("name"):
        yield Ref(str(workload.get("kind") or "Deployment"), ns, str(workload["name"]), "spec.workloadRef")
    strategy = spec.get("strategy") or {}
    canary, blue_green = strategy.get("canary") or {}, strategy.get("blueGreen") or {}
    for field, value in (("canaryService", canary), ("stableService", canary), ("activeService", blue_green), ("previewService", blue_green)):
        if value.get(field):
            yield Ref("Service", ns, str(value[field]), f"spec.strategy.{field}")
    istio = (canary.get("trafficRouting") or {}).get("istio") or {}
    services = [istio["virtualService"]] if isinstance(istio.get("virtualService"), Mapping) else mappings(istio.get("virtualServices"))
    for vs in services:
        yield Ref("VirtualService", ns, str(vs.get("name")), "trafficRouting.istio.virtualService",
                  tuple(("route", str(r)) for r in vs.get("routes") or []))
    rule = istio.get("destinationRule") or {}
    if rule.get("name"):
        subsets = tuple(("subset", str(rule[f])) for f in ("canarySubsetName", "stableSubsetName") if rule.get(f))
        yield Ref("DestinationRule", ns, str(rule["name"]), "trafficRouting.istio.destinationRule", subsets)
    yield from _analysis(canary.get("analysis"), ns, "spec.strategy.canary.analysis")
    for i, step in enumerate(mappings(canary.get("steps"))):
        yield from _analysis(step.get("analysis"), ns, f"spec.strategy.canary.steps[{i}].analysis")
    for field in ("prePromotionAnalysis", "postPromotionAnalysis"):
        yield from _analysis(blue_green.get(field), ns, f"spec.strategy.blueGreen.{field}")


@refers("argoproj.io", ("Application",), "spec.project -> AppProject (the Application's namespace)")
def _application(d: Deployed, ctx: Context) -> Iterator[Ref]:
    yield Ref("AppProject", d.namespace, str(spec_of(d).get("project") or "default"), "spec.project")


# --- Istio --------------------------------------------------------------------------------------


@refers("networking.istio.io", ("VirtualService",), "spec.gateways[] -> Gateway (`ns/name`, or the VirtualService's namespace; `mesh` aside)",
        "spec.{http,tcp,tls}[].route[].destination.subset -> a DestinationRule subset for that host")
def _virtual_service(d: Deployed, ctx: Context) -> Iterator[Ref]:
    spec = spec_of(d)
    for gateway in spec.get("gateways") or []:
        if gateway != "mesh":
            ns, _, name = str(gateway).rpartition("/")
            yield Ref("Gateway", ns or d.namespace, name, "spec.gateways")
    for protocol in ("http", "tcp", "tls"):
        for route in mappings(spec.get(protocol)):
            for destination in mappings(route.get("route")):
                target = destination.get("destination") or {}
                host = service_of_host(str(target.get("host", "")), d.namespace)
                if target.get("subset") and host:
                    yield Ref("DestinationRule:host", host[0], host[1], f"{protocol} route {route.get('name') or ''} destination".replace("  ", " "),
                              (("subset", str(target["subset"])),))


@refers("telemetry.istio.io", ("Telemetry",), "spec.{tracing,accessLogging,metrics}[].providers[].name -> meshConfig.extensionProviders (or a built-in)")
def _telemetry(d: Deployed, ctx: Context) -> Iterator[Ref]:
    for field in ("tracing", "accessLogging", "metrics"):
        for entry in mappings(spec_of(d).get(field)):
            for provider in mappings(entry.get("providers")):
                yield Ref("MeshExtensionProvider", "", str(provider.get("name")), f"spec.{field}.providers")


# --- KEDA ---------------------------------------------------------------------------------------


@refers("keda.sh", ("ScaledObject", "ScaledJob"), "spec.triggers[].authenticationRef -> TriggerAuthentication (same namespace) | ClusterTriggerAuthentication")
def _scaled(d: Deployed, ctx: Context) -> Iterator[Ref]:
    for trigger in mappings(spec_of(d).get("triggers")):
        ref = trigger.get("authenticationRef") or {}
        if ref.get("name"):
            kind = str(ref.get("kind") or "TriggerAuthentication")
            yield Ref(kind, d.namespace if kind == "TriggerAuthentication" else "", str(ref["name"]), f"trigger {trigger.get('type')} authenticationRef")


@refers("keda.sh", ("TriggerAuthentication", "ClusterTriggerAuthentication"), "spec.secretTargetRef[] -> Secret key (KEDA's namespace for the cluster kind)")
def _trigger_auth(d: Deployed, ctx: Context) -> Iterator[Ref]:
    for ref in mappings(spec_of(d).get("secretTargetRef")):
        yield from key_ref("Secret", d.namespace or "keda", ref, f"spec.secretTargetRef {ref.get('parameter')}")


# --- Secrets Store CSI --------------------------------------------------------------------------


def provider_objects(spc: Deployed) -> set[str] | None:
    """Object names (alias if set) a SecretProviderClass fetches, from `parameters.objects`; None if unreadable."""
    raw = (spec_of(spc).get("parameters") or {}).get("objects")
    try:
        objects = yaml.safe_load(raw) if isinstance(raw, str) else None
    except yaml.YAMLError:
        return None
    if isinstance(objects, Mapping):  # the Azure/GCP form: {array: [yaml, ...]}
        objects = [yaml.safe_load(o) for o in objects.get("array") or []]
    if not isinstance(objects, list):
        return None
    return {str(o.get("objectAlias") or o.get("objectName")) for o in objects if isinstance(o, Mapping)}


@refers("secrets-store.csi.x-k8s.io", ("SecretProviderClass",), "spec.secretObjects[].data[].objectName -> an object of parameters.objects")
def _secret_provider_class(d: Deployed, ctx: Context) -> Iterator[Ref]:
    for secret in mappings(spec_of(d).get("secretObjects")):
        for item in mappings(secret.get("data")):
            yield Ref("SecretProviderObject", d.namespace, d.name, f"secretObjects {secret.get('secretName')} data {item.get('key')}",
                      (("object", str(item.get("objectName"))),))


# --- Prometheus operator ------------------------------------------------------------------------

_OPERATED = ("Prometheus", "Alertmanager", "ThanosRuler", "PrometheusAgent")


@refers("monitoring.coreos.com", _OPERATED, "spec.serviceAccountName -> ServiceAccount", "spec.secrets[] -> Secret", "spec.configMaps[] -> ConfigMap",
        "spec.alerting.alertmanagers[] -> Service (namespace, name, port)", "spec.additionalScrapeConfigs -> Secret key",
        "spec.storage.volumeClaimTemplate.spec.storageClassName -> StorageClass")
def _operated(d: Deployed, ctx: Context) -> Iterator[Ref]:
    spec, ns = spec_of(d), d.namespace
    if spec.get("serviceAccountName"):
        yield Ref("ServiceAccount", ns, str(spec["serviceAccountName"]), "spec.serviceAccountName")
    for kind, field in (("Secret", "secrets"), ("ConfigMap", "configMaps")):
        for name in spec.get(field) or []:
            yield Ref(kind, ns, str(name), f"spec.{field}")
    for am in mappings((spec.get("alerting") or {}).get("alertmanagers")):
        port = am.get("port")
        yield Ref("Service", str(am.get("namespace") or ns), str(am.get("name")), "spec.alerting.alertmanagers", (("port", str(port)),) if port is not None else ())
    yield from key_ref("Secret", ns, spec.get("additionalScrapeConfigs"), "spec.additionalScrapeConfigs")
    claim = ((spec.get("storage") or {}).get("volumeClaimTemplate") or {}).get("spec") or {}
    if claim.get("storageClassName"):
        yield Ref("StorageClass", "", str(claim["storageClassName"]), "spec.storage.volumeClaimTemplate storageClassName")


@refers("monitoring.coreos.com", ("ServiceMonitor", "PodMonitor"),
        "endpoints[] / podMetricsEndpoints[]: tlsConfig.{ca,cert}.{secret,configMap}, tlsConfig.keySecret, bearerTokenSecret, basicAuth.{username,password} -> Secret/ConfigMap key")
def _monitor(d: Deployed, ctx: Context) -> Iterator[Ref]:
    spec = spec_of(d)
    for endpoint in mappings(spec.get("endpoints")) + mappings(spec.get("podMetricsEndpoints")):
        where = f"endpoint {endpoint.get('port') or endpoint.get('targetPort') or ''}".strip()
        tls = endpoint.get("tlsConfig") or {}
        for field in ("ca", "cert"):
            source = tls.get(field) or {}
            yield from key_ref("Secret", d.namespace, source.get("secret"), f"{where} tlsConfig.{field}.secret")
            yield from key_ref("ConfigMap", d.namespace, source.get("configMap"), f"{where} tlsConfig.{field}.configMap")
        yield from key_ref("Secret", d.namespace, tls.get("keySecret"), f"{where} tlsConfig.keySecret")
        yield from key_ref("Secret", d.namespace, endpoint.get("bearerTokenSecret"), f"{where} bearerTokenSecret")
        for field in ("username", "password"):
            yield from key_ref("Secret", d.namespace, (endpoint.get("basicAuth") or {}).get(field), f"{where} basicAuth.{field}")


# --- Istio Gateway TLS --------------------------------------------------------------------------


@refers("networking.istio.io", ("Gateway",), "spec.servers[].tls.credentialName -> Secret (tls.crt, tls.key) in the Gateway's namespace")
def _gateway(d: Deployed, ctx: Context) -> Iterator[Ref]:
    for server in mappings(spec_of(d).get("servers")):
        tls = server.get("tls") or {}
        if tls.get("credentialName"):
            yield Ref("Secret", d.namespace, str(tls["credentialName"]), f"server {(server.get('port') or {}).get('name')} tls.credentialName",
                      (("key", "tls.crt"), ("key", "tls.key")))


# Kinds the stacks deploy whose names the registry does not resolve: either their fields
# name no other object, or another check owns the reference (named here). A test keeps
# every kind either side of this line, so a new kind is a decision, not a gap.
RESOLVED_ELSEWHERE: dict[tuple[str, str], str] = {
    ("", "Service"): "consistency.services (selector) and network (targetPort)",
    ("", "ConfigMap"): "names nothing",
    ("", "Secret"): "names nothing (a service-account token Secret's annotation is the API server's)",
    ("", "Namespace"): "names nothing",
    ("", "LimitRange"): "names nothing",
    ("", "ResourceQuota"): "names nothing (scopeSelector names priority classes by value)",
    ("apiextensions.k8s.io", "CustomResourceDefinition"): "conversion webhook service: deployability.webhooks",
    ("apiregistration.k8s.io", "APIService"): "deployability.webhooks (spec.service)",
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): "deployability.webhooks (clientConfig.service, CA injection)",
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): "deployability.webhooks (clientConfig.service, CA injection)",
    ("autoscaling", "HorizontalPodAutoscaler"): "consistency.targets (scaleTargetRef)",
    ("autoscaling.k8s.io", "VerticalPodAutoscaler"): "consistency.targets (targetRef)",
    ("policy", "PodDisruptionBudget"): "consistency.disruption (selector)",
    ("networking.k8s.io", "NetworkPolicy"): "selectors: the network layer",
    ("rbac.authorization.k8s.io", "ClusterRole"): "names resources by type; aggregation selects by label",
    ("rbac.authorization.k8s.io", "Role"): "names resources by type",
    ("storage.k8s.io", "CSIDriver"): "names nothing",
    ("storage.k8s.io", "StorageClass"): "names its provisioner (a driver, not an object)",
    ("networking.istio.io", "DestinationRule"): "deployability.addresses (host) and consistency.subsets (labels)",
    ("security.istio.io", "AuthorizationPolicy"): "consistency.principals and consistency.workloads (selector)",
    ("security.istio.io", "PeerAuthentication"): "consistency.workloads (selector)",
    ("monitoring.coreos.com", "PrometheusRule"): "consistency.monitors (a Prometheus' ruleSelector loads it)",
    ("argoproj.io", "AnalysisTemplate"): "deployability.addresses (provider address) and configs (its queries)",
    ("argoproj.io", "AppProject"): "names namespaces and repositories: deployability.namespaces",
    ("aquasecurity.github.io", "ClusterComplianceReport"): "names checks by id",
    ("templates.gatekeeper.sh", "ConstraintTemplate"): "names nothing (ordering: its constraints wait for it)",
    ("constraints.gatekeeper.sh", "*"): "ordering (a constraint's kind needs its ConstraintTemplate)",
    ("syncset.gatekeeper.sh", "SyncSet"): "names kinds to replicate, not objects",
    ("config.gatekeeper.sh", "Config"): "names kinds to replicate, not objects",
}


def covered(group: str, kind: str) -> bool:
    """The registry, or the check `RESOLVED_ELSEWHERE` names, resolves the names `group/kind` uses."""
    return (group, kind) in REFERRERS or (group, kind) in RESOLVED_ELSEWHERE or (group, "*") in RESOLVED_ELSEWHERE


def references_of(d: Deployed, ctx: Context) -> Iterator[Ref]:
    """Every `Ref` an object's fields make (none for kinds the registry does not list)."""
    referrer = REFERRERS.get((group_of(d), d.kind))
    if referrer is not None:
        yield from referrer(d, ctx)


# --- resolution ---------------------------------------------------------------------------------


def cluster_resource_namespace(objects: Iterable[Deployed]) -> str:
    """cert-manager's `--cluster-resource-namespace` (`$(POD_NAMESPACE)` expanded; its controller's namespace when unset)."""
    for d in objects:
        for _, c in containers(pod_spec(d.obj) or {}):
            args = [str(a) for a in c.get("args") or []]
            if any(a.startswith("--cluster-resource-namespace") for a in args):
                value = flag_value(args, "--cluster-resource-namespace") or d.namespace
                return d.namespace if value == "$(POD_NAMESPACE)" else value
    return "cert-manager"


def mesh_providers(objects: Iterable[Deployed]) -> set[str] | None:
    """Extension provider names of istiod's mesh config; None without istiod."""
    mesh = mesh_config(objects)
    return None if mesh is None else {str(p.get("name")) for p in mappings(mesh.get("extensionProviders"))}


def _data_keys(d: Deployed) -> set[str]:
    return {str(k) for field in ("data", "stringData", "binaryData") for k in (d.obj.get(field) or {})}


class Resolver:
    """Answers `Ref`s against a stack: what it deploys, what the cluster and controllers make, the prerequisites."""

    def __init__(self, objects: Sequence[Deployed], charts: Sequence[ChartRender], prerequisites: Iterable[tuple[str, str, str]], environment: str):
        self.environment = environment
        self.have = {(d.kind, d.namespace, d.name): d for d in objects}
        self.by_hook = hook_created_secrets(d for d in objects if d.origin == "hook")
        self.issued = certificate_secrets(objects)
        self.synced = synced_secrets(objects)
        self.dropped = {key: f"{d.kind} {d.name} ({hook_of(d.obj)})" for key, d in hook_created_secrets(h for c in charts for h in c.dropped).items()}
        self.prerequisites = set(prerequisites)
        self.providers = mesh_providers(objects)
        self.rules: dict[tuple[str, str], list[Deployed]] = {}
        for d in objects:
            if d.kind == "DestinationRule" and group_of(d) == "networking.istio.io":
                host = service_of_host(str(spec_of(d).get("host", "")), d.namespace)
                if host:
                    self.rules.setdefault(host, []).append(d)

    def problem(self, referrer: Deployed, ref: Ref) -> str | None:
        """What is wrong with `ref` (None when it resolves), phrased to end a message."""
        if ref.kind == "MeshExtensionProvider":
            known = BUILTIN_MESH_PROVIDERS | (self.providers or set())
            if self.providers is not None and ref.name not in known:
                return f"names mesh extension provider {ref.name!r}, which istiod's meshConfig.extensionProviders does not define " \
                       f"(it has {', '.join(sorted(self.providers)) or 'none'}): add it to meshConfig or use a defined one"
            return None
        if ref.kind == "DestinationRule:host":
            subset = dict(ref.parts)["subset"]
            rules = self.rules.get((ref.namespace, ref.name), [])
            if not any(subset in {str(s.get("name")) for s in mappings(spec_of(r).get("subsets"))} for r in rules):
                return f"names subset {subset!r} of {ref.name}.{ref.namespace}, which no DestinationRule for that host defines: " \
                       "define the subset (Envoy answers 503 NR for it)"
            return None
        if ref.kind == "SecretProviderObject":
            spc = self.have.get(("SecretProviderClass", ref.namespace, ref.name))
            wanted = dict(ref.parts)["object"]
            names = provider_objects(spc) if spc else None
            if names is not None and wanted not in names:
                return f"names object {wanted!r}, which parameters.objects does not fetch ({', '.join(sorted(names)) or 'none'}): " \
                       "the driver fails the mount; use an objectName (or objectAlias) it lists"
            return None
        return self._object(referrer, ref)

    def _object(self, referrer: Deployed, ref: Ref) -> str | None:
        key = (ref.kind, ref.namespace, ref.name)
        target = self.have.get(key)
        keys: set[str] | None = None
        if target is not None:
            keys = _data_keys(target) if ref.kind in ("Secret", "ConfigMap") and target.origin != "hook" else None
        elif key in self.prerequisites or runtime_creator(*key, self.environment):
            return None
        elif ref.kind == "Secret" and (ref.namespace, ref.name) in self.by_hook:
            return None
        elif ref.kind == "Secret" and (ref.namespace, ref.name) in self.issued:
            keys = set(CERTIFICATE_KEYS)
        elif ref.kind == "Secret" and (ref.namespace, ref.name) in self.synced:
            spc, synced_keys = self.synced[(ref.namespace, ref.name)]
            if spc not in mounted_classes(pod_spec(referrer.obj) or {}):
                return f"refers to Secret {ref.namespace}/{ref.name}, which the CSI driver syncs only while a pod mounts " \
                       f"SecretProviderClass {spc}: add that CSI volume to the pod"
            keys = set(synced_keys)
        elif ref.kind == "PersistentVolumeClaim" and referrer.kind == "StatefulSet" and ref.name in {
                (t.get("metadata") or {}).get("name") for t in mappings(spec_of(referrer).get("volumeClaimTemplates"))}:
            return None
        else:
            cause = self.dropped.get((ref.namespace, ref.name)) if ref.kind == "Secret" else None
            hint = f"; it is created only by hook {cause}, which helm.v4.Chart drops" if cause else ""
            return f"refers to {ref.target()}, which nothing in the stack creates{hint}"
        return self._parts(ref, target, keys)

    def _parts(self, ref: Ref, target: Deployed | None, keys: set[str] | None) -> str | None:
        for part, value in ref.parts:
            if part == "key" and keys is not None and value not in keys:
                return f"reads key {value!r} of {ref.target()}, which has only {', '.join(sorted(keys)) or 'no keys'}: use one of them or add it"
            if part == "port" and target is not None:
                ports = mappings(spec_of(target).get("ports"))
                if not any(value in (str(p.get("name")), str(p.get("port"))) for p in ports):
                    return f"uses port {value!r} of {ref.target()}, which declares {', '.join(str(p.get('name') or p.get('port')) for p in ports) or 'no ports'}"
            if part == "route" and target is not None:
                routes = {str(r.get("name")) for r in mappings(spec_of(target).get("http"))}
                if value not in routes:
                    return f"names route {value!r} of {ref.target()}, whose http routes are {', '.join(sorted(routes)) or 'unnamed'}: name the route"
            if part == "subset" and target is not None:
                subsets = {str(s.get("name")) for s in mappings(spec_of(target).get("subsets"))}
                if value not in subsets:
                    return f"names subset {value!r} of {ref.target()}, which defines {', '.join(sorted(subsets)) or 'none'}: add the subset"
        return None


def check_references(objects: Sequence[Deployed], charts: Sequence[ChartRender], facts: Facts) -> list[dict[str, str]]:
    """Every `Ref` of every object resolves (see the module docstring), prerequisites counted."""
    resolver = Resolver(objects, charts, {(p.kind, p.namespace, p.name) for p in facts.prerequisites}, facts.environment)
    ctx = Context(cluster_resource_namespace(objects))
    findings = []
    for d in objects:
        for ref in references_of(d, ctx):
            problem = resolver.problem(d, ref)
            if problem:
                findings.append({"check": "references", "object": d.ref, "urn": d.source, "message": f"{ref.where} {problem}"})
    return findings
