"""Grafana dashboards as code: generated from Python, loaded by Grafana's dashboard sidecar.

Every PromQL expression uses only metrics in `COLLECTED_METRICS` — series this platform's
scrapers produce — and a test holds them to it.
"""

from __future__ import annotations

import json
import re
from typing import Any

COLLECTED_METRICS: dict[str, str] = {
    # kube-state-metrics (kube-prometheus-stack)
    "kube_node_status_condition": "kube-state-metrics",
    "kube_node_info": "kube-state-metrics",
    "kube_pod_status_phase": "kube-state-metrics",
    "kube_pod_status_ready": "kube-state-metrics",
    "kube_pod_container_status_restarts_total": "kube-state-metrics",
    "kube_pod_container_status_waiting_reason": "kube-state-metrics",
    "kube_pod_container_resource_limits": "kube-state-metrics",
    # cAdvisor through the kubelet (kube-prometheus-stack)
    "container_cpu_usage_seconds_total": "kubelet/cAdvisor",
    "container_memory_working_set_bytes": "kubelet/cAdvisor",
    # Envoy sidecars and gateways (PodMonitor envoy-stats, service ServiceMonitors)
    "istio_requests_total": "envoy",
    "istio_request_duration_milliseconds_bucket": "envoy",
    "istio_tcp_connections_opened_total": "envoy",
    # istiod (ServiceMonitor istiod)
    "pilot_xds_pushes": "istiod",
    # Trivy Operator (its ServiceMonitor)
    "trivy_image_vulnerabilities": "trivy-operator",
    # Gatekeeper (PodMonitor gatekeeper)
    "gatekeeper_violations": "gatekeeper",
    # cert-manager's controller (CertManager.monitor's ServiceMonitor)
    "certmanager_certificate_expiration_timestamp_seconds": "cert-manager",
    "certmanager_certificate_ready_status": "cert-manager",
    # Prometheus itself
    "up": "prometheus",
}

