"""Admission, offline: what the cluster's admission control says about every object the stack deploys.

- **Gatekeeper**: each constraint the stack installs is evaluated with the Rego of its
  ConstraintTemplate (as deployed: `spec.targets[].rego` and `libs`, through regopy) on
  every object it matches, as the validating webhook would at create time: its
  `match.kinds`, `namespaces`, `excludedNamespaces`, and the webhook's own exemption of
  namespaces labelled `admission.gatekeeper.sh/ignore`. `deny` violations are errors;
  `dryrun` and `warn` are reported as warnings.
- **Pod Security Admission**: every pod template is checked against the Pod Security
  Standard its namespace enforces (`pod-security.kubernetes.io/enforce`; a namespace
  without the label is `privileged`, the API server's default), as for the Pods its
  controller will create. Labels that kept Helm hooks add (Gatekeeper labels its own
  namespace `restricted`) count. Every Namespace the stack creates must state its level,
  and below `restricted` the reason (`label_errors`); `pods_pass` shows, per namespace, the
  strictest level its rendered pods would pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from components.podsecurity import LEVELS, REASON_ANNOTATION
from components.quantity import cpu_millicores, memory_mib

from ..engine.deployed import Deployed
from ..engine.workloads import WORKLOAD_KINDS, containers, pod_metadata, pod_spec

CONSTRAINTS_GROUP = "constraints.gatekeeper.sh"
IGNORE_LABEL = "admission.gatekeeper.sh/ignore"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"

# --- Gatekeeper ---------------------------------------------------------------------------


def _group(obj: Mapping[str, Any]) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.rpartition("/")[0]


def _matches(match: Mapping[str, Any], d: Deployed, ignored: set[str]) -> bool:
    kinds = match.get("kinds") or [{"apiGroups": ["*"], "kinds": ["*"]}]
    if not any(
        ("*" in (k.get("apiGroups") or ["*"]) or _group(d.obj) in (k.get("apiGroups") or []))
        and ("*" in (k.get("kinds") or ["*"]) or d.kind in (k.get("kinds") or []))
        for k in kinds
    ):
        return False
    ns = d.namespace
    if not ns:
        return match.get("scope", "*") in ("*", "Cluster")
    if match.get("scope") == "Cluster" or ns in ignored:
        return False
    if match.get("namespaces") and ns not in match["namespaces"]:
        return False
    return ns not in (match.get("excludedNamespaces") or [])


def inventory(objects: Sequence[Deployed]) -> dict[str, Any]:
    """Gatekeeper's `data.inventory` once its SyncSets are synced: every object of a synced kind."""
    synced = {
        (str(g.get("group", "")), str(g.get("version", "")), str(g.get("kind", "")))
        for d in objects if d.kind == "SyncSet" and _group(d.obj) == "syncset.gatekeeper.sh"
        for g in (d.obj.get("spec") or {}).get("gvks") or []
    }
    namespaced: dict[str, Any] = {}
    cluster: dict[str, Any] = {}
    for d in objects:
        api_version = str(d.obj.get("apiVersion", ""))
        if (_group(d.obj), api_version.rpartition("/")[2], d.kind) not in synced or d.origin == "dropped-hook":
            continue
        where = namespaced.setdefault(d.namespace, {}) if d.namespace else cluster
        where.setdefault(api_version, {}).setdefault(d.kind, {})[d.name] = d.obj
    return {"namespace": namespaced, "cluster": cluster}


