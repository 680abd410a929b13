"""The checks `make verify` runs: each reads the cluster's state for what the stack deploys.

Every check is a function `(api, expected) -> CheckResult`; it passes only when everything it
looks at is as the platform needs it, and names each object that is not.

- `workloads-ready`: every Deployment, StatefulSet and DaemonSet the stack deploys exists and
  is ready at its desired replicas (DaemonSets: on every node they are scheduled to).
- `crds-established`: every CustomResourceDefinition the platform installs is `Established`.
- `webhook-endpoints`: every admission webhook's Service has at least one ready endpoint (a
  webhook without one fails closed or is silently skipped, depending on its failure policy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException


@dataclass(frozen=True)
class Expected:
    """What the stack deploys, as the checks need it (from the offline render)."""

    workloads: Sequence[tuple[str, str, str]] = ()
    """(kind, namespace, name) of every Deployment, StatefulSet and DaemonSet."""
    crds: Sequence[str] = ()
    """Names of the CustomResourceDefinitions."""
    webhook_services: Sequence[tuple[str, str, str]] = ()
    """(webhook configuration, namespace, Service name) of every admission webhook backed by a Service."""


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


def _get(read: Callable[[], Any]) -> Any | None:
    """The object, or None when the API server says it does not exist."""
    try:
        return read()
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def workloads_ready(api: client.ApiClient, expected: Expected) -> CheckResult:
    apps = client.AppsV1Api(api)
    readers: Mapping[str, Callable[[str, str], Any]] = {
        "Deployment": apps.read_namespaced_deployment,
        "StatefulSet": apps.read_namespaced_stateful_set,
        "DaemonSet": apps.read_namespaced_daemon_set,
    }
    result = CheckResult("workloads-ready", "every Deployment, StatefulSet and DaemonSet is ready at its desired replicas")
    for kind, namespace, name in expected.workloads:
        result.checked += 1
        obj = _get(lambda: readers[kind](name, namespace))  # noqa: B023 - called at once
        if obj is None:
            result.failures.append(f"{kind} {namespace}/{name}: not found")
            continue
        status = obj.status
        if kind == "DaemonSet":
            want, ready = status.desired_number_scheduled or 0, status.number_ready or 0
            if want == 0 or ready < want:
                result.failures.append(f"{kind} {namespace}/{name}: {ready}/{want} pods ready on their nodes")
        else:
            want, ready = obj.spec.replicas if obj.spec.replicas is not None else 1, status.ready_replicas or 0
            if ready < want:
                result.failures.append(f"{kind} {namespace}/{name}: {ready}/{want} replicas ready")
    return result


def crds_established(api: client.ApiClient, expected: Expected) -> CheckResult:
    extensions = client.ApiextensionsV1Api(api)
    result = CheckResult("crds-established", "every CustomResourceDefinition the platform installs is Established")
    for name in expected.crds:
        result.checked += 1
        crd = _get(lambda: extensions.read_custom_resource_definition(name))  # noqa: B023 - called at once
        if crd is None:
            result.failures.append(f"CRD {name}: not found")
            continue
        conditions = {c.type: c.status for c in (crd.status.conditions or [])} if crd.status else {}
        if conditions.get("Established") != "True":
            result.failures.append(f"CRD {name}: not Established ({conditions.get('Established', 'no condition')})")
    return result


def webhook_endpoints(api: client.ApiClient, expected: Expected) -> CheckResult:
    discovery = client.DiscoveryV1Api(api)
    result = CheckResult("webhook-endpoints", "every admission webhook's Service has a ready endpoint")
    for webhook, namespace, service in sorted(set(expected.webhook_services)):
        result.checked += 1
        slices = discovery.list_namespaced_endpoint_slice(namespace, label_selector=f"kubernetes.io/service-name={service}").items
        ready = [
            endpoint for s in slices for endpoint in (s.endpoints or [])
            if endpoint.conditions is None or endpoint.conditions.ready is not False
        ]
        if not ready:
            result.failures.append(f"{webhook}: Service {namespace}/{service} has no ready endpoint")
    return result


CHECKS: Sequence[tuple[str, Callable[[client.ApiClient, Expected], CheckResult], str]] = (
    ("workloads-ready", workloads_ready, "every Deployment, StatefulSet and DaemonSet of the stack is ready at its desired replicas"),
    ("crds-established", crds_established, "every CRD the platform installs is Established"),
    ("webhook-endpoints", webhook_endpoints, "every admission webhook's Service has a ready endpoint"),
)
"""(name, check, what it proves), in the order they run."""
