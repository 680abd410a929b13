"""What a stack deploys, from the offline render: the objects `make verify` looks for in the cluster."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from render.deployed import Deployed

from .checks import Expected

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


def expected_from(objects: Sequence[Deployed], estimate: tuple[float, float] | None = None) -> Expected:
    live = [d for d in objects if d.origin in _LIVE]
    workloads = sorted({(d.kind, d.namespace, d.name) for d in live if d.kind in ("Deployment", "StatefulSet", "DaemonSet")})
    crds = sorted({d.name for d in live if d.kind == "CustomResourceDefinition"})
    services = []
    for d in live:
        if d.kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            for webhook in d.obj.get("webhooks") or []:
                service = (webhook.get("clientConfig") or {}).get("service")
                if service:
                    services.append((d.name, str(service.get("namespace")), str(service.get("name"))))
    names = {(d.kind, d.namespace, d.name) for d in live}
    injected = sorted(d.name for d in live if d.kind == "Namespace" and ((d.obj.get("metadata") or {}).get("labels") or {}).get("istio-injection") == "enabled")
    gatekeeper = any(d.kind == "ConstraintTemplate" for d in live)
    vault_tls = any(d.kind == "ConfigMap" and d.namespace == "vault" and "tls_cert_file" in json.dumps(d.obj.get("data") or {}) for d in live)
    return Expected(
        workloads=workloads, crds=crds, webhook_services=sorted(set(services)),
        app_namespace=injected[0] if injected and gatekeeper else None,
        prometheus=("monitoring", "kps-prometheus", 9090) if ("Service", "monitoring", "kps-prometheus") in names else None,
        vault=("vault", "vault", 8200, vault_tls) if ("StatefulSet", "vault", "vault") in names else None,
        trivy=("Deployment", "trivy-system", "trivy-operator") in names,
        ui=[ui for ui in _UIS if ("Service", ui[1], ui[2]) in names],
        estimate=estimate,
        rule_groups=sorted({str(g.get("name")) for d in live if d.kind == "PrometheusRule" for g in (d.obj.get("spec") or {}).get("groups") or []}),
    )


def expected_for(stack: str, config_file: Path | None = None) -> Expected:
    """Render `stack` offline (its Pulumi.<stack>.yaml) and return what it deploys."""
    from render.deployed import deployed_objects
    from render.harness import read_stack_file, run_program_recording
    from render.upstream import bundle

    upstream = bundle()
    if upstream is None:
        raise RuntimeError("the pinned upstream bundle (../shared/upstream) is needed to know what the charts deploy")
    config, secret_keys = read_stack_file(config_file or Path(f"Pulumi.{stack}.yaml"))
    run, error = run_program_recording(stack, config, secret_keys=secret_keys)
    if error is not None:
        raise RuntimeError(f"the stack's program failed offline: {error}")
    from components.config import NAMESPACE, parse_config
    from render.footprint import footprint, node_count
    from render.injection import as_admitted

    objects = deployed_objects(run, upstream).objects
    estimate = footprint(as_admitted(objects), nodes=node_count(parse_config({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")})), component_of=lambda _: "")
    return expected_from(objects, (estimate["cpu_millicores"], estimate["memory_mib"]))
