"""What Istio's sidecar injector adds to a pod, so admission, quotas and scrapes see the pod as it runs.

One model, tied to the pinned istiod chart's injection template
(`files/injection-template.yaml` of the chart; a test reads that text):

- pods are injected in namespaces labelled `istio-injection=enabled`, or when they are
  labelled `sidecar.istio.io/inject=true` (unless labelled `false`);
- `istio-init` (without Istio CNI) runs as root with `NET_ADMIN` and `NET_RAW`,
  privilege escalation off, all other capabilities dropped, writable root filesystem;
  with Istio CNI (`pilot.cni.enabled`) it is `istio-validation` instead: 1337, non-root,
  read-only root, all capabilities dropped;
- `istio-proxy` runs as 1337, non-root, read-only root, all capabilities dropped; a
  native sidecar (an init container with `restartPolicy: Always`) unless istiod is told
  `ENABLE_NATIVE_SIDECARS=false` (Istio's default since 1.27, as its compatibility
  profiles for 1.25/1.26 show);
- both get `global.proxy.resources` and the image `<hub>/proxyv2:<tag>` of the stack's
  istiod values (read from the rendered `istio-sidecar-injector` ConfigMap);
- the pod gets the labels `security.istio.io/tlsMode=istio` and
  `service.istio.io/canonical-name`/`-revision`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .deployed import Deployed
from .workloads import pod_metadata, pod_spec


@dataclass(frozen=True)
class Injector:
    """What this stack's istiod injects."""

    image: str
    resources: Mapping[str, Any] = field(default_factory=dict)
    cni: bool = False
    native_sidecars: bool = True


def injector_of(objects: Sequence[Deployed]) -> Injector | None:
    """The stack's injector, from istiod's rendered values and Deployment (None without istiod)."""
    values: Mapping[str, Any] | None = None
    native = True
    for d in objects:
        if d.kind == "ConfigMap" and d.name.startswith("istio-sidecar-injector") and "values" in (d.obj.get("data") or {}):
            values = json.loads(d.obj["data"]["values"])
        if d.kind == "Deployment" and d.name == "istiod":
            for c in (pod_spec(d.obj) or {}).get("containers") or []:
                for env in c.get("env") or []:
                    if env.get("name") == "ENABLE_NATIVE_SIDECARS":
                        native = str(env.get("value")).lower() != "false"
    if values is None:
        return None
    proxy = (values.get("global") or {}).get("proxy") or {}
    hub, tag = values["global"].get("hub"), values["global"].get("tag")
    cni = bool(((values.get("pilot") or {}).get("cni") or {}).get("enabled"))
    return Injector(image=f"{hub}/{proxy.get('image', 'proxyv2')}:{tag}", resources=proxy.get("resources") or {}, cni=cni, native_sidecars=native)


def _namespace_labels(objects: Sequence[Deployed]) -> dict[str, Mapping[str, str]]:
    return {d.name: (d.obj.get("metadata") or {}).get("labels") or {} for d in objects if d.kind == "Namespace"}


def is_injected(d: Deployed, namespace_labels: Mapping[str, Mapping[str, str]]) -> bool:
    labels = pod_metadata(d.obj).get("labels") or {}
    if labels.get("sidecar.istio.io/inject") == "false":
        return False
    return labels.get("sidecar.istio.io/inject") == "true" or namespace_labels.get(d.namespace, {}).get("istio-injection") == "enabled"


def init_container(injector: Injector) -> dict[str, Any]:
    """The injected init container: `istio-init` (root, NET_ADMIN/NET_RAW, sets up the
    redirection) or, with Istio CNI, `istio-validation` (1337, no capabilities, only checks it)."""
    if injector.cni:
        name, add = "istio-validation", {}
        user = {"readOnlyRootFilesystem": True, "runAsGroup": 1337, "runAsNonRoot": True, "runAsUser": 1337}
    else:
        name, add = "istio-init", {"add": ["NET_ADMIN", "NET_RAW"]}
        user = {"readOnlyRootFilesystem": False, "runAsGroup": 0, "runAsNonRoot": False, "runAsUser": 0}
    return {
        "name": name,
        "image": injector.image,
        "resources": dict(injector.resources),
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False, "capabilities": {**add, "drop": ["ALL"]}, **user},
    }


def proxy_container(injector: Injector) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "istio-proxy",
        "image": injector.image,
        "ports": [{"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}],
        "resources": dict(injector.resources),
        "securityContext": {
            "allowPrivilegeEscalation": False, "privileged": False, "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True, "runAsGroup": 1337, "runAsNonRoot": True, "runAsUser": 1337,
        },
    }
    if injector.native_sidecars:
        container["restartPolicy"] = "Always"
    return container


def inject(d: Deployed, injector: Injector) -> Deployed:
    """`d` as the API server stores its pods after the injector ran (a copy)."""
    obj = copy.deepcopy(d.obj)
    template = _template(obj)
    spec = template.setdefault("spec", {})
    metadata = template.setdefault("metadata", {})
    init = list(spec.get("initContainers") or [])
    main = list(spec.get("containers") or [])
    added_init = [init_container(injector)]
    if any(c.get("name") == "istio-proxy" for c in main):
        # A gateway (`inject.istio.io/templates: gateway`): the injector fills in the
        # pod's own istio-proxy container (its `image: auto`) and adds nothing.
        main = [{**c, "image": injector.image} if c.get("name") == "istio-proxy" and c.get("image") == "auto" else c for c in main]
    elif injector.native_sidecars:
        init = [*added_init, proxy_container(injector), *init]
    else:
        init = [*added_init, *init]
        main = [*main, proxy_container(injector)]
    spec["initContainers"], spec["containers"] = init, main
    labels = dict(metadata.get("labels") or {})
    labels.setdefault("security.istio.io/tlsMode", "istio")
    labels.setdefault("service.istio.io/canonical-name", str(labels.get("app.kubernetes.io/name") or labels.get("app") or d.name)[:63])
    labels.setdefault("service.istio.io/canonical-revision", str(labels.get("app.kubernetes.io/version") or labels.get("version") or "latest")[:63])
    metadata["labels"] = labels
    return replace(d, obj=obj)


def _template(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template (`metadata` + `spec`) inside a workload object, for editing."""
    if obj.get("kind") == "Pod":
        return obj
    spec = obj.setdefault("spec", {})
    if obj.get("kind") == "CronJob":
        spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    template: dict[str, Any] = spec.setdefault("template", {})
    return template


def as_admitted(objects: Sequence[Deployed]) -> list[Deployed]:
    """Every object as the cluster admits it: pod templates that Istio injects carry its containers and labels."""
    injector = injector_of(objects)
    if injector is None:
        return list(objects)
    namespaces = _namespace_labels(objects)
    return [inject(d, injector) if pod_spec(d.obj) is not None and d.origin != "dropped-hook" and is_injected(d, namespaces) else d for d in objects]
