"""Footprint and image inventory: what the stack's pods request and run, from the rendered pod specs.

Every object the stack deploys (program and charts, see `deployed.py`) that runs pods
counts: requests × replicas, DaemonSets × nodes. Pods that operators create from a
custom resource count from that resource (Prometheus and Alertmanager: `spec.resources`
× `spec.replicas`; Trivy's scan jobs: the operator's concurrency limit × the scan job
requests in its ConfigMap). Hook Jobs and other Jobs run to completion and are listed
apart (`transient`). A container without cpu and memory requests is listed in
`unrequested`, never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.config import AwsPlatformConfig, PlatformConfig
from components.quantity import cpu_millicores, memory_mib

from .deployed import Deployed
from .workloads import containers, pod_spec, replicas

_TRANSIENT = ("Job", "CronJob")


def node_count(config: PlatformConfig) -> int:
    """Nodes a DaemonSet runs on: kind's nodes, or the node group's desired size."""
    if isinstance(config, AwsPlatformConfig):
        return config.cluster.node_group.desired_size
    return 1 + config.cluster.workers if config.cluster.mode == "kind" else 1


def _requests(resources: Any) -> tuple[float, float] | None:
    requests = (resources or {}).get("requests") or {}
    if "cpu" not in requests or "memory" not in requests:
        return None
    return cpu_millicores(requests["cpu"]), memory_mib(requests["memory"])


def pod_requests(spec: Mapping[str, Any]) -> tuple[float, float, list[str]]:
    """(cpu m, memory MiB, containers without cpu+memory requests) the scheduler reserves for one pod.

    Regular containers and restartable (sidecar) init containers add up; a plain init
    container only matters when it asks for more than that sum.
    """
    missing: list[str] = []
    cpu = mem = 0.0
    init_cpu = init_mem = 0.0
    for field, container in containers(spec):
        if field == "ephemeralContainers":
            continue
        got = _requests(container.get("resources"))
        if got is None:
            missing.append(str(container.get("name", "?")))
            continue
        if field == "initContainers" and container.get("restartPolicy") != "Always":
            init_cpu, init_mem = max(init_cpu, got[0]), max(init_mem, got[1])
        else:
            cpu, mem = cpu + got[0], mem + got[1]
    return max(cpu, init_cpu), max(mem, init_mem), missing


@dataclass(frozen=True)
class Workload:
    component: str
    name: str
    cpu_millicores: float
    memory_mib: float


def _operator_pods(d: Deployed, objects: Sequence[Deployed]) -> tuple[int, Mapping[str, Any]] | None:
    """(pods, resources) an operator runs for a custom resource, or None."""
    spec = d.obj.get("spec") or {}
    if d.kind in ("Prometheus", "Alertmanager") and str(d.obj.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
        return int(spec.get("replicas") or 1), spec.get("resources") or {}
    return None


def _trivy_scan_jobs(objects: Sequence[Deployed]) -> list[tuple[Deployed, int, dict[str, Any]]]:
    """Trivy operator Deployments: (operator, concurrent scan jobs, scan job resources from its ConfigMap)."""
    found = []
    config = {(d.namespace, d.name): d.obj.get("data") or {} for d in objects if d.kind == "ConfigMap"}
    for d in objects:
        if d.kind != "Deployment":
            continue
        for _, c in containers(pod_spec(d.obj) or {}):
            env = {e.get("name"): e.get("value") for e in c.get("env") or []}
            if "OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT" in env:
                data = config.get((d.namespace, "trivy-operator-trivy-config"), {})
                resources = {
                    "requests": {k.rsplit(".", 1)[1]: v for k, v in data.items() if k.startswith("trivy.resources.requests.")}
                }
                found.append((d, int(env["OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT"] or 0), resources))
    return found


def footprint(objects: Sequence[Deployed], *, nodes: int, component_of: Callable[[str], str]) -> dict[str, Any]:
    """Requested CPU/memory of every pod the stack's `objects` keep running."""
    counted: list[Workload] = []
    unrequested: list[dict[str, str]] = []
    transient: list[dict[str, Any]] = []
    for d in objects:
        if d.origin == "dropped-hook":
            continue
        name = f"{d.kind} {d.namespace + '/' if d.namespace else ''}{d.name}"
        spec = pod_spec(d.obj)
        if spec is not None:
            cpu, mem, missing = pod_requests(spec)
            unrequested += [{"urn": d.source, "workload": name, "container": c} for c in missing]
            if d.kind in _TRANSIENT:
                transient.append({"workload": name, "cpu_millicores": round(cpu), "memory_mib": round(mem), "hook": d.origin == "hook"})
                continue
            count = replicas(d.obj, nodes)
            counted.append(Workload(component_of(d.source), name, cpu * count, mem * count))
            continue
        operated = _operator_pods(d, objects)
        if operated is not None:
            count, resources = operated
            got = _requests(resources)
            if got is None:
                unrequested.append({"urn": d.source, "workload": name, "container": d.kind.lower()})
                continue
            counted.append(Workload(component_of(d.source), name, got[0] * count, got[1] * count))
    for operator, count, resources in _trivy_scan_jobs(objects):
        got = _requests(resources)
        name = f"scan jobs of Deployment {operator.namespace}/{operator.name}"
        if got is None:
            unrequested.append({"urn": operator.source, "workload": name, "container": "trivy"})
        elif count:
            counted.append(Workload(component_of(operator.source), name, got[0] * count, got[1] * count))
    by_component: dict[str, dict[str, float]] = {}
    for w in counted:
        entry = by_component.setdefault(w.component, {"cpu_millicores": 0, "memory_mib": 0})
        entry["cpu_millicores"] += w.cpu_millicores
        entry["memory_mib"] += w.memory_mib
    return {
        "cpu_millicores": round(sum(w.cpu_millicores for w in counted)),
        "memory_mib": round(sum(w.memory_mib for w in counted)),
        "by_component": {k: {m: round(v) for m, v in e.items()} for k, e in sorted(by_component.items())},
        "workloads": [{"component": w.component, "workload": w.name, "cpu_millicores": round(w.cpu_millicores), "memory_mib": round(w.memory_mib)} for w in counted],
        "unrequested": unrequested,
        "transient": transient,
        "nodes": nodes,
    }


