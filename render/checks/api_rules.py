"""What the API server (or the kubelet, for a pod it is handed) refuses beyond the OpenAPI schema.

The rules of Kubernetes' own validation (`pkg/apis/core/validation`, `apps`, `policy`,
`autoscaling`) that a structural schema cannot express, applied to every object of the
stack — chart objects as declared ones:

- `pods` (every pod template): container names are DNS-1123 labels, unique across init,
  regular and ephemeral containers; container port numbers in 1..65535, port names unique
  within a container and protocols TCP/UDP/SCTP; no two containers take the same host
  port; requests at most the limits; env var names non-empty without `=`; volume names
  unique DNS-1123 labels and every volumeMount names one, mount paths unique within a
  container, subPaths relative without `..`; probes have exactly one handler and liveness
  and startup probes a successThreshold of 1; a container that must run as non-root does
  not run as UID 0 (the kubelet refuses it); tolerations with `Exists` carry no value;
  selector operators take values exactly when they must; topology spread constraints
  have maxSkew ≥ 1, a known whenUnsatisfiable, minDomains only with DoNotSchedule, and
  no two for the same key and action.
- `workloads`: a controller's selector selects its own pod template's labels; a
  Deployment's (or Rollout's) rolling update does not set both maxSurge and
  maxUnavailable to 0; restartPolicy is Always for long-running controllers and
  OnFailure/Never for Jobs.
- `services`: ports unique by number and protocol, each named when there are several
  (names unique), target ports in range; NodePorts in the cluster's range (30000-32767)
  and not taken by another Service of the stack; a headless Service is not a NodePort or
  LoadBalancer; ExternalName Services name a host.
- `disruption`: a PodDisruptionBudget sets minAvailable or maxUnavailable, not both, as
  a non-negative count or a percentage.
- `autoscaling`: an HPA's minReplicas is at least 1 and at most maxReplicas.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from components.quantity import cpu_millicores, memory_mib

from ..engine.deployed import Deployed
from ..engine.selectors import selects
from ..engine.workloads import containers, pod_metadata, pod_spec

_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PERCENT = re.compile(r"^\d+%$")
NODE_PORT_RANGE = (30000, 32767)
"""The API server's default `--service-node-port-range` (kind and EKS keep it)."""

_LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout")


def _amount(resource: str, value: Any) -> float | None:
    """A request or limit as a number (CPU in millicores, anything else in MiB); None when malformed (the schema says so)."""
    try:
        return cpu_millicores(value) if resource == "cpu" else memory_mib(value)
    except ValueError:
        return None


def _finding(check: str, d: Deployed, message: str) -> dict[str, str]:
    return {"check": check, "object": d.ref, "urn": d.source, "message": message}


def _selector_problems(selector: Any, where: str) -> Iterator[str]:
    expressions = selector.get("matchExpressions") or [] if isinstance(selector, Mapping) else []
    for expression in expressions:
        operator, values = expression.get("operator"), expression.get("values") or []
        if operator in ("In", "NotIn") and not values:
            yield f"{where}: operator {operator} on {expression.get('key')!r} needs values"
        elif operator in ("Exists", "DoesNotExist") and values:
            yield f"{where}: operator {operator} on {expression.get('key')!r} takes no values"
        elif operator not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"):
            yield f"{where}: unknown operator {operator!r}"


