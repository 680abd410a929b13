"""What the cluster actually runs, beside the render's footprint estimate."""

from __future__ import annotations

from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .model import Expected
from .reads import reason


def measure_footprint(api: client.ApiClient, expected: Expected) -> dict[str, Any]:
    """What the cluster actually runs: the requests of its running pods (scheduled) and, from
    metrics-server, what they use — beside the offline estimate, to check the budget against reality."""
    from components.quantity import cpu_millicores, memory_mib

    scheduled = [0.0, 0.0]
    for pod in client.CoreV1Api(api).list_pod_for_all_namespaces(field_selector="status.phase=Running").items:
        for container in (pod.spec.containers if pod.spec else None) or []:
            requests = (container.resources.requests if container.resources else None) or {}
            scheduled[0] += cpu_millicores(requests["cpu"]) if "cpu" in requests else 0
            scheduled[1] += memory_mib(requests["memory"]) if "memory" in requests else 0
    report: dict[str, Any] = {"scheduled": {"cpu_millicores": round(scheduled[0]), "memory_mib": round(scheduled[1])}}
    if expected.estimate is not None:
        report["estimate"] = {"cpu_millicores": round(expected.estimate[0]), "memory_mib": round(expected.estimate[1])}
    try:
        metrics = client.CustomObjectsApi(api).list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods")
    except ApiException as error:
        report["used"] = None
        report["used_unavailable"] = reason(error)
        return report
    used = [0.0, 0.0]
    for item in cast(dict[str, Any], metrics).get("items") or []:
        for container in item.get("containers") or []:
            usage = container.get("usage") or {}
            used[0] += _usage_millicores(str(usage["cpu"])) if "cpu" in usage else 0
            used[1] += memory_mib(usage["memory"]) if "memory" in usage else 0
    report["used"] = {"cpu_millicores": round(used[0]), "memory_mib": round(used[1])}
    return report


def _usage_millicores(quantity: str) -> float:
    """metrics-server reports CPU in nanocores (`12500000n`) or microcores (`u`) as well as millicores."""
    scale = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity[-1:] in scale:
        return float(quantity[:-1]) * scale[quantity[-1]]
    return float(quantity) * 1000


def footprint_line(report: dict[str, Any]) -> str:
    s, e, u = report["scheduled"], report.get("estimate"), report.get("used")
    line = f"footprint: {s['cpu_millicores']}m CPU / {s['memory_mib']} MiB requested by running pods"
    if e:
        line += f" (render's estimate {e['cpu_millicores']}m / {e['memory_mib']} MiB)"
    line += f"; in use {u['cpu_millicores']}m / {u['memory_mib']} MiB (metrics-server)" if u else f"; usage unavailable ({report.get('used_unavailable')})"
    return line
