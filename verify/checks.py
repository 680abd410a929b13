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
- `webhook-endpoints`: every webhook configuration the stack deploys exists, and every Service
  its webhooks call has a ready endpoint (a webhook without one fails closed or is silently
  skipped, depending on its failure policy).
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
import re
import secrets
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .model import CheckResult, Expected, Gateway
from .probes import ProbeFailed, deployment_body, pod_body, run_probe
from .reads import READ_ERRORS, ReadFailed, api_message, forward_get, get_or_none, https_get, ok_body, reason, service_get, service_json


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
        obj = get_or_none(lambda: readers[kind](name, namespace))  # noqa: B023 - called at once
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
        crd = get_or_none(lambda: extensions.read_custom_resource_definition(name))  # noqa: B023 - called at once
        if crd is None:
            result.failures.append(f"CRD {name}: not found")
            continue
        conditions = {c.type: c.status for c in (crd.status.conditions or [])} if crd.status else {}
        if conditions.get("Established") != "True":
            result.failures.append(f"CRD {name}: not Established ({conditions.get('Established', 'no condition')})")
    return result


def webhook_endpoints(api: client.ApiClient, expected: Expected) -> CheckResult:
    """Each webhook configuration the stack deploys, read from the cluster (it must exist), and
    every Service its webhooks call: each must have a ready endpoint."""
    admission, discovery = client.AdmissionregistrationV1Api(api), client.DiscoveryV1Api(api)
    readers = {"ValidatingWebhookConfiguration": admission.read_validating_webhook_configuration,
               "MutatingWebhookConfiguration": admission.read_mutating_webhook_configuration}
    result = CheckResult("webhook-endpoints", "every admission webhook's Service has a ready endpoint")
    for kind, name in expected.webhooks:
        configuration = get_or_none(lambda: readers[kind](name))  # noqa: B023 - called at once
        if configuration is None:
            result.checked += 1
            result.failures.append(f"{kind} {name}: not found")
            continue
        services = sorted({(w.client_config.service.namespace, w.client_config.service.name)
                           for w in configuration.webhooks or [] if w.client_config and w.client_config.service})
        for namespace, service in services:
            result.checked += 1
            slices = discovery.list_namespaced_endpoint_slice(namespace, label_selector=f"kubernetes.io/service-name={service}").items
            ready = [e for s in slices for e in (s.endpoints or []) if e.conditions is None or e.conditions.ready is not False]
            if not ready:
                result.failures.append(f"{name}: Service {namespace}/{service} has no ready endpoint")
    return result


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
        ("privileged pod", core.create_namespaced_pod, pod_body("verify-privileged", image, privileged=True),
         "PodSecurity" if psa else "[platform-privileged]"),
        ("privileged Deployment", apps.create_namespaced_deployment, deployment_body("verify-privileged", image, privileged=True), "[platform-privileged]"),
        # Deliberately the floating tag the platform forbids: the dry run must be denied.
        (":latest pod", core.create_namespaced_pod, pod_body("verify-latest", f"{image.rsplit(':', 1)[0]}:latest"), "[platform-disallowedtags]"),
        ("compliant pod", core.create_namespaced_pod, pod_body("verify-compliant", image), None),
    ]
    for what, create, body, denied_by in cases:
        result.checked += 1
        try:
            create(ns, body, dry_run="All")
            if denied_by is not None:
                result.failures.append(f"{what}: admitted in {ns}, should be denied by {denied_by.strip('[]')}")
        except ApiException as error:
            message = api_message(error)
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


