"""In-cluster and external addresses wired into configuration (values, env, args, ConfigMaps, Secrets)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .cluster import BUILTIN_NAMESPACES
from .deployed import Deployed
from .workloads import containers, pod_spec


def namespaces_of(objects: Iterable[Deployed], environment: str) -> set[str]:
    """Namespaces that exist once the stack is up: built-ins plus every Namespace object."""
    return set(BUILTIN_NAMESPACES.get(environment, BUILTIN_NAMESPACES["local"])) | {d.name for d in objects if d.kind == "Namespace"}


_ADDRESS = re.compile(
    r"(?:(?P<scheme>[a-z][a-z0-9+]*)://)?"
    r"(?<![A-Za-z0-9.-])(?P<svc>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.(?P<ns>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)"
    r"(?P<suffix>\.svc(?:\.cluster\.local)?)?(?![A-Za-z0-9-])(?!\.[A-Za-z])"
    r"(?::(?P<port>\d{1,5}))?"
)


_DEFAULT_PORTS = {"http": 80, "https": 443, "grpc": 80}


def addresses_in(text: str, namespaces: set[str]) -> Iterator[tuple[str, str, int | None, str]]:
    """(service, namespace, port or None, the text matched) of in-cluster addresses in `text`.

    `name.ns` counts only when `ns` is a namespace of the stack or a `.svc` suffix
    follows, so public hostnames (`registry.k8s.io`) are not mistaken for Services.
    """
    if ".svc" not in text and not any(f".{ns}" in text for ns in namespaces):
        return  # neither a `.svc` suffix nor a namespace of the stack: nothing can match (most texts)
    for m in _ADDRESS.finditer(text):
        if not m["suffix"] and m["ns"] not in namespaces:
            continue
        if not m["suffix"] and not m["port"] and not m["scheme"]:
            continue  # a bare `a.b` is too often not an address (file names, label keys)
        port = int(m["port"]) if m["port"] else _DEFAULT_PORTS.get(m["scheme"] or "")
        yield m["svc"], m["ns"], port, m.group(0)


_EXTERNAL_URL = re.compile(
    r"(?P<scheme>https?|grpcs?|wss?)://(?P<host>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\.[a-z]{2,63})"
    r"(?![-a-z0-9.])(?::(?P<port>\d{1,5}))?"
)


_SCHEME_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443, "ws": 80, "wss": 443}


def external_addresses_in(text: str, namespaces: set[str]) -> Iterator[tuple[str, int, str]]:
    """(host, port, the text matched) of URLs in `text` that leave the cluster: a public DNS
    name, not a Service's (`svc.ns`, `*.svc`, `*.cluster.local`)."""
    for m in _EXTERNAL_URL.finditer(text):
        host = m["host"]
        labels = host.split(".")
        if host.endswith((".svc", ".cluster.local", ".local")) or ".svc." in host or (len(labels) == 2 and labels[1] in namespaces):
            continue
        yield host, int(m["port"]) if m["port"] else _SCHEME_PORTS[m["scheme"]], m.group(0)


def strings_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from strings_in(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings_in(v, f"{path}[{i}]")


def wired_texts(d: Deployed) -> Iterator[tuple[str, str]]:
    """(where, text) of the places an object carries addresses: env, args, config data, and
    where an operator connects for it (KEDA triggers, Argo Rollouts analyses)."""
    spec = pod_spec(d.obj)
    if spec is not None:
        for _, c in containers(spec):
            for env in c.get("env") or []:
                if isinstance(env.get("value"), str):
                    yield f"container {c.get('name')} env {env.get('name')}", env["value"]
            for key in ("args", "command"):
                for i, arg in enumerate(c.get(key) or []):
                    yield f"container {c.get('name')} {key}[{i}]", str(arg)
    if d.kind == "ScaledObject" and str(d.obj.get("apiVersion", "")).startswith("keda.sh/"):
        # KEDA's operator queries each trigger's server (a Prometheus serverAddress, ...).
        yield from strings_in((d.obj.get("spec") or {}).get("triggers") or [], "spec.triggers")
    if d.kind in ("AnalysisTemplate", "ClusterAnalysisTemplate") and str(d.obj.get("apiVersion", "")).startswith("argoproj.io/"):
        # Where each measurement connects (a query names services only as label values).
        for metric in (d.obj.get("spec") or {}).get("metrics") or []:
            for provider_name, provider in (metric.get("provider") or {}).items():
                if isinstance(provider, dict) and isinstance(provider.get("address") or provider.get("url"), str):
                    yield f"metrics[{metric.get('name')}].provider.{provider_name}", str(provider.get("address") or provider.get("url"))
    if d.kind == "ConfigMap":
        for key, text in (d.obj.get("data") or {}).items():
            yield f"data.{key}", str(text)
    if d.kind == "Secret":
        for key, text in (d.obj.get("stringData") or {}).items():
            yield f"stringData.{key}", str(text)
        for key, text in (d.obj.get("data") or {}).items():
            try:
                yield f"data.{key}", base64.b64decode(str(text), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                continue


def service_of_host(host: str, namespace: str) -> tuple[str, str] | None:
    """(namespace, Service) an Istio host names in the mesh (`svc`, `svc.ns`, `svc.ns.svc.cluster.local`), else None."""
    parts = host.split(".")
    if "*" in host:
        return None
    if len(parts) == 1:
        return namespace, parts[0]
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        return parts[1], parts[0]
    return None
