"""A local HTTP server answering the Kubernetes API paths `make verify` reads, from objects given
as dicts — the real Kubernetes client talks to it over HTTP, nothing is patched."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import yaml

_PLURALS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def _as_served(obj: Any, key: str = "") -> Any:
    """`obj` as the API server returns it: resource quantities are strings (`1` -> "1")."""
    if isinstance(obj, Mapping):
        return {k: _as_served(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_as_served(v) for v in obj]
    if key in ("cpu", "memory", "ephemeral-storage", "storage") and isinstance(obj, (int, float)):
        return str(obj)
    return obj


class Cluster:
    """The cluster's state: objects by API path."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.slices: dict[str, list[dict[str, Any]]] = {}  # namespace/service -> EndpointSlices
        self.proxied: dict[str, Any] = {}  # "namespace/service-name/path" (service-name as in the proxy URL) -> JSON it answers
        self.reports: list[dict[str, Any]] = []  # VulnerabilityReports
        self.gatekeeper = True  # whether dry-run pod creations meet the platform's constraints
        self.pods: list[dict[str, Any]] = []  # running pods (for the footprint)
        self.pod_metrics: list[dict[str, Any]] | None = []  # metrics-server's PodMetrics; None: not installed

    def workload(self, obj: Mapping[str, Any], ready: int | None = None) -> None:
        kind, meta = obj["kind"], obj["metadata"]
        body = _as_served(obj)
        want = (body.get("spec") or {}).get("replicas", 1)
        ready = want if ready is None else ready
        if kind == "DaemonSet":
            body["status"] = {"desiredNumberScheduled": 1, "numberReady": min(ready, 1), "currentNumberScheduled": 1, "numberMisscheduled": 0}
        else:
            body["status"] = {"replicas": want, "readyReplicas": ready}
        self.objects[f"/apis/apps/v1/namespaces/{meta['namespace']}/{_PLURALS[kind]}/{meta['name']}"] = body

    def crd(self, obj: Mapping[str, Any], established: bool = True) -> None:
        body = json.loads(json.dumps(obj))
        body["status"] = {"conditions": [{"type": "Established", "status": "True" if established else "False"}],
                          "acceptedNames": {"kind": body["spec"]["names"]["kind"], "plural": body["spec"]["names"]["plural"]}, "storedVersions": []}
        self.objects[f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{obj['metadata']['name']}"] = body

    def endpoints(self, namespace: str, service: str, ready: bool = True) -> None:
        self.slices[f"{namespace}/{service}"] = [{
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{service}-abc", "namespace": namespace, "labels": {"kubernetes.io/service-name": service}},
            "endpoints": [{"addresses": ["10.0.0.7"], "conditions": {"ready": ready}}],
        }]


def _admission(pod: Mapping[str, Any]) -> str | None:
    """Gatekeeper's answer to a pod, as its webhook words it (None: admitted)."""
    for c in pod["spec"]["containers"]:
        if (c.get("securityContext") or {}).get("privileged"):
            return f"[platform-privileged] Privileged container is not allowed: {c['name']}"
        if str(c.get("image", "")).endswith(":latest"):  # the floating tag K8sDisallowedTags refuses
            return f"[platform-disallowedtags] container <{c['name']}> uses a disallowed tag <{c['image']}>"
    return None


def _handler(cluster: Cluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # http.server calls it by this name
            url = urlparse(self.path)
            url = url._replace(path=unquote(url.path))
            if url.path.rstrip("/") == "/version":
                return self._send(200, {
                    "major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "abc", "gitTreeState": "clean",
                    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64",
                })
            parts = url.path.split("/")
            if url.path.startswith("/apis/discovery.k8s.io/v1/namespaces/") and parts[-1] == "endpointslices":
                service = parse_qs(url.query).get("labelSelector", [""])[0].removeprefix("kubernetes.io/service-name=")
                items = cluster.slices.get(f"{parts[5]}/{service}", [])
                return self._send(200, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList", "metadata": {}, "items": items})
            if url.path == "/api/v1/pods":
                return self._send(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": cluster.pods})
            if url.path == "/apis/metrics.k8s.io/v1beta1/pods" and cluster.pod_metrics is not None:
                return self._send(200, {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetricsList", "metadata": {}, "items": cluster.pod_metrics})
            if url.path == "/apis/aquasecurity.github.io/v1alpha1/vulnerabilityreports":
                return self._send(200, {"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReportList", "metadata": {}, "items": cluster.reports})
            if "/proxy/" in url.path and url.path.startswith("/api/v1/namespaces/"):
                namespace, service, path = parts[4], parts[6], url.path.split("/proxy/", 1)[1]
                key = f"{namespace}/{service}/{path}"
                if key in cluster.proxied or key.rstrip("/") in cluster.proxied:
                    return self._send(200, cluster.proxied.get(key, cluster.proxied.get(key.rstrip("/"))))
                return self._send(503, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "no endpoints available", "code": 503})
            if url.path in cluster.objects:
                return self._send(200, cluster.objects[url.path])
            return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

        def do_POST(self) -> None:  # http.server calls it by this name
            url = urlparse(self.path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if url.path.endswith("/pods") and parse_qs(url.query).get("dryRun") == ["All"]:
                denied = _admission(body) if cluster.gatekeeper else None
                if denied:
                    message = f'admission webhook "validation.gatekeeper.sh" denied the request: {denied}'
                    return self._send(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": "Forbidden", "code": 403})
                return self._send(201, body)
            return self._send(405, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "only dry runs here", "code": 405})

    return Handler


@contextmanager
def serving(cluster: Cluster, directory: Path) -> Iterator[Path]:
    """Serve `cluster` on a free local port; yields a kubeconfig file pointing at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cluster))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "fake", "user": {"token": "t"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    }))
    try:
        yield kubeconfig
    finally:
        server.shutdown()
        server.server_close()
