"""Pod Security Admission labels: every namespace the platform creates states the level its pods run at.

    k8s.core.v1.Namespace("ns", metadata={"name": "keda", "labels": pod_security_labels("restricted")})

`enforce`, `warn` and `audit` carry the same level: the strictest one every pod of the
namespace passes (the render's admission layer proves it, and reports a namespace whose
pods would pass a stricter level than it enforces). A namespace below `restricted` says why
in the `gitops-platform.io/pod-security-reason` annotation (`namespace_metadata`): the pods
that need more are sometimes created at run time by an operator, out of the render's sight. Versions follow the cluster (`latest`),
so a Kubernetes upgrade tightens the checks with the cluster rather than with this code.
"""

from __future__ import annotations

from typing import Literal

Level = Literal["privileged", "baseline", "restricted"]
LEVELS: tuple[Level, ...] = ("privileged", "baseline", "restricted")
"""From the most to the least permissive."""
LABEL_PREFIX = "pod-security.kubernetes.io/"
NODE_AGENT_REASONS: dict[str, str] = {
    "monitoring": "node agents: node-exporter reads the node through its network, PID namespace and root filesystem; "
    "the log collector reads /var/log/pods through a hostPath volume",
    "falco": "a node agent: Falco loads eBPF programs and reads the host's /proc and /etc through hostPath volumes",
    "vault": "the Vault CSI provider serves the kubelet's CSI driver through a hostPath socket directory",
    "trivy-system": "the infra assessment's node-collector jobs (created by the operator) read the node's files through hostPath volumes",
}
"""Why each platform namespace that runs node agents may run below `restricted`: its namespace's
`REASON_ANNOTATION` and its exemption from Gatekeeper's host-access constraints say the same."""
REASON_ANNOTATION = "gitops-platform.io/pod-security-reason"
"""Why a namespace enforces less than `restricted` (required on every such namespace; the render checks)."""


def pod_security_labels(level: Level, *, warn: Level | None = None, audit: Level | None = None) -> dict[str, str]:
    """The six Pod Security Admission labels: enforce `level`, warn and audit at `level` unless given."""
    modes = {"enforce": level, "warn": warn or level, "audit": audit or level}
    labels: dict[str, str] = {}
    for mode, value in modes.items():
        labels[f"{LABEL_PREFIX}{mode}"] = value
        labels[f"{LABEL_PREFIX}{mode}-version"] = "latest"
    return labels


def namespace_metadata(name: str, level: Level, reason: str | None = None, labels: dict[str, str] | None = None) -> dict[str, object]:
    """A platform Namespace's metadata: its Pod Security labels and, below `restricted`, the reason."""
    if level != "restricted" and not reason:
        raise ValueError(f"namespace {name} enforces Pod Security `{level}`: give the reason (which pods need what)")
    metadata: dict[str, object] = {"name": name, "labels": {**pod_security_labels(level), **(labels or {})}}
    if level != "restricted":
        metadata["annotations"] = {REASON_ANNOTATION: reason}
    return metadata
