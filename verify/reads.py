"""How the checks read: objects through the Kubernetes API; a pod's HTTP endpoint through a
port-forward, as `kubectl port-forward` does (the kubelet connects inside the pod, so the
platform's NetworkPolicies, which admit the API server only at webhooks, stay as they are —
the API server's service proxy would be dropped by them on EKS); the gateway over TLS from
where `make verify` runs."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward


def get_or_none(read: Callable[[], Any]) -> Any | None:
    """The object, or None when the API server says it does not exist."""
    try:
        return read()
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.body or error.reason)


def reason(error: Exception) -> str:
    """One line for a failed read: the API's status and message, or the parse error."""
    if isinstance(error, ApiException):
        return f"HTTP {error.status}: {api_message(error)}" if error.status else f"{error.reason}"
    return f"{type(error).__name__}: {error}"


class ReadFailed(Exception):
    """A pod answered a read with an error status, or no pod could answer it."""


READ_ERRORS = (ApiException, ReadFailed, OSError, http.client.HTTPException, ValueError, KeyError)
"""What a read through a port-forward can fail with (ValueError/KeyError: an answer not as expected)."""


def pod_behind(api: client.ApiClient, namespace: str, service: str, port: int) -> tuple[str, int]:
    """A ready pod behind `port` of a Service, and the container port that port maps to."""
    spec = client.CoreV1Api(api).read_namespaced_service(service, namespace).spec
    wanted = next((p for p in (spec.ports if spec else None) or [] if p.port == port), None)
    if wanted is None:
        raise ReadFailed(f"Service {namespace}/{service} has no port {port}")
    slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(namespace, label_selector=f"kubernetes.io/service-name={service}").items
    for endpoint_slice in slices:
        number = next((p.port for p in endpoint_slice.ports or [] if (p.name or "") == (wanted.name or "")), None)
        for endpoint in endpoint_slice.endpoints or [] if number is not None else []:
            ready = endpoint.conditions is None or endpoint.conditions.ready is not False
            if ready and endpoint.target_ref is not None and endpoint.target_ref.kind == "Pod" and endpoint.target_ref.name and number is not None:
                return endpoint.target_ref.name, number
    raise ReadFailed(f"no ready pod behind Service {namespace}/{service}:{port}")


def forward_get(api: client.ApiClient, namespace: str, pod: str, port: int, path: str, *, tls: bool = False, timeout: float = 15.0) -> tuple[int, bytes]:
    """GET `path` from a pod's port through a port-forward, as `kubectl port-forward` does: the
    kubelet connects inside the pod, so the platform's NetworkPolicies (which let only their
    callers in, and not the API server) do not stand in the way. (status, body)."""
    forward = portforward(client.CoreV1Api(api).connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))
    raw: Any = forward.socket(port)
    raw.settimeout(timeout)
    sock: Any = raw
    try:
        if tls:
            # In-cluster TLS, inside an authenticated tunnel to this very pod: what is read is
            # status, nothing secret is sent, so the pod's certificate is not verified here.
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(socket.socket(fileno=os.dup(raw.fileno())))
        connection = http.client.HTTPConnection("localhost", port, timeout=timeout)
        connection.sock = sock
        connection.request("GET", "/" + path.lstrip("/"))
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        refused = forward.error(port)  # the kubelet's reason, when it could not connect inside the pod
        raise ReadFailed(refused.strip()) if refused else error from None
    finally:
        if sock is not raw:
            sock.close()
        _drain(raw)
        forward.close()


def _drain(sock: Any) -> None:
    """Read what is left: closing a socket with unread bytes resets the client's relay thread.
    (http.client has closed it already when the response said `Connection: close`.)"""
    try:
        sock.setblocking(False)
        while sock.recv(65536):
            pass
    except OSError:
        pass


def service_get(api: client.ApiClient, namespace: str, service: str, port: int, path: str, *, tls: bool = False) -> tuple[int, bytes]:
    """GET `path` of a Service's port, from one of its ready pods (see `forward_get`)."""
    pod, number = pod_behind(api, namespace, service, port)
    return forward_get(api, namespace, pod, number, path, tls=tls)


def ok_body(answer: tuple[int, bytes], path: str) -> bytes:
    """The body of a 200 answer to GET `path`; any other status raises ReadFailed."""
    status, body = answer
    if status != 200:
        raise ReadFailed(f"HTTP {status} from /{path}")
    return body


def service_json(api: client.ApiClient, namespace: str, service: str, port: int, path: str, tls: bool = False) -> Any:
    """GET `path` of a Service as JSON; an error status raises ReadFailed."""
    return json.loads(ok_body(service_get(api, namespace, service, port, path, tls=tls), path))


def https_get(address: tuple[str, int], host: str, path: str, context: ssl.SSLContext, timeout: float = 10.0) -> int:
    """GET https://host/path from `address` (SNI and Host: `host`); the response's status."""
    with socket.create_connection(address, timeout=timeout) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
        connection = http.client.HTTPConnection(host, timeout=timeout)
        connection.sock = tls
        connection.request("GET", path)
        return connection.getresponse().status