def mesh_mtls(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("mesh-mtls", "a pod without a sidecar cannot call a meshed Service in plaintext (STRICT mTLS)")
    core = client.CoreV1Api(api)
    for namespace, targets in sorted(expected.plaintext_probes.items()):
        names = {f"{service}.{ns}.svc.cluster.local:{port}": f"{ns}/{service}:{port}" for ns, service, port in targets}
        result.checked += len(names)
        try:
            log = run_probe(core, namespace, f"verify-mtls-{secrets.token_hex(3)}", ["sh", "-c", _PROBE_SCRIPT, "probe", *names], expected)
        except (ApiException, ProbeFailed) as error:
            result.failures.append(f"the plaintext probe pod in {namespace} did not run: {reason(error)}")
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
    service = get_or_none(lambda: client.CoreV1Api(api).read_namespaced_service(gateway.service, gateway.namespace))
    if service is None:
        return f"Service {gateway.namespace}/{gateway.service}: not found"
    if service.spec.type != "LoadBalancer":
        return (f"Service {gateway.namespace}/{gateway.service} is a {service.spec.type}: pass --gateway-address HOST:PORT "
                "(kind maps it to localhost:<cluster.ingress.httpsHostPort>)")
    ingress = (service.status.load_balancer.ingress if service.status and service.status.load_balancer else None) or []
    if not ingress:
        return f"Service {gateway.namespace}/{gateway.service}: its load balancer has no address yet"
    return (ingress[0].hostname or ingress[0].ip, 443)


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
            status = https_get(address, host, path, context)
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
        name = str(pod.metadata.name if pod.metadata else "")
        try:
            body = ok_body(forward_get(api, falco.namespace, name, falco.port, "metrics"), "metrics")
        except READ_ERRORS as error:
            result.failures.append(f"Falco pod {falco.namespace}/{name}: its metrics could not be read ({reason(error)})")
            continue
        loaded = {m[1] for m in (_RULES_FILE.match(line) for line in body.decode().splitlines()) if m}
        missing = [f for f in falco.rules_files if f not in loaded]
        if missing:
            result.failures.append(
                f"Falco pod {falco.namespace}/{name}: not loaded: {', '.join(missing)} (loaded: {', '.join(sorted(loaded)) or 'none'}; "
                f"kubectl -n {falco.namespace} logs {name} -c falco)"
            )
    return result


def prometheus_targets(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("prometheus-targets", "Prometheus reports no scrape target down")
    if expected.prometheus is None:
        return result
    namespace, service, port = expected.prometheus
    try:
        targets = service_json(api, namespace, service, port, "api/v1/targets")["data"]["activeTargets"]
    except READ_ERRORS as error:
        result.checked += 1
        result.failures.append(f"Prometheus {namespace}/{service}: its targets could not be read ({reason(error)})")
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
        if tls is None:  # not known offline (a Release in the stack's state): TLS first, then plain HTTP
            try:
                status = service_json(api, namespace, service, port, "v1/sys/seal-status", tls=True)
            except ssl.SSLError:
                status = service_json(api, namespace, service, port, "v1/sys/seal-status", tls=False)
        else:
            status = service_json(api, namespace, service, port, "v1/sys/seal-status", tls=tls)
    except READ_ERRORS as error:
        result.failures.append(f"Vault {namespace}/{service}: its seal status could not be read ({reason(error)})")
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
    if not cast(dict[str, Any], reports).get("items"):
        result.failures.append("no VulnerabilityReport yet: Trivy scans each workload's images after it starts (kubectl -n trivy-system logs deploy/trivy-operator)")
    return result


def ui_health(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("ui-health", "every UI the stack installs answers its health endpoint")
    for what, namespace, service, port, path in expected.ui:
        result.checked += 1
        try:
            status, _ = service_get(api, namespace, service, port, path)
            if status >= 400:
                raise ReadFailed(f"HTTP {status}")
        except READ_ERRORS as error:
            result.failures.append(f"{what} ({namespace}/{service}:{port}/{path}): {reason(error)}")
    return result


def prometheus_rules(api: client.ApiClient, expected: Expected) -> CheckResult:
    result = CheckResult("prometheus-rules", "Prometheus has loaded every rule group the stack deploys")
    if expected.prometheus is None or not expected.rule_groups:
        return result
    namespace, service, port = expected.prometheus
    try:
        groups = {g.get("name") for g in service_json(api, namespace, service, port, "api/v1/rules")["data"]["groups"]}
    except READ_ERRORS as error:
        result.checked += 1
        result.failures.append(f"Prometheus {namespace}/{service}: its rules could not be read ({reason(error)})")
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
