"""The pods `make verify` creates: dry-run bodies (never persisted) and the short-lived
plaintext probe, deleted whatever happens."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .model import Expected

PROBE_LABELS = {"app": "verify-probe", "version": "1", "environment": "verify", "sidecar.istio.io/inject": "false"}
"""Labels of every pod `make verify` creates: the platform's required labels, and no sidecar."""


def _pod_spec(image: str, *, privileged: bool = False, command: Sequence[str] = ("sleep", "1")) -> dict[str, Any]:
    """A pod spec that passes every platform constraint and Pod Security `restricted` (unless made privileged or given a bad image)."""
    security: dict[str, Any] = {
        "allowPrivilegeEscalation": privileged, "privileged": privileged, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "runAsUser": 1337, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "probe", "image": image, "command": list(command), "securityContext": security,
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}}}],
    }


def pod_body(name: str, image: str, *, privileged: bool = False, command: Sequence[str] = ("sleep", "1")) -> dict[str, Any]:
    """A pod that runs once, for at most 5 minutes."""
    spec = {"restartPolicy": "Never", "activeDeadlineSeconds": 300, **_pod_spec(image, privileged=privileged, command=command)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": dict(PROBE_LABELS)}, "spec": spec}


def deployment_body(name: str, image: str, *, privileged: bool = False) -> dict[str, Any]:
    selector = {"app": PROBE_LABELS["app"]}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": dict(PROBE_LABELS)},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": dict(PROBE_LABELS)}, "spec": _pod_spec(image, privileged=privileged)}},
    }


class ProbeFailed(Exception):
    """A probe pod did not run to completion."""


def run_probe(core: client.CoreV1Api, namespace: str, name: str, command: Sequence[str], expected: Expected) -> str:
    """Run a probe pod to completion and return its log; the pod is deleted whatever happens."""
    # The client takes a plain manifest as well as a V1Pod (its stubs say only the latter).
    core.create_namespaced_pod(namespace, pod_body(name, expected.compliant_image, command=command))  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + expected.probe_timeout
        while True:
            pod = core.read_namespaced_pod(name, namespace)
            phase = pod.status.phase if pod.status else None
            if phase in ("Succeeded", "Failed"):
                return str(core.read_namespaced_pod_log(name, namespace, container="probe"))
            if time.monotonic() > deadline:
                waiting = [str(s.state.waiting.reason) for s in (pod.status.container_statuses or []) if s.state and s.state.waiting] if pod.status else []
                raise ProbeFailed(f"still {phase or 'unscheduled'} after {expected.probe_timeout:.0f} s{' (' + ', '.join(waiting) + ')' if waiting else ''}")
            time.sleep(1)
    finally:
        try:
            core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:
                raise
