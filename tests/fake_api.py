"""A local HTTP server answering the Kubernetes API paths `make verify` reads, from objects given
as dicts — the real Kubernetes client talks to it over HTTP, nothing is patched. Port-forwards
speak the API server's WebSocket protocol (`v4.channel.k8s.io`) and connect to a real local
HTTP(S) server standing for the pod's port."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import yaml

_PLURALS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets", "Rollout": "rollouts"}


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
        self.reports: list[dict[str, Any]] = []  # VulnerabilityReports
        self.gatekeeper = True  # whether Gatekeeper's constraints are enforced on pod and Deployment creations
        self.pod_security: dict[str, str] = {}  # namespace -> the Pod Security level it enforces
        self.pods: list[dict[str, Any]] = []  # running pods (for the footprint)
        self.pod_metrics: list[dict[str, Any]] | None = []  # metrics-server's PodMetrics; None: not installed
        self.plaintext: dict[str, tuple[int, str]] = {}  # "host:port" -> (curl's exit code, HTTP status) for a plaintext call; default refused
        self.probe_phase = "Succeeded"  # the phase a created probe pod reports
        self.created: dict[str, dict[str, Any]] = {}  # "namespace/name" -> pods created (not dry runs) and not yet deleted
        self.deleted: list[str] = []  # "namespace/name" of deleted pods
        self.pod_http: dict[tuple[str, str, int], dict[str, Any]] = {}  # (namespace, pod, port) -> {path: answer}: what a port-forward reaches
        self.pod_tls: dict[tuple[str, str, int], tuple[Path, Path]] = {}  # (namespace, pod, port) -> (certificate, key) of a TLS port
        self._listeners: dict[tuple[str, str, int], ThreadingHTTPServer] = {}

    def service(self, obj: Mapping[str, Any], answers: dict[str, Any] | None = None, ready: bool = True) -> dict[str, Any]:
        """A Service (from the render) with one pod, `<name>-0`, behind all its ports; returns what
        that pod answers, by path without the leading slash (a value, or (status, value))."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        self.objects[f"/api/v1/namespaces/{namespace}/services/{name}"] = _as_served(obj)
        pod = f"{name}-0"
        ports = [{"name": p.get("name") or "", "protocol": "TCP", "port": p["targetPort"] if isinstance(p.get("targetPort"), int) else p["port"]}
                 for p in obj["spec"]["ports"]]
        self.slices[f"{namespace}/{name}"] = [{
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4", "ports": ports,
            "metadata": {"name": f"{name}-abc", "namespace": namespace, "labels": {"kubernetes.io/service-name": name}},
            "endpoints": [{"addresses": ["10.0.0.8"], "conditions": {"ready": ready}, "targetRef": {"kind": "Pod", "name": pod, "namespace": namespace}}],
        }]
        answers = {} if answers is None else answers
        for port in ports:
            self.pod_http[(namespace, pod, port["port"])] = answers
        return answers

    def answers(self, namespace: str, service: str) -> dict[str, Any]:
        """What the pod behind a Service registered with `service` answers (to change it)."""
        return self.pod_http[(namespace, f"{service}-0", self.slices[f"{namespace}/{service}"][0]["ports"][0]["port"])]

    def listener(self, key: tuple[str, str, int]) -> tuple[str, int] | None:
        """The address of a local server standing for a pod's port (started on first use); None: nothing listens."""
        if key not in self.pod_http:
            return None
        if key not in self._listeners:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _pod_handler(self.pod_http, key))
            if key in self.pod_tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(*self.pod_tls[key])
                server.socket = context.wrap_socket(server.socket, server_side=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._listeners[key] = server
        host, port = self._listeners[key].server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        for server in self._listeners.values():
            server.shutdown()
            server.server_close()
        self._listeners.clear()

    def workload(self, obj: Mapping[str, Any], ready: int | None = None) -> None:
        kind, meta = obj["kind"], obj["metadata"]
        body = _as_served(obj)
        want = (body.get("spec") or {}).get("replicas", 1)
        ready = want if ready is None else ready
        if kind == "DaemonSet":
            body["status"] = {"desiredNumberScheduled": 1, "numberReady": min(ready, 1), "currentNumberScheduled": 1, "numberMisscheduled": 0}
        elif kind == "Rollout":
            body["status"] = {"replicas": want, "readyReplicas": ready, "phase": "Healthy" if ready >= want else "Progressing"}
        else:
            body["status"] = {"replicas": want, "readyReplicas": ready}
        group = "argoproj.io/v1alpha1" if kind == "Rollout" else "apps/v1"
        self.objects[f"/apis/{group}/namespaces/{meta['namespace']}/{_PLURALS[kind]}/{meta['name']}"] = body

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


def _pod_handler(pods: Mapping[tuple[str, str, int], Mapping[str, Any]], key: tuple[str, str, int]) -> type[BaseHTTPRequestHandler]:
    """Answers GETs from `pods[key]` (read at each request, so tests can change it): a JSON value,
    a text, or (status, either); 404 for other paths."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # http.server calls it by this name
            answer = pods[key].get(self.path.lstrip("/"), (404, "not found"))
            status, body = answer if isinstance(answer, tuple) else (200, answer)
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _frame(payload: bytes, opcode: int = 2) -> bytes:
    """A WebSocket frame from the server (unmasked)."""
    size = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([size]) if size < 126 else bytes([126]) + size.to_bytes(2, "big") if size < 65536 else bytes([127]) + size.to_bytes(8, "big"))
    return head + payload


def _read_frame(stream: Any) -> tuple[int, bytes] | None:
    """A WebSocket frame from the client (masked): (opcode, payload); None at the end of the stream."""
    head = stream.read(2)
    if len(head) < 2:
        return None
    size = head[1] & 0x7F
    size = int.from_bytes(stream.read({126: 2, 127: 8}[size]), "big") if size >= 126 else size
    mask = stream.read(4) if head[1] & 0x80 else b"\0\0\0\0"
    return head[0] & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(stream.read(size)))


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


def _admission(obj: Mapping[str, Any], namespace: str, cluster: Cluster) -> str | None:
    """The API server's answer to a Pod or Deployment (None: admitted): Pod Security first (it
    enforces on Pods only), then Gatekeeper's webhook, worded as each words it."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    containers = (obj["spec"] if kind == "Pod" else obj["spec"]["template"]["spec"])["containers"]
    privileged = [c["name"] for c in containers if (c.get("securityContext") or {}).get("privileged")]
    level = cluster.pod_security.get(namespace)
    if kind == "Pod" and privileged and level in ("baseline", "restricted"):
        # `{level}:latest` is the Pod Security policy version the namespace enforces, not an image tag.
        return (f'pods "{name}" is forbidden: violates PodSecurity "{level}:latest": privileged '
                f'(container "{privileged[0]}" must not set securityContext.privileged=true)')
    if not cluster.gatekeeper:
        return None
    for c in containers:
        if c["name"] in privileged:
            return f'admission webhook "validation.gatekeeper.sh" denied the request: [platform-privileged] {kind} {name}: container {c["name"]} is privileged'
        if str(c.get("image", "")).endswith(":latest"):  # the floating tag K8sDisallowedTags refuses
            return (f'admission webhook "validation.gatekeeper.sh" denied the request: [platform-disallowedtags] '
                    f'container <{c["name"]}> uses a disallowed tag <{c["image"]}>')
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
            if url.path.startswith("/api/v1/namespaces/") and len(parts) == 8 and parts[5] == "pods" and parts[7] == "portforward":
                return self._port_forward(parts[4], parts[6], int(parse_qs(url.query)["ports"][0]))
            if url.path.startswith("/api/v1/namespaces/") and len(parts) >= 6 and parts[5] == "pods":
                return self._pods(url, parts)
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
            pod = cluster.created.get(f"{namespace}/{parts[6]}")
            if pod is None:
                return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
            if len(parts) == 8 and parts[7] == "log":
                return self._send(200, _probe_log(pod, cluster.plaintext), "text/plain")
            waiting = [] if cluster.probe_phase != "Pending" else [{"name": "probe", "image": "x", "imageID": "", "ready": False, "restartCount": 0,
                                                                      "state": {"waiting": {"reason": "ImagePullBackOff"}}}]
            return self._send(200, {**pod, "status": {"phase": cluster.probe_phase, "containerStatuses": waiting}})

        def _port_forward(self, namespace: str, pod: str, port: int) -> None:
            """The API server's port-forward: WebSocket, a data and an error channel for the port,
            each opened with the port number; data relayed to the pod's port both ways."""
            self.close_connection = True
            accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] + _WEBSOCKET_GUID).encode()).digest()).decode()
            self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n").encode())
            number = port.to_bytes(2, "little")
            self.wfile.write(_frame(b"\0" + number) + _frame(b"\1" + number))
            address = cluster.listener((namespace, pod, port))
            if address is None:
                self.wfile.write(_frame(b"\1" + f"error forwarding port {port} to pod {pod}: connection refused".encode()) + _frame(b"", 8))
                return self.wfile.flush()
            self.wfile.flush()
            with socket.create_connection(address) as backend:
                def upstream() -> None:
                    try:
                        while (frame := _read_frame(self.rfile)) is not None and frame[0] != 8:
                            if frame[0] == 2 and frame[1][:1] == b"\0":
                                backend.sendall(frame[1][1:])
                        backend.shutdown(socket.SHUT_WR)
                    except (OSError, ValueError):
                        pass  # either side went away first: the relay is over

                threading.Thread(target=upstream, daemon=True).start()
                while chunk := backend.recv(65536):
                    self.wfile.write(_frame(b"\0" + chunk))
                    self.wfile.flush()
            self.wfile.write(_frame(b"", 8))
            self.wfile.flush()

        def do_POST(self) -> None:  # http.server calls it by this name
            url = urlparse(self.path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            dry_run = parse_qs(url.query).get("dryRun") == ["All"]
            if url.path.endswith("/pods") or (url.path.endswith("/deployments") and dry_run):
                denied = _admission(body, url.path.split("/")[-2], cluster)
                if denied:
                    return self._send(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": denied, "reason": "Forbidden", "code": 403})
                if not dry_run:
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
        cluster.stop()


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
