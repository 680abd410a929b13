"""What a stack deploys — from the offline render, or from its state on a machine without the pinned charts: the objects `make verify` looks for in the cluster."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.apps import SAMPLE_ENDPOINT
from components.charts import CHARTS
from components.local_cluster import LocalClusterConfig
from components.mesh import INGRESS_LABEL
from render.checks.network import plaintext_probes
from render.engine.deployed import Deployed
from render.engine.workloads import containers, pod_spec

from .model import Expected, Falco, Gateway
from .probes import PROBE_LABELS
from .stack import pulumi_stack

_LIVE = ("program", "chart", "release", "crds", "config-group")
"""Origins of objects that exist once the stack is up (hooks and dropped hooks do not stay)."""


_UIS = (
    # (what, namespace, Service, port, health path): each UI's readiness probe path behind its Service.
    ("Grafana", "monitoring", "kps-grafana", 80, "api/health"),
    ("Loki", "monitoring", "loki", 3100, "ready"),
    ("Loki", "monitoring", "loki-read", 3100, "ready"),
    ("Jaeger", "monitoring", "jaeger", 16686, ""),
    ("Kiali", "istio-system", "kiali", 20001, "kiali/healthz"),
    ("Argo CD", "argocd", "argocd-server", 80, "healthz"),
)


def _gateway(live: Sequence[Deployed], address: tuple[str, int] | None, sample_host: str | None) -> Gateway | None:
    """The ingress gateway's Service and the hosts VirtualServices route through it (with their first path)."""
    service = next((d for d in live if d.kind == "Service" and ((d.obj.get("spec") or {}).get("selector") or {}).get("istio") == INGRESS_LABEL), None)
    if service is None:
        return None
    routes: dict[str, str] = {}
    for vs in live:
        spec = vs.obj.get("spec") or {} if vs.kind == "VirtualService" else {}
        if not any(g != "mesh" for g in spec.get("gateways") or []):
            continue
        prefixes = [str(m["uri"]["prefix"]) for r in spec.get("http") or [] for m in r.get("match") or [] if "prefix" in (m.get("uri") or {})]
        for host in spec.get("hosts") or []:
            # Names a client outside the cluster can ask for (not the mesh's own `*.svc.cluster.local`).
            if "*" not in str(host) and "." in str(host) and not str(host).endswith((".svc", ".cluster.local")):
                routes.setdefault(str(host), prefixes[0] if prefixes else "/")
    hosts = sorted(routes)
    sample = (sample_host, SAMPLE_ENDPOINT) if sample_host in routes else None
    return Gateway(service.namespace, service.name, hosts, [routes[h] for h in hosts], address=address, sample=sample)


def _falco(live: Sequence[Deployed]) -> Falco | None:
    """Falco's pods, web server port and rules files, when its metrics endpoint is on. The rules
    files: the upstream ruleset falcoctl installs, and every key of a ConfigMap that the falco
    container mounts at one of its `rules_files` directories."""
    daemonset = next((d for d in live if d.kind == "DaemonSet" and any(c.get("name") == "falco" for _, c in containers(pod_spec(d.obj) or {}))), None)
    if daemonset is None:
        return None
    maps = {d.name: d.obj.get("data") or {} for d in live if d.kind == "ConfigMap" and d.namespace == daemonset.namespace}
    config = next((yaml.safe_load(data["falco.yaml"]) or {} for data in maps.values() if "falco.yaml" in data), {})
    web = config.get("webserver") or {}
    if not ((config.get("metrics") or {}).get("enabled") and web.get("enabled") and web.get("prometheus_metrics_enabled")):
        return None
    spec = pod_spec(daemonset.obj) or {}
    volumes = {str(v.get("name")): str((v.get("configMap") or {}).get("name")) for v in spec.get("volumes") or [] if v.get("configMap")}
    falco = next(c for _, c in containers(spec) if c.get("name") == "falco")
    rules = {
        key for m in falco.get("volumeMounts") or [] if m.get("name") in volumes and m.get("mountPath") in (config.get("rules_files") or [])
        for key in maps.get(volumes[str(m["name"])], {}) if key.endswith((".yaml", ".yml"))
    }
    for data in maps.values():
        refs = ((yaml.safe_load(data["falcoctl.yaml"]) or {}).get("artifact") or {}).get("install", {}).get("refs") or [] if "falcoctl.yaml" in data else []
        rules |= {"falco_rules.yaml" for ref in refs if str(ref).split(":")[0].rsplit("/", 1)[-1] == "falco-rules"}
    selector = ",".join(f"{k}={v}" for k, v in sorted(((daemonset.obj.get("spec") or {}).get("selector") or {}).get("matchLabels", {}).items()))
    return Falco(daemonset.namespace, selector, int(web.get("listen_port") or 8765), sorted(rules))


