"""Deployability: would what the stack deploys actually work once `pulumi up` has applied it?

Each check is a pure function from the stack's deployed objects (program + charts, see
`deployed.py`) and its facts (namespaces that exist, prerequisites the user provides)
to findings: the object, the rule, what to change. `deployability_report` runs them all.

- `references`: a name one object uses to find another (every field `checks.references.FIELDS`
  lists, per API) resolves to an object of that kind, in that namespace, with the key,
  port, route or subset the field needs.
- `addresses`: an in-cluster address wired into values, env or config files
  (`svc.ns[.svc[.cluster.local]][:port]`), or an Istio route's or DestinationRule's
  in-cluster host, has no Service with that port.
- `webhooks`: an admission webhook or APIService points at a Service that does not
  exist, or its CA would come from a hook the install mode drops, or cert-manager is to
  inject it from a Certificate or Secret that nothing creates.
- `namespaces`: an object, or a hook Job's `kubectl label|annotate ns ...`, names a
  namespace that does not exist in this environment.
- `dropped-hooks`: a `helm.v4.Chart` drops install/upgrade hook Jobs the chart needs.
- `render`: a chart did not render, or a ConfigGroup file is not readable offline.

Objects that controllers create at run time are listed in `references.RUNTIME_OBJECTS`,
each with who creates it; Secrets a kept hook Job creates (`--secret-name`) and Secrets a
cert-manager `Certificate` issues (`spec.secretName`) count as created, and so does a
Secret a `SecretProviderClass` syncs (`secretObjects`) — for a pod that mounts a CSI
volume of that class, the only time the driver creates it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..engine.addresses import addresses_in, namespaces_of, strings_in, wired_texts
from ..engine.deployed import ChartRender, Deployed, hook_of
from ..engine.facts import Facts
from ..engine.objects import RUNTIME_OBJECTS, certificate_secrets, labelled_namespaces, runtime_creator


def _finding(check: str, obj: Deployed | None, message: str, urn: str = "") -> dict[str, str]:
    """One error: the check, the object (`Kind ns/name`), the URN of what declares it, and what is wrong."""
    if obj is not None:
        return {"check": check, "object": obj.ref, "urn": obj.source, "message": message}
    return {"check": check, "object": f"values of {urn.rsplit('::', 1)[-1]}" if urn else "", "urn": urn, "message": message}


def _index(objects: Iterable[Deployed]) -> dict[tuple[str, str, str], Deployed]:
    return {(d.kind, d.namespace, d.name): d for d in objects}


# --- in-cluster addresses -----------------------------------------------------------------


def _istio_destinations(d: Deployed) -> Iterator[tuple[str, str, str, int | None]]:
    """(where, service, namespace, port) of the in-cluster hosts an Istio route or DestinationRule sends to."""
    if not str(d.obj.get("apiVersion", "")).startswith("networking.istio.io/"):
        return
    spec = d.obj.get("spec") or {}
    found: list[tuple[str, str, int | None]] = []
    if d.kind == "VirtualService":
        for protocol in ("http", "tcp", "tls"):
            for i, route in enumerate(spec.get(protocol) or []):
                for target in route.get("route") or []:
                    destination = target.get("destination") or {}
                    found.append((f"{protocol}[{i}] destination", str(destination.get("host", "")), (destination.get("port") or {}).get("number")))
                mirror = route.get("mirror")
                if mirror:
                    found.append((f"{protocol}[{i}] mirror", str(mirror.get("host", "")), (mirror.get("port") or {}).get("number")))
    elif d.kind == "DestinationRule":
        found.append(("host", str(spec.get("host", "")), None))
    for where, host, port in found:
        parts = host.split(".")
        if len(parts) == 1 and host and host != "*":
            yield where, host, d.namespace, port  # a short name: a Service of the rule's own namespace
        elif host.endswith((".svc.cluster.local", ".svc")) and len(parts) >= 3:
            yield where, parts[0], parts[1], port


def check_addresses(objects: Sequence[Deployed], facts: Facts) -> list[dict[str, str]]:
    """Every in-cluster address the platform wires in resolves to a Service port."""
    namespaces = namespaces_of(objects, facts.environment)
    services: dict[tuple[str, str], set[int]] = {}
    for d in objects:
        if d.kind == "Service":
            ports = services.setdefault((d.namespace, d.name), set())
            ports.update(int(p["port"]) for p in (d.obj.get("spec") or {}).get("ports") or [] if "port" in p)
    findings: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()

    def resolve(d: Deployed | None, where: str, text: str, urn: str = "") -> None:
        for svc, ns, port, matched in addresses_in(text, namespaces):
            key = (urn or (d.source if d else ""), where, matched)
            if key in seen:
                continue
            seen.add(key)
            if runtime_creator("Service", ns, svc):
                continue
            ports = services.get((ns, svc))
            if ports is None:
                message = f"{where}: `{matched}` names Service {ns}/{svc}, which does not exist" + (
                    "" if ns in namespaces else f" (nor does namespace {ns})"
                )
            elif port is not None and port not in ports:
                message = f"{where}: `{matched}` uses port {port}; Service {ns}/{svc} serves {sorted(ports)}"
            else:
                continue
            findings.append(_finding("addresses", d, message, urn=urn))

    for urn, values in facts.release_values.items():
        for path, text in strings_in(values):
            resolve(None, f"values {path}", text, urn)
    for d in objects:
        for where, text in wired_texts(d):
            resolve(d, where, text)
        for where, svc, ns, port in _istio_destinations(d):
            declared = services.get((ns, svc))
            if declared is None:
                findings.append(_finding("addresses", d, f"{where}: host {svc}.{ns} names Service {ns}/{svc}, which does not exist"))
            elif port is not None and int(port) not in declared:
                findings.append(_finding("addresses", d, f"{where}: port {port} of Service {ns}/{svc}, which serves {sorted(declared)}"))
    return findings


# --- webhooks -----------------------------------------------------------------------------

_WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_CA_PATCHING_RESOURCES = {"mutatingwebhookconfigurations", "validatingwebhookconfigurations", "apiservices", "customresourcedefinitions"}


def _patches_ca(role: Mapping[str, Any]) -> bool:
    for rule in role.get("rules") or []:
        if set(rule.get("resources") or []) & _CA_PATCHING_RESOURCES and set(rule.get("verbs") or []) & {"patch", "update", "*"}:
            return True
    return False


INJECT_FROM_CERTIFICATE = "cert-manager.io/inject-ca-from"
INJECT_FROM_SECRET = "cert-manager.io/inject-ca-from-secret"


def _injected_ca(d: Deployed, have: Mapping[tuple[str, str, str], Deployed], issued: Mapping[tuple[str, str], Deployed]) -> str | None:
    """Why cert-manager's CA injector cannot fill `d`'s caBundle, or None (also when it is not asked to)."""
    annotations = (d.obj.get("metadata") or {}).get("annotations") or {}
    source = annotations.get(INJECT_FROM_CERTIFICATE)
    if source:
        ns, _, name = str(source).partition("/")
        certificate = have.get(("Certificate", ns, name))
        if certificate is None or not str(certificate.obj.get("apiVersion", "")).startswith("cert-manager.io/"):
            return f"its caBundle is to be injected from Certificate {source}, which nothing in the stack creates"
    secret = annotations.get(INJECT_FROM_SECRET)
    if secret:
        ns, _, name = str(secret).partition("/")
        if ("Secret", ns, name) not in have and (ns, name) not in issued and not runtime_creator("Secret", ns, name):
            return f"its caBundle is to be injected from Secret {secret}, which nothing in the stack creates"
    return None


def check_webhooks(objects: Sequence[Deployed], charts: Sequence[ChartRender], facts: Facts) -> list[dict[str, str]]:
    """Every webhook's Service exists with its port; its CA comes from something that runs:
    never from a hook the install drops, and cert-manager's injector from a Certificate or
    Secret that exists."""
    have = _index(objects)
    issued = certificate_secrets(objects)
    findings = []
    for d in objects:
        if d.kind in (*_WEBHOOK_KINDS, "APIService", "CustomResourceDefinition"):
            problem = _injected_ca(d, have, issued)
            if problem:
                findings.append(_finding("webhooks", d, f"{problem}: the API server could not trust it"))
    # A release whose dropped hooks hold a Role allowed to patch webhook configurations
    # fills their caBundle from a hook Job (kube-webhook-certgen's `patch`).
    dropped_patchers = {
        c.urn: next(h for h in c.dropped if h.kind in ("ClusterRole", "Role") and _patches_ca(h.obj))
        for c in charts
        if any(h.kind in ("ClusterRole", "Role") and _patches_ca(h.obj) for h in c.dropped)
    }
    for d in objects:
        if d.kind in _WEBHOOK_KINDS:
            hooks = [(w.get("name"), w.get("clientConfig") or {}) for w in (d.obj.get("webhooks") or [])]
        elif d.kind == "APIService":
            hooks = [(d.name, d.obj.get("spec") or {})] if (d.obj.get("spec") or {}).get("service") else []
        else:
            continue
        for hook, config in hooks:
            service = config.get("service")
            if not service:
                continue
            ns, name, port = service.get("namespace"), service.get("name"), int(service.get("port") or 443)
            target = have.get(("Service", ns, name))
            if target is None:
                findings.append(_finding("webhooks", d, f"webhook {hook} calls Service {ns}/{name}, which nothing in the stack creates"))
                continue
            ports = {int(p.get("port")) for p in (target.obj.get("spec") or {}).get("ports") or []}
            if port not in ports:
                findings.append(_finding("webhooks", d, f"webhook {hook} calls Service {ns}/{name} on port {port}; it serves {sorted(ports)}"))
            if not config.get("caBundle") and d.source in dropped_patchers:
                patcher = dropped_patchers[d.source]
                findings.append(
                    _finding(
                        "webhooks", d,
                        f"webhook {hook} has no caBundle; release {d.release} fills it with hooks ({patcher.kind} {patcher.name}: "
                        f"{hook_of(patcher.obj)}) that helm.v4.Chart drops: the API server cannot call it",
                    )
                )
    return findings


# --- namespaces ---------------------------------------------------------------------------


def check_namespaces(objects: Sequence[Deployed], facts: Facts) -> list[dict[str, str]]:
    """Every namespace an object lives in, or a hook Job labels, exists in this environment."""
    namespaces = namespaces_of(objects, facts.environment)
    findings = []
    for d in objects:
        if d.namespace and d.namespace not in namespaces:
            findings.append(_finding("namespaces", d, f"lives in namespace {d.namespace}, which does not exist on {facts.environment}"))
        for container, ns in labelled_namespaces(d):
            if ns not in namespaces:
                findings.append(
                    _finding("namespaces", d, f"container {container} labels namespace {ns}, which does not exist on {facts.environment}: the hook fails")
                )
    return findings


# --- hooks the install drops --------------------------------------------------------------

_INSTALL_PHASES = {"pre-install", "post-install", "pre-upgrade", "post-upgrade"}


def check_dropped_hooks(charts: Sequence[ChartRender]) -> list[dict[str, str]]:
    """A helm.v4.Chart must not drop install/upgrade hook Jobs (certificates, CRDs, migrations) the chart needs."""
    findings = []
    for chart in charts:
        if chart.install != "v4":
            continue
        for hook in chart.hooks_dropped:
            phases = set(hook["hook"].split(","))
            if hook["kind"] in ("Job", "Pod") and phases & _INSTALL_PHASES:
                findings.append(
                    {
                        "check": "dropped-hooks",
                        "object": f"{hook['kind']} {hook['name']} (release {chart.name})",
                        "urn": chart.urn,
                        "message": f"release {chart.name} ({chart.chart} {chart.version}) needs hook {hook['kind']} {hook['name']} ({hook['hook']}), "
                        "which helm.v4.Chart drops: choose values that make the chart work without it, or install it as a helm.v3.Release",
                    }
                )
    return findings


def check_renders(charts: Sequence[ChartRender], problems: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Every chart renders; every ConfigGroup file can be read offline."""
    findings = [
        {"check": "render", "object": f"release {c.name}", "urn": c.urn, "message": f"{c.chart} {c.version} does not render: {c.error}"}
        for c in charts
        if c.error
    ]
    findings += [{"check": "render", "object": "", "urn": p["urn"], "message": p["message"]} for p in problems]
    return findings


IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def check_irsa(objects: Sequence[Deployed], facts: Facts) -> list[dict[str, str]]:
    """Each IRSA role trusts exactly the ServiceAccount its pods run as, and that ServiceAccount carries it.

    A role whose trust names another ServiceAccount, or a ServiceAccount that carries a role
    trusting someone else, leaves the pods without AWS credentials at run time (AccessDenied
    on AssumeRoleWithWebIdentity) — nothing fails at `up`."""
    findings = []
    by_arn = {role.arn: role for role in facts.cloud_roles}
    accounts = {(d.namespace, d.name): d for d in objects if d.kind == "ServiceAccount"}
    carried = {key: ((d.obj.get("metadata") or {}).get("annotations") or {}).get(IRSA_ANNOTATION) for key, d in accounts.items()}
    for (namespace, name), account in accounts.items():
        arn = carried[(namespace, name)]
        if not arn:
            continue
        role = by_arn.get(str(arn))
        subject = f"system:serviceaccount:{namespace}:{name}"
        if role is None:
            findings.append(_finding("irsa", account, f"carries {IRSA_ANNOTATION} {arn}, which is no IAM role of the stack: pass the role's arn from EksCluster.irsa_role"))
        elif subject not in role.subjects:
            findings.append(_finding("irsa", account, f"carries role {role.name}, whose trust names {', '.join(role.subjects) or 'no ServiceAccount'}, not {subject}: "
                                                      "its pods get AccessDenied; give irsa_role this namespace and service_account"))
    for role in facts.cloud_roles:
        if role.bound_elsewhere:
            continue
        for subject in role.subjects:
            _, _, rest = subject.partition("system:serviceaccount:")
            namespace, _, name = rest.partition(":")
            trusted = accounts.get((namespace, name))
            arn = carried.get((namespace, name))
            if trusted is None:
                findings.append(_finding("irsa", None, f"IAM role {role.name} trusts {subject}, which the stack does not create: name the ServiceAccount the pods run as", role.urn))
            elif arn != role.arn:
                findings.append(_finding("irsa", trusted, f"is trusted by IAM role {role.name} but carries {IRSA_ANNOTATION} {arn or '(none)'}: annotate it with the role's arn"))
    return findings


