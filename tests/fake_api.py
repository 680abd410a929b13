"""A local HTTP server answering the Kubernetes API paths `make verify` reads, from objects given
as dicts — the real Kubernetes client talks to it over HTTP, nothing is patched."""

from __future__ import annotations

import datetime
import json
import ssl
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
        self.plaintext: dict[str, tuple[int, str]] = {}  # "host:port" -> (curl's exit code, HTTP status) for a plaintext call; default refused
        self.probe_phase = "Succeeded"  # the phase a created probe pod reports
        self.created: dict[str, dict[str, Any]] = {}  # "namespace/name" -> pods created (not dry runs) and not yet deleted
        self.deleted: list[str] = []  # "namespace/name" of deleted pods
        self.pod_proxied: dict[str, str] = {}  # "namespace/pod:port/path" -> text a pod answers through the API server's proxy

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


def _probe_log(pod: Mapping[str, Any], plaintext: Mapping[str, tuple[int, str]]) -> str:
    """What the plaintext probe's script prints for its targets (the arguments after `probe`)."""
    command = pod["spec"]["containers"][0]["command"]
    targets = command[command.index("probe") + 1:] if "probe" in command else []
    lines = []
    for target in targets:
        code, status = plaintext.get(target, (56, "000"))
        lines.append(f"{target} exit={code} http={status}")
    return "\n".join(lines) + "\n"


def _matches(labels: Mapping[str, str], selector: str) -> bool:
    return all(labels.get(k) == v for k, _, v in (term.partition("=") for term in selector.split(",") if term))


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

        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
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
            if url.path.startswith("/api/v1/namespaces/") and len(parts) >= 6 and parts[5] == "pods":
                return self._pods(url, parts)
            if "/proxy/" in url.path and url.path.startswith("/api/v1/namespaces/"):
                namespace, service, path = parts[4], parts[6], url.path.split("/proxy/", 1)[1]
                key = f"{namespace}/{service}/{path}"
                if key in cluster.proxied or key.rstrip("/") in cluster.proxied:
                    return self._send(200, cluster.proxied.get(key, cluster.proxied.get(key.rstrip("/"))))
                return self._send(503, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "no endpoints available", "code": 503})
            if url.path in cluster.objects:
                return self._send(200, cluster.objects[url.path])
            return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

        def _pods(self, url: Any, parts: list[str]) -> None:
            """Pods of a namespace: list (by label selector), one (as created), its log, its proxy."""
            namespace = parts[4]
            if len(parts) == 6:
                selector = parse_qs(url.query).get("labelSelector", [""])[0]
                items = [p for p in cluster.pods if p["metadata"].get("namespace") == namespace and _matches(p["metadata"].get("labels") or {}, selector)]
                return self._send(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items})
            if len(parts) > 7 and parts[7] == "proxy":
                text = cluster.pod_proxied.get(f"{namespace}/{parts[6]}/{'/'.join(parts[8:])}")
                if text is None:
                    return self._send(503, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "error trying to reach service", "code": 503})
                return self._send(200, text, "text/plain")
            pod = cluster.created.get(f"{namespace}/{parts[6]}")
            if pod is None:
                return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
            if len(parts) == 8 and parts[7] == "log":
                return self._send(200, _probe_log(pod, cluster.plaintext), "text/plain")
            waiting = [] if cluster.probe_phase != "Pending" else [{"name": "probe", "image": "x", "imageID": "", "ready": False, "restartCount": 0,
                                                                      "state": {"waiting": {"reason": "ImagePullBackOff"}}}]
            return self._send(200, {**pod, "status": {"phase": cluster.probe_phase, "containerStatuses": waiting}})

        def do_POST(self) -> None:  # http.server calls it by this name
            url = urlparse(self.path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if url.path.endswith("/pods"):
                denied = _admission(body) if cluster.gatekeeper else None
                if denied:
                    message = f'admission webhook "validation.gatekeeper.sh" denied the request: {denied}'
                    return self._send(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": "Forbidden", "code": 403})
                if parse_qs(url.query).get("dryRun") != ["All"]:
                    body["metadata"]["namespace"] = url.path.split("/")[4]
                    cluster.created[f"{url.path.split('/')[4]}/{body['metadata']['name']}"] = body
                return self._send(201, body)
            return self._send(405, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "not served here", "code": 405})

        def do_DELETE(self) -> None:  # http.server calls it by this name
            parts = urlparse(self.path).path.split("/")
            key = f"{parts[4]}/{parts[6]}" if len(parts) == 7 and parts[5] == "pods" else ""
            pod = cluster.created.pop(key, None)
            if pod is None:
                return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
            cluster.deleted.append(key)
            return self._send(200, pod)  # the API server answers a pod's deletion with the pod, now terminating

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


class Pki:
    """A throwaway CA (like the platform's) that issues server certificates."""

    def __init__(self, name: str = "test platform CA") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._x509, self._hashes, self._serialization, self._ec, self._oid = x509, hashes, serialization, ec, NameOID
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._cert = (
            self._builder(subject, self._key.public_key())
            .issuer_name(subject)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.ca_pem = self._cert.public_bytes(serialization.Encoding.PEM).decode()

    def _builder(self, subject: Any, public_key: Any) -> Any:
        now = datetime.datetime.now(datetime.UTC)
        return (
            self._x509.CertificateBuilder().subject_name(subject).public_key(public_key)
            .serial_number(self._x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        )

    def issue(self, names: list[str], directory: Path) -> tuple[Path, Path]:
        """A certificate for `names` signed by this CA: (certificate file, key file)."""
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        x509 = self._x509
        cert = (
            self._builder(x509.Name([x509.NameAttribute(self._oid.COMMON_NAME, names[0])]), key.public_key())
            .issuer_name(self._cert.subject)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(self._key, self._hashes.SHA256())
        )
        cert_file, key_file = directory / "gateway.crt", directory / "gateway.key"
        cert_file.write_bytes(cert.public_bytes(self._serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(self._serialization.Encoding.PEM, self._serialization.PrivateFormat.PKCS8, self._serialization.NoEncryption()))
        return cert_file, key_file


@contextmanager
def serving_gateway(answers: dict[tuple[str, str], int], cert_file: Path, key_file: Path) -> Iterator[tuple[str, int]]:
    """An HTTPS server standing for the ingress gateway: answers (Host, path) with the status in
    `answers` (404 otherwise), with the given certificate; yields its address."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # http.server calls it by this name
            status = answers.get((str(self.headers.get("Host", "")).split(":")[0], self.path), 404)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