def as_pod(d: Deployed) -> Deployed:
    """The Pod a workload's controller creates, as admission sees it."""
    metadata = dict(pod_metadata(d.obj))
    metadata.setdefault("name", f"{d.name}-pod")
    metadata["namespace"] = d.namespace
    return Deployed({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": dict(pod_spec(d.obj) or {})}, d.source, d.origin, d.release, d.template)


def _package(rego: str) -> str:
    return next(line.split()[1] for line in rego.splitlines() if line.startswith("package "))


class _Templates:
    """Every ConstraintTemplate's Rego in one interpreter, compiled once (a plan per template).

    Each object is parsed once per set of constraint parameters and every template whose
    constraint takes those parameters judges it: Gatekeeper's own per-constraint review, without
    parsing the same object a dozen times."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]], data: Mapping[str, Any] | None = None) -> None:
        import regopy

        self.interpreter = regopy.Interpreter()
        self.input_of = regopy.Input  # the review as regopy's own value: no JSON text to parse
        if data:
            self.interpreter.add_data_json(json.dumps({"inventory": data}))
        self.entrypoint: dict[str, str] = {}
        libs: dict[str, str] = {}
        for kind, template in templates.items():
            target = ((template.get("spec") or {}).get("targets") or [{}])[0]
            rego = str(target.get("rego") or "")
            package = _package(rego)
            if package in {e.split("/", 1)[0] for e in self.entrypoint.values()}:
                raise ValueError(f"ConstraintTemplate for {kind}: package {package} is another template's too")
            for lib in target.get("libs") or []:
                libs.setdefault(_package(lib), lib)  # a library shared by templates is one module
            self.interpreter.add_module(f"{kind}.rego", rego)
            self.entrypoint[kind] = f"{package.replace('.', '/')}/violation"
        for i, lib in enumerate(libs.values()):
            self.interpreter.add_module(f"lib{i}.rego", lib)
        self.bundle = self.interpreter.build(None, sorted(set(self.entrypoint.values()))) if self.entrypoint else None

    def violations(self, obj: Mapping[str, Any], parameters: Mapping[str, Any], kinds: Sequence[str]) -> dict[str, list[str]]:
        """Each constraint kind of `kinds` (all taking `parameters`) -> the messages its template gives `obj`."""
        metadata = obj.get("metadata") or {}
        review = {
            "review": {
                "kind": {"group": _group(obj), "version": str(obj.get("apiVersion", "")).rpartition("/")[2], "kind": obj.get("kind")},
                "operation": "CREATE",
                "name": metadata.get("name"),
                "namespace": metadata.get("namespace"),
                "object": obj,
            },
            "parameters": dict(parameters),
        }
        self.interpreter.set_input(self.input_of(review))
        found = {}
        for kind in kinds:
            result = json.loads(str(self.interpreter.query_bundle_entrypoint(self.bundle, self.entrypoint[kind])))
            messages = (result.get("expressions") or [[]])[0] if isinstance(result, dict) else []
            found[kind] = sorted(str(v.get("msg")) for v in messages or [])
        return found


def gatekeeper_verdicts(objects: Sequence[Deployed], namespace_labels: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """Every constraint on every object it matches: `{"constraints", "evaluated", "denied", "warnings"}`."""
    templates = {
        str(((((d.obj.get("spec") or {}).get("crd") or {}).get("spec") or {}).get("names") or {}).get("kind")): d.obj
        for d in objects
        if d.kind == "ConstraintTemplate"
    }
    constraints = [d for d in objects if _group(d.obj) == CONSTRAINTS_GROUP]
    ignored = {ns for ns, labels in namespace_labels.items() if IGNORE_LABEL in labels}
    # Controllers create the pods of workloads: constraints on Pods judge those.
    pods = [as_pod(d) for d in objects if d.kind in WORKLOAD_KINDS and d.kind != "Pod" and d.origin != "dropped-hook"]
    engine = _Templates({c.kind: templates[c.kind] for c in constraints if c.kind in templates}, inventory(objects))
    # (constraint, object) pairs in the order they are reported; the engine sees them per object and parameters.
    pairs: dict[int, list[Deployed]] = {}
    batches: dict[tuple[int, str], list[Deployed]] = {}
    for constraint in constraints:
        spec = constraint.obj.get("spec") or {}
        if constraint.kind not in templates:
            continue
        pods_only = {k for entry in (spec.get("match") or {}).get("kinds") or [] for k in entry.get("kinds") or []} == {"Pod"}
        matched = pairs[id(constraint)] = [d for d in ([*objects, *pods] if pods_only else objects)
                                           if d.origin != "dropped-hook" and _matches(spec.get("match") or {}, d, ignored)]
        parameters = json.dumps(spec.get("parameters") or {}, sort_keys=True)
        for d in matched:
            batches.setdefault((id(d), parameters), []).append(constraint)
    subjects = {id(d): d for matched in pairs.values() for d in matched}
    messages: dict[tuple[int, int], list[str]] = {}
    for (subject, parameters), judging in batches.items():
        found = engine.violations(subjects[subject].obj, json.loads(parameters), sorted({c.kind for c in judging}))
        for constraint in judging:
            messages[(id(constraint), subject)] = found[constraint.kind]
    denied: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    for constraint in constraints:
        if constraint.kind not in templates:
            denied.append({"constraint": constraint.ref, "object": "", "urn": constraint.source,
                           "message": f"no ConstraintTemplate defines kind {constraint.kind}: the constraint can never be created"})
            continue
        action = str((constraint.obj.get("spec") or {}).get("enforcementAction") or "deny")
        for d in pairs[id(constraint)]:
            for message in messages[(id(constraint), id(d))]:
                entry = {"constraint": f"{constraint.kind} {constraint.name}", "action": action, "object": d.ref, "urn": d.source, "message": message}
                (denied if action == "deny" else warnings).append(entry)
    return {"constraints": len(constraints), "evaluated": sum(map(len, pairs.values())), "denied": denied, "warnings": warnings}


# --- Pod Security Admission ---------------------------------------------------------------

_BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
}
_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
_RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret", "image"}


def _baseline(spec: Mapping[str, Any], metadata: Mapping[str, Any]) -> Iterator[str]:
    pod_ctx = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield f"{field}=true"
    if (pod_ctx.get("windowsOptions") or {}).get("hostProcess"):
        yield "hostProcess"
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            yield f"hostPath volume {volume.get('name')}"
    if (pod_ctx.get("seccompProfile") or {}).get("type") == "Unconfined":
        yield "pod seccompProfile Unconfined"
    if (pod_ctx.get("appArmorProfile") or {}).get("type") == "Unconfined":
        yield "pod appArmorProfile Unconfined"
    for sysctl in pod_ctx.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            yield f"unsafe sysctl {sysctl.get('name')}"
    if str((pod_ctx.get("seLinuxOptions") or {}).get("type", "")) not in _SELINUX_TYPES:
        yield "pod seLinuxOptions.type"
    for key, value in ((metadata.get("annotations") or {}).items()):
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and value == "unconfined":
            yield f"AppArmor annotation {key}=unconfined"
    for _, c in containers(spec):
        ctx = c.get("securityContext") or {}
        name = c.get("name")
        if ctx.get("privileged"):
            yield f"container {name} privileged"
        added = set((ctx.get("capabilities") or {}).get("add") or []) - _BASELINE_CAPABILITIES
        if added:
            yield f"container {name} adds capabilities {sorted(added)}"
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                yield f"container {name} hostPort {port['hostPort']}"
        if (ctx.get("seccompProfile") or {}).get("type") == "Unconfined":
            yield f"container {name} seccompProfile Unconfined"
        if ctx.get("procMount", "Default") != "Default":
            yield f"container {name} procMount {ctx['procMount']}"
        selinux = ctx.get("seLinuxOptions") or {}
        if str(selinux.get("type", "")) not in _SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            yield f"container {name} seLinuxOptions"


def _restricted(spec: Mapping[str, Any]) -> Iterator[str]:
    pod_ctx = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if kinds - _RESTRICTED_VOLUMES:
            yield f"volume {volume.get('name')} of type {sorted(kinds)[0]}"
    pod_non_root = pod_ctx.get("runAsNonRoot")
    pod_seccomp = (pod_ctx.get("seccompProfile") or {}).get("type")
    if pod_ctx.get("runAsUser") == 0:
        yield "pod runAsUser=0"
    for _, c in containers(spec):
        ctx = c.get("securityContext") or {}
        name = c.get("name")
        if ctx.get("allowPrivilegeEscalation") is not False:
            yield f"container {name} allowPrivilegeEscalation != false"
        if ctx.get("runAsNonRoot", pod_non_root) is not True:
            yield f"container {name} runAsNonRoot != true"
        if ctx.get("runAsUser") == 0:
            yield f"container {name} runAsUser=0"
        if (ctx.get("seccompProfile") or {}).get("type", pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            yield f"container {name} seccompProfile not RuntimeDefault/Localhost"
        capabilities = ctx.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            yield f"container {name} does not drop ALL capabilities"
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            yield f"container {name} adds capabilities beyond NET_BIND_SERVICE"


def pod_security_violations(spec: Mapping[str, Any], metadata: Mapping[str, Any], level: str) -> list[str]:
    """What a pod spec breaks of Pod Security Standard `level` (privileged: nothing)."""
    if level == "privileged":
        return []
    found = list(_baseline(spec, metadata))
    if level == "restricted":
        found += list(_restricted(spec))
    return found


def pod_security_verdicts(
    objects: Sequence[Deployed], namespace_labels: Mapping[str, Mapping[str, str]], created: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, Any]:
    """Every pod template against its namespace's enforced level:
    `{"evaluated", "levels", "pods_pass", "denied", "label_errors"}`.

    `pods_pass`: per namespace, the strictest level all of its rendered pods pass.
    `label_errors`: each namespace in `created` (the Namespaces the stack creates -> their
    annotations) must state its level explicitly, and below `restricted` say why (`REASON_ANNOTATION`).
    """
    denied = []
    evaluated = 0
    levels = {ns: labels.get(ENFORCE_LABEL, "privileged") for ns, labels in namespace_labels.items()}
    passes: dict[str, int] = {}  # namespace -> index in LEVELS of the strictest level all its pods pass
    for d in objects:
        spec = pod_spec(d.obj)
        if spec is None or d.origin == "dropped-hook":
            continue
        evaluated += 1
        level = levels.get(d.namespace, "privileged")
        metadata = pod_metadata(d.obj)
        problems = pod_security_violations(spec, metadata, level)
        if problems:
            denied.append({"object": d.ref, "urn": d.source, "level": level,
                           "message": f"namespace {d.namespace} enforces Pod Security `{level}`; its pods would be rejected: {'; '.join(problems)}"})
        strictest = max(i for i, candidate in enumerate(LEVELS) if not pod_security_violations(spec, metadata, candidate))
        passes[d.namespace] = min(passes.get(d.namespace, len(LEVELS) - 1), strictest)
    label_errors = []
    created = created or {}
    for ns in sorted(created):
        labels = namespace_labels.get(ns) or {}
        reason = (created.get(ns) or {}).get(REASON_ANNOTATION)
        if ENFORCE_LABEL not in labels:
            label_errors.append({"namespace": ns, "message": f"namespace {ns} states no Pod Security level: label it `{ENFORCE_LABEL}` "
                                 "(with warn and audit) at the strictest level its pods pass"})
        elif labels[ENFORCE_LABEL] != "restricted" and not reason:
            label_errors.append({"namespace": ns, "message": f"namespace {ns} enforces `{labels[ENFORCE_LABEL]}` without saying why: "
                                 f"annotate it `{REASON_ANNOTATION}` with the pods that need it"})
    pods_pass = {ns: LEVELS[index] for ns, index in sorted(passes.items())}
    return {"evaluated": evaluated, "levels": dict(sorted(levels.items())), "pods_pass": pods_pass, "denied": denied, "label_errors": label_errors}


def namespace_labels(objects: Sequence[Deployed], added: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Each namespace's labels once the stack is up: its object's labels, then those hooks add."""
    labels: dict[str, dict[str, str]] = {}
    for d in objects:
        if d.kind == "Namespace":
            labels.setdefault(d.name, {}).update((d.obj.get("metadata") or {}).get("labels") or {})
    for ns, extra in added.items():
        labels.setdefault(ns, {}).update(extra)
    return labels


def admission_report(objects: Sequence[Deployed], hook_labels: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """The render's `admission` section: Gatekeeper and Pod Security verdicts on everything deployed."""
    labels = namespace_labels(objects, hook_labels)
    created = {d.name: (d.obj.get("metadata") or {}).get("annotations") or {} for d in objects if d.kind == "Namespace"}
    return {
        "gatekeeper": gatekeeper_verdicts(objects, labels),
        "pod_security": pod_security_verdicts(objects, labels, created),
        "quota": quota_verdicts(objects),
    }


# --- LimitRange and ResourceQuota ---------------------------------------------------------


def _quantity(key: str, value: Any) -> float:
    return memory_mib(value) if "memory" in key else cpu_millicores(value)


def _limit_ranges(objects: Sequence[Deployed]) -> dict[str, list[Mapping[str, Any]]]:
    ranges: dict[str, list[Mapping[str, Any]]] = {}
    for d in objects:
        if d.kind == "LimitRange":
            ranges.setdefault(d.namespace, []).extend(item for item in (d.obj.get("spec") or {}).get("limits") or [] if item.get("type") == "Container")
    return ranges


def with_limit_range(container: Mapping[str, Any], ranges: Sequence[Mapping[str, Any]]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """(requests, limits) of a container once the LimitRange defaults applied, and what the range refuses."""
    resources = container.get("resources") or {}
    requests = {k: _quantity(k, v) for k, v in (resources.get("requests") or {}).items() if k in ("cpu", "memory")}
    limits = {k: _quantity(k, v) for k, v in (resources.get("limits") or {}).items() if k in ("cpu", "memory")}
    # API defaulting first: an explicit limit without a request requests the limit.
    for key, value in list(limits.items()):
        requests.setdefault(key, value)
    problems = []
    for item in ranges:
        # Then the LimitRange admission plugin fills what is still unset.
        for key, value in (item.get("default") or {}).items():
            limits.setdefault(key, _quantity(key, value))
        for key, value in (item.get("defaultRequest") or {}).items():
            requests.setdefault(key, _quantity(key, value))
        for key, value in (item.get("max") or {}).items():
            if limits.get(key, 0) > _quantity(key, value):
                problems.append(f"{key} limit above the LimitRange max {value}")
        for key, value in (item.get("min") or {}).items():
            if requests.get(key, 0) < _quantity(key, value):
                problems.append(f"{key} request below the LimitRange min {value}")
        for key, value in (item.get("maxLimitRequestRatio") or {}).items():
            if requests.get(key) and limits.get(key, 0) / requests[key] > float(value):
                problems.append(f"{key} limit/request ratio above {value}")
    return {"requests": requests, "limits": limits}, problems


def _pod_totals(spec: Mapping[str, Any], ranges: Sequence[Mapping[str, Any]]) -> tuple[dict[str, float], list[str]]:
    """requests.cpu/.memory and limits.cpu/.memory one pod counts against a quota (init containers as the scheduler counts them)."""
    totals = {"requests.cpu": 0.0, "requests.memory": 0.0, "limits.cpu": 0.0, "limits.memory": 0.0}
    init_peak = dict.fromkeys(totals, 0.0)
    problems = []
    for field, c in containers(spec):
        if field == "ephemeralContainers":
            continue
        resolved, refused = with_limit_range(c, ranges)
        problems += [f"container {c.get('name')}: {p}" for p in refused]
        values = {f"{kind}.{key}": resolved[kind].get(key, 0.0) for kind in ("requests", "limits") for key in ("cpu", "memory")}
        if field == "initContainers" and c.get("restartPolicy") != "Always":
            init_peak = {k: max(init_peak[k], values[k]) for k in totals}
        else:
            totals = {k: totals[k] + values[k] for k in totals}
    return {k: max(totals[k], init_peak[k]) for k in totals}, problems


def _asked_replicas(d: Deployed, objects: Sequence[Deployed]) -> int:
    spec = d.obj.get("spec") or {}
    count = int(spec.get("replicas") or 1)
    for other in objects:
        ref = (other.obj.get("spec") or {}).get("scaleTargetRef") or {}
        if other.kind == "HorizontalPodAutoscaler" and other.namespace == d.namespace and ref.get("name") == d.name:
            count = max(count, int((other.obj.get("spec") or {}).get("minReplicas") or 1))
    return count


def _surge(d: Deployed, count: int) -> int:
    """Extra pods a rolling update runs at once (Deployments: maxSurge, 25 % by default).

    An Argo Rollouts canary keeps every stable pod while the canary grows to the last step's
    weight (the stable side shrinks only after promotion, unless `dynamicStableScale`): at
    its peak it runs the canary's full share on top."""
    if d.kind == "Rollout" and str(d.obj.get("apiVersion", "")).startswith("argoproj.io/"):
        canary = ((d.obj.get("spec") or {}).get("strategy") or {}).get("canary")
        if canary is None or canary.get("dynamicStableScale"):
            return 0
        peak = max([int(s["setWeight"]) for s in canary.get("steps") or [] if "setWeight" in s] or [100])
        return -(-count * peak // 100)
    if d.kind != "Deployment":
        return 0
    strategy = (d.obj.get("spec") or {}).get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(surge, str) and surge.endswith("%"):
        return -(-count * int(surge[:-1]) // 100)
    return int(surge)


def quota_verdicts(objects: Sequence[Deployed]) -> dict[str, Any]:
    """Each namespace's pods (LimitRange defaults applied, replicas asked + rolling surge) against its ResourceQuota."""
    ranges = _limit_ranges(objects)
    quotas = [d for d in objects if d.kind == "ResourceQuota"]
    usage: dict[tuple[str, str], dict[str, float]] = {}
    errors: list[dict[str, str]] = []
    for d in objects:
        spec = pod_spec(d.obj)
        if spec is None or d.origin == "dropped-hook" or d.kind in ("Job", "CronJob"):
            continue
        priority = str(spec.get("priorityClassName") or "")
        per_pod, refused = _pod_totals(spec, ranges.get(d.namespace, []))
        for problem in refused:
            errors.append({"object": d.ref, "urn": d.source, "message": f"the LimitRange of {d.namespace} refuses its pods: {problem}"})
        count = _asked_replicas(d, objects) if d.kind != "DaemonSet" else 1
        pods = count + _surge(d, count)
        total = usage.setdefault((d.namespace, priority), {"pods": 0.0, **dict.fromkeys(per_pod, 0.0)})
        total["pods"] += pods
        for key, value in per_pod.items():
            total[key] += value * pods
    summary: dict[str, dict[str, float]] = {}
    for quota in quotas:
        hard = (quota.obj.get("spec") or {}).get("hard") or {}
        # A quota scoped to priority classes counts only their pods.
        scoped = [e for e in ((quota.obj.get("spec") or {}).get("scopeSelector") or {}).get("matchExpressions") or [] if e.get("scopeName") == "PriorityClass"]
        classes = {v for e in scoped for v in e.get("values") or []}
        used: dict[str, float] = {}
        for (ns, priority), totals in usage.items():
            if ns == quota.namespace and (not scoped or priority in classes):
                for key, value in totals.items():
                    used[key] = used.get(key, 0.0) + value
        summary[quota.ref] = {k: round(v) for k, v in used.items()}
        for key, limit in hard.items():
            name = {"cpu": "requests.cpu", "memory": "requests.memory"}.get(key, key)
            if name not in used:
                continue
            allowed = float(limit) if name == "pods" else _quantity(name, limit)
            if used[name] > allowed:
                shown = f"{used[name]:.0f}{'' if name == 'pods' else ('Mi' if 'memory' in name else 'm')}"
                errors.append({"object": quota.ref, "urn": quota.source, "message":
                               f"{name}: the namespace's pods ask {shown} (replicas the stack asks plus rolling-update surge, sidecars and LimitRange defaults included), above the quota's {limit}: raise the quota or shrink the workloads"})
    return {"quotas": summary, "errors": errors}