def deployability_report(
    objects: Sequence[Deployed], charts: Sequence[ChartRender], facts: Facts, problems: Sequence[Mapping[str, str]] = (),
    references: Sequence[dict[str, str]] = (), reference_fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`{"checked": N objects, "errors": [...], "prerequisites": [...]}` over everything the stack deploys.
    `references`, `reference_fields`: the findings and the registry of `checks.references` (the layer runs both)."""
    errors = check_renders(charts, problems)
    errors += check_dropped_hooks(charts)
    errors += list(references)
    errors += check_addresses(objects, facts)
    errors += check_webhooks(objects, charts, facts)
    errors += check_namespaces(objects, facts)
    errors += check_irsa(objects, facts)
    return {
        "checked": len(objects),
        "errors": errors,
        "prerequisites": [
            {"kind": p.kind, "namespace": p.namespace, "name": p.name, "key": p.key, "how": p.how} for p in facts.prerequisites
        ],
        # Every field, per API, whose name the references check resolves.
        "reference_fields": dict(reference_fields or {}),
        # The deliberate exceptions: objects taken to exist because a controller makes them.
        "runtime_objects": [{"kind": k, "namespace": ns, "name": name, "created_by": who} for (k, ns, name), who in RUNTIME_OBJECTS.items()],
    }