def _image_parts(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of an image reference (tag "" when none is given)."""
    rest, _, digest = image.partition("@")
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, _, tag = rest.rpartition(":")
    else:
        tag = ""
    return rest, tag, digest


def istio_proxy_image(objects: Sequence[Deployed]) -> str | None:
    """The proxy image istiod's injector puts where a pod says `image: auto` (its gateway pods)."""
    for d in objects:
        if d.kind == "ConfigMap" and d.name.startswith("istio-sidecar-injector") and "values" in (d.obj.get("data") or {}):
            values = (json.loads(d.obj["data"]["values"]) or {}).get("global") or {}
            proxy = (values.get("proxy") or {}).get("image")
            if values.get("hub") and values.get("tag") and proxy:
                return f"{values['hub']}/{proxy}:{values['tag']}"
    return None


def image_inventory(objects: Sequence[Deployed], own_registries: Sequence[str] = (), locked: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every image the stack's pods (and operator-run custom resources) use; `latest` or no tag is an error,
    and so is an image `locked` (images.lock) does not list, unless the stack builds it
    (pinned by digest under one of `own_registries`).

    `image: auto` is Istio's placeholder that its injector replaces at admission with the
    mesh's proxy image: it counts as that image (and is an error when no istiod is there
    to replace it).
    """
    uses: dict[str, set[str]] = {}
    proxy = istio_proxy_image(objects)
    for d in objects:
        if d.origin == "dropped-hook":
            continue
        spec = pod_spec(d.obj)
        images = [str(c.get("image")) for _, c in containers(spec or {}) if c.get("image")]
        images = [proxy if image == "auto" and proxy else image for image in images]
        if spec is None and d.kind in ("Prometheus", "Alertmanager") and (d.obj.get("spec") or {}).get("image"):
            images.append(str(d.obj["spec"]["image"]))
        for image in images:
            uses.setdefault(image, set()).add(d.ref)
    entries, errors = [], []
    for image, refs in sorted(uses.items()):
        repository, tag, digest = _image_parts(image)
        entries.append({"image": image, "repository": repository, "tag": tag, "digest": digest, "used_by": sorted(refs)})
        if not digest and tag in ("", "latest"):
            errors.append({"check": "tag", "image": image, "used_by": sorted(refs), "message": f"{image} has no fixed tag ({tag or 'none'}): pin a version tag or a digest"})
        elif locked is not None and image not in locked and not (digest and any(image.startswith(p) for p in own_registries)):
            known = sorted(i for i in locked if i.rsplit(":", 1)[0] == image.rsplit(":", 1)[0].split("@")[0])
            hint = f" (locked: {', '.join(known)})" if known else ""
            errors.append({"check": "lock", "image": image, "used_by": sorted(refs), "message": f"{image} is not in images.lock{hint}: a mistyped tag is never pulled; "
                           "fix the tag, or after a deliberate upgrade run `make images-lock`"})
    return {"images": entries, "errors": errors, **({"locked": len(locked)} if locked is not None else {})}
