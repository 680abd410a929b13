"""What `make verify` expects of a stack's cluster (from the offline render), and what a check reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.charts import CHARTS


@dataclass(frozen=True)
class Gateway:
    """How to reach the ingress gateway from where `make verify` runs, and what to ask it."""

    namespace: str
    service: str
    hosts: Sequence[str]
    """Host names routed through the gateway (SNI and Host), each with the path of its first route."""
    paths: Sequence[str]
    address: tuple[str, int] | None = None
    """(host, port) to connect to; None: the Service's load balancer on 443."""
    sample: tuple[str, str] | None = None
    """(host, path) of the sample app's endpoint that must answer 200."""
    ca_pem: str | None = None
    """The platform CA (PEM), trusted beside the system's roots."""


@dataclass(frozen=True)
class Falco:
    namespace: str
    selector: str
    """Label selector of Falco's pods."""
    port: int
    """Falco's web server port (its `/metrics`)."""
    rules_files: Sequence[str]
    """Base names of the rules files every Falco pod must have loaded."""


@dataclass(frozen=True)
class Expected:
    """What the stack deploys, as the checks need it (from the offline render)."""

    workloads: Sequence[tuple[str, str, str]] = ()
    """(kind, namespace, name) of every Deployment, StatefulSet, DaemonSet and Rollout."""
    crds: Sequence[str] = ()
    """Names of the CustomResourceDefinitions."""
    webhooks: Sequence[tuple[str, str]] = ()
    """(kind, name) of every Validating/MutatingWebhookConfiguration; the check reads their Services from the cluster."""
    app_namespace: str | None = None
    """An app namespace (sidecar injection on) for the policy dry runs; None: no Gatekeeper checks."""
    app_pod_security: str = "restricted"
    """The Pod Security level that namespace enforces."""
    compliant_image: str = f"docker.io/istio/proxyv2:{CHARTS['istiod'].version}"
    """An image from an allowed registry, pinned: the dry runs' (they pull nothing) and the
    plaintext probe's (Istio's proxy image carries curl; the nodes already hold it)."""
    prometheus: tuple[str, str, int] | None = None
    """(namespace, Service, port) of Prometheus."""
    vault: tuple[str, str, int, bool | None] | None = None
    """(namespace, Service, port, TLS) of Vault; TLS None: not known offline, tried first."""
    trivy: bool = False
    ui: Sequence[tuple[str, str, str, int, str]] = ()
    """(what, namespace, Service, port, health path) of each UI the stack installs."""
    rule_groups: Sequence[str] = ()
    """Names of the rule groups of every PrometheusRule the stack deploys."""
    estimate: tuple[float, float] | None = None
    """The offline render's footprint: (CPU millicores, memory MiB) requested."""
    plaintext_probes: Mapping[str, Sequence[tuple[str, str, int]]] = field(default_factory=dict)
    """{probe namespace: [(namespace, Service, port)]}: meshed Services an un-injected pod there reaches through the NetworkPolicies."""
    gateway: Gateway | None = None
    falco: Falco | None = None
    probe_timeout: float = 120.0
    """Seconds a probe pod may take to pull, run and finish."""


@dataclass
class CheckResult:
    name: str
    summary: str
    failures: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "checked": self.checked, "summary": self.summary, "failures": self.failures}