_STRINGS = re.compile(r'"[^"]*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGES = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "e", "inf", "nan", "group_left", "group_right"}


def metrics_in(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (identifiers that are not functions, labels or keywords)."""
    text = _STRINGS.sub("", expr)
    text = _MATCHERS.sub("", text)
    text = _GROUPING.sub("", text)
    text = _RANGES.sub("", text)
    return {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS}


def _panel(panel_id: int, title: str, kind: str, exprs: list[tuple[str, str]], x: int, y: int, w: int = 12, h: int = 8, **field: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": field.pop("unit", "short")}
    if "thresholds" in field:
        defaults["thresholds"] = {"mode": "absolute", "steps": field.pop("thresholds")}
    return {
        "id": panel_id,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [{"refId": chr(65 + i), "expr": expr, "legendFormat": legend} for i, (expr, legend) in enumerate(exprs)],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]], tags: list[str]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["gitops-platform", *tags],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


def _error_thresholds(warn: float, critical: float) -> list[dict[str, Any]]:
    return [{"color": "green", "value": None}, {"color": "orange", "value": warn}, {"color": "red", "value": critical}]


def overview() -> dict[str, Any]:
    """The multi-cloud overview: cluster health, pods by phase, traffic and errors per service, critical vulnerabilities."""
    return _dashboard(
        "gitops-platform-overview",
        "Platform overview",
        [
            _panel(1, "Nodes ready", "stat", [('sum(kube_node_status_condition{condition="Ready",status="true"})', "ready")], 0, 0, 6, 4),
            _panel(2, "Nodes", "stat", [("count(kube_node_info)", "nodes")], 6, 0, 6, 4),
            _panel(3, "Pods by phase", "timeseries", [("sum by (phase) (kube_pod_status_phase)", "{{phase}}")], 12, 0, 12, 8),
            _panel(4, "Request rate by service", "timeseries", [("sum by (destination_service_name) (rate(istio_requests_total[5m]))", "{{destination_service_name}}")], 0, 8, unit="reqps"),
            _panel(
                5,
                "Error rate by service (5xx)",
                "timeseries",
                [(
                    'sum by (destination_service_name) (rate(istio_requests_total{response_code=~"5.."}[5m])) / sum by (destination_service_name) (rate(istio_requests_total[5m]))',
                    "{{destination_service_name}}",
                )],
                12,
                8,
                unit="percentunit",
                thresholds=_error_thresholds(0.01, 0.05),
            ),
            _panel(6, "Critical vulnerabilities", "stat", [('sum(trivy_image_vulnerabilities{severity="Critical"})', "critical")], 0, 16, 6, 4, thresholds=_error_thresholds(1, 1)),
            _panel(7, "Scrape targets down", "stat", [("count(up == 0)", "down")], 6, 16, 6, 4, thresholds=_error_thresholds(1, 1)),
        ],
        ["overview"],
    )


def istio_red() -> dict[str, Any]:
    """Rate, errors and duration per service, from the sidecars."""
    return _dashboard(
        "gitops-platform-istio-red",
        "Istio services (RED)",
        [
            _panel(1, "Rate", "timeseries", [("sum by (destination_service_name) (rate(istio_requests_total[5m]))", "{{destination_service_name}}")], 0, 0, 24, 8, unit="reqps"),
            _panel(
                2,
                "Errors (5xx share)",
                "timeseries",
                [(
                    'sum by (destination_service_name) (rate(istio_requests_total{response_code=~"5.."}[5m])) / sum by (destination_service_name) (rate(istio_requests_total[5m]))',
                    "{{destination_service_name}}",
                )],
                0,
                8,
                unit="percentunit",
                thresholds=_error_thresholds(0.01, 0.05),
            ),
            _panel(
                3,
                "Duration p50 / p95 / p99",
                "timeseries",
                [
                    (f"histogram_quantile({q}, sum by (le, destination_service_name) (rate(istio_request_duration_milliseconds_bucket[5m])))", f"p{int(q * 100)} {{{{destination_service_name}}}}")
                    for q in (0.5, 0.95, 0.99)
                ],
                12,
                8,
                unit="ms",
            ),
            _panel(4, "istiod config pushes", "timeseries", [("sum by (type) (rate(pilot_xds_pushes[5m]))", "{{type}}")], 0, 16, 24, 6),
            # A canary's traffic split as it moves (stable and canary pods carry their version).
            _panel(
                5,
                "Traffic split by version",
                "timeseries",
                [(
                    'sum by (destination_service_name, destination_version) (rate(istio_requests_total{reporter="destination"}[1m]))',
                    "{{destination_service_name}} {{destination_version}}",
                )],
                0,
                22,
                24,
                8,
                unit="reqps",
            ),
        ],
        ["istio"],
    )


def security() -> dict[str, Any]:
    """Vulnerabilities by severity and image, policy violations by constraint, certificates by days to expiry."""
    return _dashboard(
        "gitops-platform-security",
        "Platform security",
        [
            _panel(1, "Vulnerabilities by severity", "timeseries", [("sum by (severity) (trivy_image_vulnerabilities)", "{{severity}}")], 0, 0),
            _panel(
                2,
                "Images with critical vulnerabilities",
                "table",
                [('topk(20, sum by (namespace, image_repository, image_tag) (trivy_image_vulnerabilities{severity="Critical"}))', "{{image_repository}}:{{image_tag}}")],
                12,
                0,
            ),
            _panel(3, "Gatekeeper violations by constraint", "timeseries", [("sum by (enforcement_action) (gatekeeper_violations)", "{{enforcement_action}}")], 0, 8, 24, 8),
            _panel(
                4,
                "Certificates by days to expiry",
                "table",
                [("sort((min by (namespace, name) (certmanager_certificate_expiration_timestamp_seconds) - time()) / 86400)", "{{namespace}}/{{name}}")],
                0,
                16,
                24,
                8,
                unit="d",
            ),
        ],
        ["security"],
    )


DASHBOARDS = {"overview": overview, "istio-red": istio_red, "security": security}


def dashboard_json(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2, sort_keys=True)
