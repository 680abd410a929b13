"""The checks `make verify` runs: each reads the cluster's state for what the stack deploys.

Every check is a function `(api, expected) -> CheckResult`; it passes only when everything it
looks at is as the platform needs it, and names each object that is not. What a check reads
from a pod (Prometheus, Vault, the UIs, Falco's metrics) it reads through a port-forward to
one of the Service's ready pods, as `kubectl port-forward` does: the platform's
NetworkPolicies let the API server in only where it calls webhooks, so its service proxy
would be dropped (on EKS, where the API server is not on the node).

- `workloads-ready`: every Deployment, StatefulSet, DaemonSet and Argo Rollout the stack
  deploys exists and is ready at its desired replicas (DaemonSets: on every node they are
  scheduled to; Rollouts: not Degraded either).
- `crds-established`: every CustomResourceDefinition the platform installs is `Established`.
- `webhook-endpoints`: every admission webhook's Service has at least one ready endpoint (a
  webhook without one fails closed or is silently skipped, depending on its failure policy).
- `mesh-mtls`: a pod without a sidecar, in a namespace whose NetworkPolicies let it reach
  the meshed Services (so only the sidecar can refuse it), calls each in plaintext: every
  call must be refused (STRICT mTLS). The probe pod is deleted afterwards.
- `gateway-https`: the ingress gateway completes TLS on its address for every host routed
  through it, with a certificate trusted by the platform CA (and the system's roots) and
  valid for that host; every host answers its route, and the sample app's data endpoint
  (through the frontend, to the backend) returns 200.
- `policy-denies`: server-side dry runs in an app namespace: a privileged pod is denied by Pod
  Security, a privileged Deployment by Gatekeeper's `platform-privileged`, a `:latest` image by
  `platform-disallowedtags`, and a compliant pod is admitted. Dry runs create nothing.
- `prometheus-targets`: Prometheus reports no scrape target down.
- `ui-health`: Grafana, Loki, Jaeger, Kiali and Argo CD (those the stack installs) answer
  their health endpoints (their readiness probes' paths).
- `prometheus-rules`: every PrometheusRule group the stack deploys is loaded by Prometheus.
- `falco-rules`: every running Falco pod has loaded the upstream and the platform's rules
  files (`falcosecurity_falco_sha256_rules_files_info` on its metrics endpoint).
- `trivy-reports`: Trivy has produced at least one VulnerabilityReport.
- `vault-unsealed`: Vault reports itself initialised and unsealed.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward


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
    webhook_services: Sequence[tuple[str, str, str]] = ()
    """(webhook configuration, namespace, Service name) of every admission webhook backed by a Service."""
    app_namespace: str | None = None
    """An app namespace (sidecar injection on) for the policy dry runs; None: no Gatekeeper checks."""
    app_pod_security: str = "restricted"
    """The Pod Security level that namespace enforces."""
    compliant_image: str = "docker.io/istio/proxyv2:1.30.3"
    """An image from an allowed registry, pinned: the dry runs' (they pull nothing) and the
    plaintext probe's (Istio's proxy image carries curl; the nodes already hold it)."""
    prometheus: tuple[str, str, int] | None = None
    """(namespace, Service, port) of Prometheus."""
    vault: tuple[str, str, int, bool] | None = None
    """(namespace, Service, port, TLS) of Vault."""
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


def _get(read: Callable[[], Any]) -> Any | None:
    """The object, or None when the API server says it does not exist."""
    try:
        return read()
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def _rollout(api: client.ApiClient, name: str, namespace: str) -> Any:
    return client.CustomObjectsApi(api).get_namespaced_custom_object("argoproj.io", "v1alpha1", namespace, "rollouts", name)


def workloads_ready(api: client.ApiClient, expected: Expected) -> CheckResult:
    apps = client.AppsV1Api(api)
    readers: Mapping[str, Callable[[str, str], Any]] = {
        "Deployment": apps.read_namespaced_deployment,
        "StatefulSet": apps.read_namespaced_stateful_set,
        "DaemonSet": apps.read_namespaced_daemon_set,
        "Rollout": lambda name, namespace: _rollout(api, name, namespace),
    }
    result = CheckResult("workloads-ready", "every Deployment, StatefulSet, DaemonSet and Rollout is ready at its desired replicas")
    for kind, namespace, name in expected.workloads:
        result.checked += 1
        obj = _get(lambda: readers[kind](name, namespace))  # noqa: B023 - called at once
        if obj is None:
            result.failures.append(f"{kind} {namespace}/{name}: not found")
            continue
        if kind == "Rollout":
            # Argo Rollouts' own status: ready replicas, and a phase that is Degraded after an aborted rollout.
            want, status = (obj.get("spec") or {}).get("replicas", 1), obj.get("status") or {}
            if status.get("readyReplicas", 0) < want or status.get("phase") == "Degraded":
                result.failures.append(f"{kind} {namespace}/{name}: {status.get('readyReplicas', 0)}/{want} replicas ready, phase {status.get('phase', 'unknown')}"
                                       f"{': ' + status['message'] if status.get('message') else ''}")
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


def _pod(name: str, image: str, *, privileged: bool = False, command: Sequence[str] = ("sleep", "1")) -> dict[str, Any]:
    """A pod that runs once, for at most 5 minutes."""
    spec = {"restartPolicy": "Never", "activeDeadlineSeconds": 300, **_pod_spec(image, privileged=privileged, command=command)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": dict(PROBE_LABELS)}, "spec": spec}


def _deployment(name: str, image: str, *, privileged: bool = False) -> dict[str, Any]:
    selector = {"app": PROBE_LABELS["app"]}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": dict(PROBE_LABELS)},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": dict(PROBE_LABELS)}, "spec": _pod_spec(image, privileged=privileged)}},
    }


def policy_denies(api: client.ApiClient, expected: Expected) -> CheckResult:
    """Dry runs in an app namespace. A privileged Pod there never reaches Gatekeeper: Pod
    Security (`restricted`, enforced on Pods) refuses it first, and must. So Gatekeeper's
    privileged rule is proven on a Deployment, which Pod Security only warns about and every
    platform constraint also matches."""
    result = CheckResult("policy-denies", "privileged workloads and :latest images are denied (Pod Security, Gatekeeper's constraints), a compliant pod is admitted (dry runs)")
    if expected.app_namespace is None:
        return result
    core, apps, ns = client.CoreV1Api(api), client.AppsV1Api(api), expected.app_namespace
    image = expected.compliant_image
    psa = expected.app_pod_security in ("baseline", "restricted")
    cases: list[tuple[str, Callable[..., Any], dict[str, Any], str | None]] = [
        ("privileged pod", core.create_namespaced_pod, _pod("verify-privileged", image, privileged=True),
         "PodSecurity" if psa else "[platform-privileged]"),
        ("privileged Deployment", apps.create_namespaced_deployment, _deployment("verify-privileged", image, privileged=True), "[platform-privileged]"),
        # Deliberately the floating tag the platform forbids: the dry run must be denied.
        (":latest pod", core.create_namespaced_pod, _pod("verify-latest", f"{image.rsplit(':', 1)[0]}:latest"), "[platform-disallowedtags]"),
        ("compliant pod", core.create_namespaced_pod, _pod("verify-compliant", image), None),
    ]
    for what, create, body, denied_by in cases:
        result.checked += 1
        try:
            create(ns, body, dry_run="All")
            if denied_by is not None:
                result.failures.append(f"{what}: admitted in {ns}, should be denied by {denied_by.strip('[]')}")
        except ApiException as error:
            message = _message(error)
            if denied_by is None:
                result.failures.append(f"{what}: refused in {ns}: {message}")
            elif denied_by not in message:
                result.failures.append(f"{what}: refused in {ns}, but not by {denied_by.strip('[]')}: {message}")
    return result


_PROBE_SCRIPT = (
    'for target in "$@"; do '
    "code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \"http://$target/\"); "
    'echo "$target exit=$? http=$code"; done'
)
"""Each target in plaintext HTTP: one line `<host:port> exit=<curl's exit code> http=<status>`."""
_PROBE_LINE = re.compile(r"^(\S+) exit=(\d+) http=(\d*)$")
_REFUSED = {52: "empty reply", 56: "connection reset"}
"""curl's exit codes when the server side closes a plaintext connection: what a STRICT sidecar does."""
_INCONCLUSIVE = {
    6: "the name did not resolve",
    7: "connection refused: nothing listens behind the Service",
    28: "no answer within 5 s: something dropped the request before the sidecar (a NetworkPolicy?)",
}