def expected_from(
    objects: Sequence[Deployed], estimate: tuple[float, float] | None = None, *,
    environment: str = "local", gateway_address: tuple[str, int] | None = None, sample_host: str | None = None,
) -> Expected:
    """What to look for, from the render's objects. `gateway_address`: where the gateway is
    reached (kind: localhost and the HTTPS host port); `sample_host`: the sample apps' host."""
    live = [d for d in objects if d.origin in _LIVE]
    workloads = sorted({(d.kind, d.namespace, d.name) for d in live if d.kind in ("Deployment", "StatefulSet", "DaemonSet", "Rollout")})
    crds = sorted({d.name for d in live if d.kind == "CustomResourceDefinition"})
    webhooks = sorted({(d.kind, d.name) for d in live if d.kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")})
    names = {(d.kind, d.namespace, d.name) for d in live}
    injected = sorted(d.name for d in live if d.kind == "Namespace" and ((d.obj.get("metadata") or {}).get("labels") or {}).get("istio-injection") == "enabled")
    gatekeeper = any(d.kind == "ConstraintTemplate" for d in live)
    vault_config = [json.dumps(d.obj.get("data")) for d in live if d.kind == "ConfigMap" and d.namespace == "vault" and d.obj.get("data")]
    vault_tls = any("tls_cert_file" in text for text in vault_config) if vault_config else None
    return Expected(
        workloads=workloads, crds=crds, webhooks=webhooks,
        app_namespace=injected[0] if injected and gatekeeper else None,
        app_pod_security=next((str(((d.obj.get("metadata") or {}).get("labels") or {}).get("pod-security.kubernetes.io/enforce", "privileged"))
                               for d in live if d.kind == "Namespace" and injected and d.name == injected[0]), "privileged"),
        prometheus=("monitoring", "kps-prometheus", 9090) if ("Service", "monitoring", "kps-prometheus") in names else None,
        vault=("vault", "vault", 8200, vault_tls) if ("StatefulSet", "vault", "vault") in names else None,
        trivy=("Deployment", "trivy-system", "trivy-operator") in names,
        ui=[ui for ui in _UIS if ("Service", ui[1], ui[2]) in names],
        estimate=estimate,
        rule_groups=sorted({str(g.get("name")) for d in live if d.kind == "PrometheusRule" for g in (d.obj.get("spec") or {}).get("groups") or []}),
        compliant_image=f"docker.io/istio/proxyv2:{CHARTS['istiod'].version}",
        plaintext_probes=plaintext_probes(live, PROBE_LABELS, environment),
        gateway=_gateway(live, gateway_address, sample_host),
        falco=_falco(live),
    )


def objects_from_state(export: Mapping[str, Any]) -> list[Deployed]:
    """The Kubernetes objects a stack's state holds (`pulumi stack export`), as the render's
    `Deployed`: each resource's outputs (the object as last applied and read), its origin from
    its parents (a v4 Chart's or a ConfigGroup's children, or the program's own)."""
    resources = [r for r in (export.get("deployment") or {}).get("resources") or [] if not r.get("delete")]
    types = {str(r.get("urn")): str(r.get("type", "")) for r in resources}
    parents = {str(r.get("urn")): str(r.get("parent") or "") for r in resources}

    def origin(urn: str) -> str:
        while urn := parents.get(urn, ""):
            if types.get(urn, "").startswith("kubernetes:helm.sh/"):
                return "chart"
            if types.get(urn, "").startswith("kubernetes:yaml/"):
                return "config-group"
        return "program"

    objects = []
    for r in resources:
        if r.get("type") == "kubernetes:helm.sh/v3:Release":
            objects += _release_objects(r)
            continue
        if not str(r.get("type", "")).startswith("kubernetes:") or not r.get("custom"):
            continue
        obj = {k: v for k, v in (r.get("outputs") or r.get("inputs") or {}).items() if not k.startswith("__")}
        if obj.get("kind") and obj.get("apiVersion") and (obj.get("metadata") or {}).get("name"):
            objects.append(Deployed(obj, str(r.get("urn")), origin(str(r.get("urn")))))
    return objects


def _release_objects(release: Mapping[str, Any]) -> list[Deployed]:
    """A v3 Release's objects are not resources of the state: only their kinds and names are, in
    its `resourceNames` output (`{"Deployment.apps/apps/v1": ["ns/name", ...], "Service/v1": ["name"]}`)."""
    outputs = release.get("outputs") or {}
    namespace = str(outputs.get("namespace") or (outputs.get("status") or {}).get("namespace") or "")
    objects = []
    for key, names in (outputs.get("resourceNames") or {}).items():
        group_kind, _, api_version = str(key).partition("/")
        for name in names or []:
            ns, _, short = str(name).rpartition("/")
            metadata = {"name": short, **({"namespace": ns or namespace} if ns or namespace else {})}
            objects.append(Deployed({"apiVersion": api_version, "kind": group_kind.split(".")[0], "metadata": metadata}, str(release.get("urn")), "release"))
    return objects


def _state_objects(stack: str) -> list[Deployed]:
    export, why = pulumi_stack(stack, "export")
    if export is None:
        raise RuntimeError(f"what stack {stack} deploys comes from the offline render, which needs the pinned charts "
                           f"(`make charts`), or from its state: `pulumi stack export -s {stack}` failed ({why})")
    return objects_from_state(json.loads(export))


def expected_for(stack: str, config_file: Path | None = None) -> Expected:
    """What `stack` deploys: its program rendered offline (its Pulumi.<stack>.yaml, the pinned
    charts `make charts` fetched) or, on a machine without them, its state (`pulumi stack export`)."""
    from components.config import NAMESPACE, parse_config
    from render.checks.footprint import footprint, node_count
    from render.engine.charts import ChartsUnavailable, available
    from render.engine.deployed import deployed_objects
    from render.engine.harness import read_stack_file, run_program_recording
    from render.engine.injection import as_admitted

    config, secret_keys = read_stack_file(config_file or Path(f"Pulumi.{stack}.yaml"))
    platform = parse_config({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")})
    try:
        charts = available()
    except ChartsUnavailable:
        objects = _state_objects(stack)
    else:
        run, error = run_program_recording(stack, config, secret_keys=secret_keys)
        if error is not None:
            raise RuntimeError(f"the stack's program failed offline: {error}")
        objects = deployed_objects(run, charts).objects
    estimate = footprint(as_admitted(objects), nodes=node_count(platform), component_of=lambda _: "")
    cluster = platform.cluster
    kind = isinstance(cluster, LocalClusterConfig) and cluster.mode == "kind"
    return expected_from(
        objects, (estimate["cpu_millicores"], estimate["memory_mib"]), environment=platform.environment,
        gateway_address=("localhost", cluster.ingress.https_host_port) if kind and isinstance(cluster, LocalClusterConfig) else None,
        sample_host=platform.apps.host if platform.apps.enabled else None,
    )
