"""What a stack deploys, from the offline render: the objects `make verify` looks for in the cluster."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from render.deployed import Deployed

from .checks import Expected

_LIVE = ("program", "chart", "release", "crds", "config-group")
"""Origins of objects that exist once the stack is up (hooks and dropped hooks do not stay)."""


def expected_from(objects: Sequence[Deployed]) -> Expected:
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
    return Expected(workloads=workloads, crds=crds, webhook_services=sorted(set(services)))


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
    return expected_from(deployed_objects(run, upstream).objects)