def _node_selector_terms(affinity: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    node = affinity.get("nodeAffinity") or {}
    for i, term in enumerate(((node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms")) or []):
        yield f"nodeAffinity term {i}", term
    for i, preferred in enumerate(node.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
        yield f"nodeAffinity preference {i}", preferred.get("preference") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        block = affinity.get(kind) or {}
        for i, term in enumerate(block.get("requiredDuringSchedulingIgnoredDuringExecution") or []):
            yield f"{kind} term {i}", term.get("labelSelector")
        for i, weighted in enumerate(block.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
            yield f"{kind} preference {i}", (weighted.get("podAffinityTerm") or {}).get("labelSelector")


def _container_problems(c: Mapping[str, Any], volumes: set[str]) -> Iterator[str]:
    name = c.get("name")
    names: set[str] = set()
    for p in c.get("ports") or []:
        number = p.get("containerPort")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            yield f"container {name} port {number!r}: containerPort must be 1..65535"
        if p.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
            yield f"container {name} port {number}: protocol {p.get('protocol')!r} is not TCP, UDP or SCTP"
        if p.get("name"):
            if p["name"] in names:
                yield f"container {name}: port name {p['name']!r} is used twice"
            names.add(p["name"])
    resources = c.get("resources") or {}
    for resource, limit in (resources.get("limits") or {}).items():
        request = (resources.get("requests") or {}).get(resource)
        low, high = _amount(resource, request), _amount(resource, limit)
        if request is not None and low is not None and high is not None and low > high:
            yield f"container {name}: {resource} request {request} exceeds its limit {limit}"
    for env in c.get("env") or []:
        if not env.get("name") or "=" in str(env["name"]):
            yield f"container {name}: env name {env.get('name')!r} must be non-empty and hold no '='"
    paths: set[str] = set()
    for mount in c.get("volumeMounts") or []:
        if mount.get("name") not in volumes:
            yield f"container {name}: volumeMount {mount.get('name')!r} names no volume of the pod"
        if mount.get("mountPath") in paths:
            yield f"container {name}: mountPath {mount.get('mountPath')} is mounted twice"
        paths.add(mount.get("mountPath"))
        sub = str(mount.get("subPath") or "")
        if sub.startswith("/") or ".." in sub.split("/"):
            yield f"container {name}: subPath {sub!r} must be relative, without '..'"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        spec = c.get(probe)
        if not spec:
            continue
        handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if h in spec]
        if len(handlers) != 1:
            yield f"container {name} {probe}: exactly one handler (exec, httpGet, tcpSocket, grpc), not {len(handlers)}"
        if probe != "readinessProbe" and spec.get("successThreshold", 1) != 1:
            yield f"container {name} {probe}: successThreshold must be 1"


def _pod_problems(spec: Mapping[str, Any], claims: Sequence[str] = ()) -> Iterator[str]:
    """`claims`: a StatefulSet's volumeClaimTemplates, which its pods mount like volumes."""
    seen: set[str] = set()
    volumes = [str(v.get("name")) for v in spec.get("volumes") or []]
    for volume in set(volumes):
        if volumes.count(volume) > 1:
            yield f"volume name {volume!r} is used twice"
    for volume in volumes:
        if not _DNS_1123_LABEL.match(volume) or len(volume) > 63:
            yield f"volume name {volume!r} must be a DNS-1123 label"
    host_ports: set[tuple[Any, str, str]] = set()
    pod_security = spec.get("securityContext") or {}
    for _, c in containers(spec):
        name = str(c.get("name") or "")
        if not _DNS_1123_LABEL.match(name) or len(name) > 63:
            yield f"container name {name!r} must be a DNS-1123 label"
        if name in seen:
            yield f"container name {name!r} is used twice"
        seen.add(name)
        yield from _container_problems(c, {*volumes, *claims})
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                key = (p["hostPort"], str(p.get("protocol", "TCP")), str(p.get("hostIP", "")))
                if key in host_ports:
                    yield f"container {name}: hostPort {p['hostPort']}/{key[1]} is taken by another container of the pod"
                host_ports.add(key)
        security = {**pod_security, **(c.get("securityContext") or {})}
        if security.get("runAsNonRoot") and security.get("runAsUser") == 0:
            yield f"container {name}: runAsNonRoot with runAsUser 0 — the kubelet refuses to start it"
    for i, toleration in enumerate(spec.get("tolerations") or []):
        if toleration.get("operator") == "Exists" and toleration.get("value"):
            yield f"toleration {i}: operator Exists takes no value"
        if toleration.get("effect") not in (None, "", "NoSchedule", "PreferNoSchedule", "NoExecute"):
            yield f"toleration {i}: unknown effect {toleration.get('effect')!r}"
    for where, term in _node_selector_terms(spec.get("affinity") or {}):
        yield from _selector_problems(term, where)
    pairs: set[tuple[str, str]] = set()
    for i, constraint in enumerate(spec.get("topologySpreadConstraints") or []):
        action = constraint.get("whenUnsatisfiable")
        if int(constraint.get("maxSkew") or 0) < 1:
            yield f"topologySpreadConstraints[{i}]: maxSkew must be at least 1"
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            yield f"topologySpreadConstraints[{i}]: whenUnsatisfiable {action!r} is not DoNotSchedule or ScheduleAnyway"
        if constraint.get("minDomains") is not None and action != "DoNotSchedule":
            yield f"topologySpreadConstraints[{i}]: minDomains needs whenUnsatisfiable DoNotSchedule"
        pair = (str(constraint.get("topologyKey")), str(action))
        if pair in pairs:
            yield f"topologySpreadConstraints[{i}]: a second constraint for {pair[0]} and {pair[1]}"
        pairs.add(pair)
        yield from _selector_problems(constraint.get("labelSelector"), f"topologySpreadConstraints[{i}]")


def _workload_problems(d: Deployed) -> Iterator[str]:
    spec = d.obj.get("spec") or {}
    labels = pod_metadata(d.obj).get("labels") or {}
    selector = spec.get("selector")
    if d.kind in _LONG_RUNNING and isinstance(selector, Mapping) and not spec.get("workloadRef") and not selects(selector, labels):
        yield f"selector {selector} does not select its own pod template's labels: the API server refuses it"
    if d.kind in ("Deployment", "Rollout"):
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or strategy.get("canary") or {}
        if str(rolling.get("maxSurge", "x")) in ("0", "0%") and str(rolling.get("maxUnavailable", "x")) in ("0", "0%"):
            yield "maxSurge and maxUnavailable are both 0: no rollout could ever progress"
    restart = (pod_spec(d.obj) or {}).get("restartPolicy")
    if d.kind in _LONG_RUNNING and restart not in (None, "Always"):
        yield f"restartPolicy {restart} is not allowed: a {d.kind}'s pods must restart Always"
    if d.kind in ("Job", "CronJob") and restart not in ("OnFailure", "Never"):
        yield f"restartPolicy {restart or '(unset: Always)'} is not allowed for a Job: OnFailure or Never"


def _service_problems(d: Deployed) -> Iterator[str]:
    spec = d.obj.get("spec") or {}
    ports = spec.get("ports") or []
    seen: set[tuple[Any, str]] = set()
    names: set[str] = set()
    for p in ports:
        key = (p.get("port"), str(p.get("protocol") or "TCP"))
        if key in seen:
            yield f"port {key[0]}/{key[1]} is declared twice"
        seen.add(key)
        if len(ports) > 1 and not p.get("name"):
            yield f"port {p.get('port')}: every port needs a name when a Service has several"
        if p.get("name") in names:
            yield f"port name {p.get('name')!r} is used twice"
        names.add(p.get("name"))
        target = p.get("targetPort")
        if isinstance(target, int) and not 1 <= target <= 65535:
            yield f"port {p.get('port')}: targetPort {target} must be 1..65535"
        node_port = p.get("nodePort")
        if node_port is not None and not NODE_PORT_RANGE[0] <= int(node_port) <= NODE_PORT_RANGE[1]:
            yield f"port {p.get('port')}: nodePort {node_port} is outside the cluster's range {NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}"
    kind = spec.get("type", "ClusterIP")
    if spec.get("clusterIP") == "None" and kind in ("NodePort", "LoadBalancer"):
        yield f"a headless Service (clusterIP: None) cannot be of type {kind}"
    if kind == "ExternalName" and not spec.get("externalName"):
        yield "type ExternalName needs externalName"


def _budget_problems(d: Deployed) -> Iterator[str]:
    spec = d.obj.get("spec") or {}
    if "minAvailable" in spec and "maxUnavailable" in spec:
        yield "sets both minAvailable and maxUnavailable: the API server takes one"
    for field in ("minAvailable", "maxUnavailable"):
        value = spec.get(field)
        if value is None:
            continue
        if (isinstance(value, int) and value < 0) or (isinstance(value, str) and not _PERCENT.match(value)):
            yield f"{field} {value!r} must be a non-negative count or a percentage"
        if isinstance(value, str) and _PERCENT.match(value) and int(value[:-1]) > 100:
            yield f"{field} {value} is above 100%"


def _autoscaler_problems(d: Deployed) -> Iterator[str]:
    spec = d.obj.get("spec") or {}
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if isinstance(low, int) and low < 1:
        yield f"minReplicas {low} must be at least 1"
    if isinstance(low, int) and isinstance(high, int) and low > high:
        yield f"minReplicas {low} is above maxReplicas {high}"


def check_api_rules(objects: Sequence[Deployed]) -> list[dict[str, str]]:
    """Every finding of the module's rules, over `objects`."""
    findings: list[dict[str, str]] = []
    node_ports: dict[int, Deployed] = {}
    for d in objects:
        spec = pod_spec(d.obj)
        if spec is not None:
            claims = [str((t.get("metadata") or {}).get("name")) for t in (d.obj.get("spec") or {}).get("volumeClaimTemplates") or []] if d.kind == "StatefulSet" else []
            findings += [_finding("pods", d, problem) for problem in _pod_problems(spec, claims)]
            findings += [_finding("workloads", d, problem) for problem in _workload_problems(d)]
        if d.kind == "Service" and not str(d.obj.get("apiVersion", "")).count("/"):
            findings += [_finding("services", d, problem) for problem in _service_problems(d)]
            for p in (d.obj.get("spec") or {}).get("ports") or []:
                if p.get("nodePort") is not None:
                    other = node_ports.setdefault(int(p["nodePort"]), d)
                    if other is not d:
                        findings.append(_finding("services", d, f"nodePort {p['nodePort']} is already {other.ref}'s: the API server refuses the second"))
        if d.kind == "PodDisruptionBudget":
            findings += [_finding("disruption", d, problem) for problem in _budget_problems(d)]
        if d.kind == "HorizontalPodAutoscaler":
            findings += [_finding("autoscaling", d, problem) for problem in _autoscaler_problems(d)]
    return findings