class ProbeFailed(Exception):
    """A probe pod did not run to completion."""


def _run_probe(core: client.CoreV1Api, namespace: str, name: str, command: Sequence[str], expected: Expected) -> str:
    """Run a probe pod to completion and return its log; the pod is deleted whatever happens."""
    core.create_namespaced_pod(namespace, _pod(name, expected.compliant_image, command=command))
    try:
        deadline = time.monotonic() + expected.probe_timeout
        while True:
            pod = core.read_namespaced_pod(name, namespace)
            phase = pod.status.phase if pod.status else None
            if phase in ("Succeeded", "Failed"):
                return str(core.read_namespaced_pod_log(name, namespace, container="probe"))
            if time.monotonic() > deadline:
                waiting = [s.state.waiting.reason for s in (pod.status.container_statuses or []) if s.state and s.state.waiting] if pod.status else []
                raise ProbeFailed(f"still {phase or 'unscheduled'} after {expected.probe_timeout:.0f} s{' (' + ', '.join(waiting) + ')' if waiting else ''}")
            time.sleep(1)
    finally:
        try:
            core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:
                raise


def mesh_mtls(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("mesh-mtls", "a pod without a sidecar cannot call a meshed Service in plaintext (STRICT mTLS)")
    core = client.CoreV1Api(api)
    for namespace, targets in sorted(expected.plaintext_probes.items()):
        names = {f"{service}.{ns}.svc.cluster.local:{port}": f"{ns}/{service}:{port}" for ns, service, port in targets}
        result.checked += len(names)
        try:
            log = _run_probe(core, namespace, f"verify-mtls-{secrets.token_hex(3)}", ["sh", "-c", _PROBE_SCRIPT, "probe", *names], expected)
        except (ApiException, ProbeFailed) as error:
            result.failures.append(f"the plaintext probe pod in {namespace} did not run: {_reason(error)}")
            continue
        seen = {m[1]: (int(m[2]), m[3]) for m in (_PROBE_LINE.match(line.strip()) for line in log.splitlines()) if m}
        for address, name in names.items():
            if address not in seen:
                result.failures.append(f"{name}: the probe reported nothing for it (its log: {log.strip()[-200:] or 'empty'})")
                continue
            code, status = seen[address]
            if code == 0:
                result.failures.append(f"{name}: answered HTTP {status} to a plaintext request from {namespace}: mTLS is not STRICT for it")
            elif code not in _REFUSED:
                result.failures.append(f"{name}: inconclusive, curl exit {code} ({_INCONCLUSIVE.get(code, 'see curl exit codes')})")
    return result


def _gateway_address(api: client.ApiClient, gateway: Gateway) -> tuple[str, int] | str:
    """The gateway's (host, port), or why there is none."""
    if gateway.address is not None:
        return gateway.address
    service = _get(lambda: client.CoreV1Api(api).read_namespaced_service(gateway.service, gateway.namespace))
    if service is None:
        return f"Service {gateway.namespace}/{gateway.service}: not found"
    if service.spec.type != "LoadBalancer":
        return (f"Service {gateway.namespace}/{gateway.service} is a {service.spec.type}: pass --gateway-address HOST:PORT "
                "(kind maps it to localhost:<cluster.ingress.httpsHostPort>)")
    ingress = (service.status.load_balancer.ingress if service.status and service.status.load_balancer else None) or []
    if not ingress:
        return f"Service {gateway.namespace}/{gateway.service}: its load balancer has no address yet"
    return (ingress[0].hostname or ingress[0].ip, 443)


def _https_get(address: tuple[str, int], host: str, path: str, context: ssl.SSLContext, timeout: float = 10.0) -> int:
    """GET https://host/path from `address` (SNI and Host: `host`); the response's status."""
    with socket.create_connection(address, timeout=timeout) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
        connection = http.client.HTTPConnection(host, timeout=timeout)
        connection.sock = tls
        connection.request("GET", path)
        return connection.getresponse().status


def gateway_https(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("gateway-https", "the ingress gateway serves every routed host over HTTPS with a trusted certificate; the sample app answers 200")
    gateway = expected.gateway
    if gateway is None:
        return result
    address = _gateway_address(api, gateway)
    if isinstance(address, str):
        result.checked += 1
        result.failures.append(address)
        return result
    context = ssl.create_default_context()
    if gateway.ca_pem:
        context.load_verify_locations(cadata=gateway.ca_pem)
    hint = "" if gateway.ca_pem else "; trust the platform CA with --ca-file (the stack's platformCaCertificate output)"
    asks: list[tuple[str, str, int | None]] = [(host, path, None) for host, path in zip(gateway.hosts, gateway.paths, strict=True)]
    asks += [(*gateway.sample, 200)] if gateway.sample else []
    for host, path, wanted in asks:
        result.checked += 1
        where = f"https://{host}{path} (at {address[0]}:{address[1]})"
        try:
            status = _https_get(address, host, path, context)
        except ssl.SSLCertVerificationError as error:
            result.failures.append(f"{where}: certificate not trusted for {host}: {error.verify_message}{hint}")
        except (OSError, http.client.HTTPException) as error:
            result.failures.append(f"{where}: {type(error).__name__}: {error}")
        else:
            if wanted is not None and status != wanted:
                result.failures.append(f"{where}: HTTP {status}, expected {wanted}")
            elif status >= 500:
                result.failures.append(f"{where}: HTTP {status}: the gateway has no healthy backend for the route")
    return result


_RULES_FILE = re.compile(r'^falcosecurity_falco_sha256_rules_files_info\{[^}]*\bfile_name="([^"]+)"')


def falco_rules(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("falco-rules", "every running Falco pod has loaded the upstream and the platform's rules files")
    falco = expected.falco
    if falco is None:
        return result
    core = client.CoreV1Api(api)
    running = [p for p in core.list_namespaced_pod(falco.namespace, label_selector=falco.selector).items if p.status and p.status.phase == "Running"]
    if not running:
        result.checked += 1
        result.failures.append(f"no Falco pod is running in {falco.namespace} (kubectl -n {falco.namespace} get pods)")
    for pod in running:
        result.checked += 1
        name = pod.metadata.name
        try:
            status, body = _forward_get(api, falco.namespace, name, falco.port, "metrics")
            if status != 200:
                raise ReadFailed(f"HTTP {status} from /metrics")
        except READ_ERRORS as error:
            result.failures.append(f"Falco pod {falco.namespace}/{name}: its metrics could not be read ({_reason(error)})")
            continue
        loaded = {m[1] for m in (_RULES_FILE.match(line) for line in body.decode().splitlines()) if m}
        missing = [f for f in falco.rules_files if f not in loaded]
        if missing:
            result.failures.append(
                f"Falco pod {falco.namespace}/{name}: not loaded: {', '.join(missing)} (loaded: {', '.join(sorted(loaded)) or 'none'}; "
                f"kubectl -n {falco.namespace} logs {name} -c falco)"
            )
    return result


def _message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.body or error.reason)


def _reason(error: Exception) -> str:
    """One line for a failed read: the API's status and message, or the parse error."""
    if isinstance(error, ApiException):
        return f"HTTP {error.status}: {_message(error)}" if error.status else f"{error.reason}"
    return f"{type(error).__name__}: {error}"


class ReadFailed(Exception):
    """A pod answered a read with an error status, or no pod could answer it."""


READ_ERRORS = (ApiException, ReadFailed, OSError, http.client.HTTPException, ValueError, KeyError)
"""What a read through a port-forward can fail with (ValueError/KeyError: an answer not as expected)."""


def _pod_behind(api: client.ApiClient, namespace: str, service: str, port: int) -> tuple[str, int]:
    """A ready pod behind `port` of a Service, and the container port that port maps to."""
    spec = client.CoreV1Api(api).read_namespaced_service(service, namespace).spec
    wanted = next((p for p in spec.ports or [] if p.port == port), None)
    if wanted is None:
        raise ReadFailed(f"Service {namespace}/{service} has no port {port}")
    slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(namespace, label_selector=f"kubernetes.io/service-name={service}").items
    for endpoint_slice in slices:
        number = next((p.port for p in endpoint_slice.ports or [] if (p.name or "") == (wanted.name or "")), None)
        for endpoint in endpoint_slice.endpoints or [] if number is not None else []:
            ready = endpoint.conditions is None or endpoint.conditions.ready is not False
            if ready and endpoint.target_ref is not None and endpoint.target_ref.kind == "Pod":
                return endpoint.target_ref.name, number
    raise ReadFailed(f"no ready pod behind Service {namespace}/{service}:{port}")


def _forward_get(api: client.ApiClient, namespace: str, pod: str, port: int, path: str, *, tls: bool = False, timeout: float = 15.0) -> tuple[int, bytes]:
    """GET `path` from a pod's port through a port-forward, as `kubectl port-forward` does: the
    kubelet connects inside the pod, so the platform's NetworkPolicies (which let only their
    callers in, and not the API server) do not stand in the way. (status, body)."""
    forward = portforward(client.CoreV1Api(api).connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))
    try:
        sock: Any = forward.socket(port)
        sock.settimeout(timeout)
        if tls:
            # In-cluster TLS, inside an authenticated tunnel to this very pod: what is read is
            # status, nothing secret is sent, so the pod's certificate is not verified here.
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(socket.socket(fileno=os.dup(sock.fileno())))
        connection = http.client.HTTPConnection("localhost", port, timeout=timeout)
        connection.sock = sock
        connection.request("GET", "/" + path.lstrip("/"))
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        refused = forward.error(port)  # the kubelet's reason, when it could not connect inside the pod
        raise ReadFailed(refused.strip()) if refused else error from None
    finally:
        forward.close()


def _service_get(api: client.ApiClient, namespace: str, service: str, port: int, path: str, *, tls: bool = False) -> tuple[int, bytes]:
    """GET `path` of a Service's port, from one of its ready pods (see `_forward_get`)."""
    pod, number = _pod_behind(api, namespace, service, port)
    return _forward_get(api, namespace, pod, number, path, tls=tls)


def _proxy(api: client.ApiClient, namespace: str, service: str, port: int, path: str, tls: bool = False) -> Any:
    """GET `path` of a Service as JSON; an error status raises ReadFailed."""
    status, body = _service_get(api, namespace, service, port, path, tls=tls)
    if status != 200:
        raise ReadFailed(f"HTTP {status} from /{path}")
    return json.loads(body)


def prometheus_targets(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("prometheus-targets", "Prometheus reports no scrape target down")
    if expected.prometheus is None:
        return result
    namespace, service, port = expected.prometheus
    try:
        targets = _proxy(api, namespace, service, port, "api/v1/targets")["data"]["activeTargets"]
    except READ_ERRORS as error:
        result.checked += 1
        result.failures.append(f"Prometheus {namespace}/{service}: its targets could not be read ({_reason(error)})")
        return result
    for target in targets:
        result.checked += 1
        if target.get("health") != "up":
            labels = target.get("labels") or {}
            result.failures.append(
                f"{target.get('scrapePool')}: {labels.get('namespace', '')}/{labels.get('pod') or labels.get('instance', '')} "
                f"is {target.get('health')} ({target.get('lastError') or 'no error reported'})"
            )
    return result


def vault_unsealed(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("vault-unsealed", "Vault is initialised and unsealed")
    if expected.vault is None:
        return result
    namespace, service, port, tls = expected.vault
    result.checked += 1
    try:
        status = _proxy(api, namespace, service, port, "v1/sys/seal-status", tls=tls)
    except READ_ERRORS as error:
        result.failures.append(f"Vault {namespace}/{service}: its seal status could not be read ({_reason(error)})")
        return result
    if not status.get("initialized"):
        result.failures.append(f"Vault {namespace}/{service}: not initialised (the bootstrap Job initialises it: kubectl -n vault logs job/vault-bootstrap)")
    elif status.get("sealed"):
        result.failures.append(f"Vault {namespace}/{service}: sealed")
    return result


def trivy_reports(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("trivy-reports", "Trivy has produced at least one VulnerabilityReport")
    if not expected.trivy:
        return result
    result.checked += 1
    reports = client.CustomObjectsApi(api).list_cluster_custom_object("aquasecurity.github.io", "v1alpha1", "vulnerabilityreports", limit=1)
    if not reports.get("items"):
        result.failures.append("no VulnerabilityReport yet: Trivy scans each workload's images after it starts (kubectl -n trivy-system logs deploy/trivy-operator)")
    return result


def ui_health(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("ui-health", "every UI the stack installs answers its health endpoint")
    for what, namespace, service, port, path in expected.ui:
        result.checked += 1
        try:
            status, _ = _service_get(api, namespace, service, port, path)
            if status >= 400:
                raise ReadFailed(f"HTTP {status}")
        except READ_ERRORS as error:
            result.failures.append(f"{what} ({namespace}/{service}:{port}/{path}): {_reason(error)}")
    return result


def prometheus_rules(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("prometheus-rules", "Prometheus has loaded every rule group the stack deploys")
    if expected.prometheus is None or not expected.rule_groups:
        return result
    namespace, service, port = expected.prometheus
    try:
        groups = {g.get("name") for g in _proxy(api, namespace, service, port, "api/v1/rules")["data"]["groups"]}
    except READ_ERRORS as error:
        result.checked += 1
        result.failures.append(f"Prometheus {namespace}/{service}: its rules could not be read ({_reason(error)})")
        return result
    for name in expected.rule_groups:
        result.checked += 1
        if name not in groups:
            result.failures.append(f"rule group {name}: not loaded (the operator has not picked up its PrometheusRule: check its labels and the operator's log)")
    return result


CHECKS: Sequence[tuple[str, Callable[[client.ApiClient, Expected], CheckResult], str]] = (
    ("workloads-ready", workloads_ready, "every Deployment, StatefulSet, DaemonSet and Rollout of the stack is ready at its desired replicas"),
    ("crds-established", crds_established, "every CRD the platform installs is Established"),
    ("webhook-endpoints", webhook_endpoints, "every admission webhook's Service has a ready endpoint"),
    ("mesh-mtls", mesh_mtls, "a pod without a sidecar calling each meshed Service in plaintext is refused (STRICT mTLS); the probe pod is deleted"),
    ("gateway-https", gateway_https, "the ingress gateway serves each routed host over HTTPS with a certificate the platform CA trusts; the sample app answers 200"),
    ("policy-denies", policy_denies, "dry runs: a privileged pod (Pod Security), a privileged Deployment and a :latest image (Gatekeeper) are denied, a compliant pod is admitted"),
    ("prometheus-targets", prometheus_targets, "Prometheus reports no scrape target down"),
    ("ui-health", ui_health, "Grafana, Loki, Jaeger, Kiali and Argo CD (where installed) answer their health endpoints"),
    ("prometheus-rules", prometheus_rules, "Prometheus has loaded every rule group of the stack's PrometheusRules"),
    ("falco-rules", falco_rules, "every running Falco pod has loaded the upstream and the platform's rules files"),
    ("trivy-reports", trivy_reports, "Trivy has produced at least one VulnerabilityReport"),
    ("vault-unsealed", vault_unsealed, "Vault is initialised and unsealed"),
)
"""(name, check, what it proves), in the order they run."""


def measure_footprint(api: client.ApiClient, expected: Expected) -> dict[str, Any]:
    """What the cluster actually runs: the requests of its running pods (scheduled) and, from
    metrics-server, what they use — beside the offline estimate, to check the budget against reality."""
    from components.quantity import cpu_millicores, memory_mib

    scheduled = [0.0, 0.0]
    for pod in client.CoreV1Api(api).list_pod_for_all_namespaces(field_selector="status.phase=Running").items:
        for container in pod.spec.containers or []:
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
        report["used_unavailable"] = _reason(error)
        return report
    used = [0.0, 0.0]
    for item in metrics.get("items") or []:
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
