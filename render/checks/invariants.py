"""API-server invariants over the whole stack: what the API server rejects whatever the schema says.

- `names`: `metadata.name` follows its kind's rule — a DNS-1035 label for Services
  (≤ 63, starts with a letter), a DNS-1123 label for Namespaces (≤ 63), a path segment
  for RBAC objects (no `/` or `%`), a DNS-1123 subdomain (≤ 253) for everything else.
- `labels`: label keys (optional DNS-subdomain prefix, name ≤ 63) and values (≤ 63,
  alphanumerics with `-_.` inside) on objects and on pod templates.
- `ports`: container port names, and Service `targetPort` names, are IANA service
  names (≤ 15 characters, lowercase letters, digits and single `-`, at least one letter).
- `duplicates`: no two objects share kind, namespace and name, whichever chart or
  program resource declares them (the second apply would take the first one over).
- `pods`, `workloads`, `services`, `disruption`, `autoscaling`: the API server's own
  validation rules for those kinds (`apivalidation.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..engine.deployed import Deployed
from ..engine.workloads import containers, pod_metadata, pod_spec

_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_RBAC = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


def name_problem(kind: str, name: str) -> str | None:
    """Why the API server rejects `name` for `kind`, or None."""
    if kind == "Service":
        if len(name) > 63 or not _DNS_1035_LABEL.match(name):
            return "a Service name must be a DNS-1035 label: at most 63 lowercase letters, digits and '-', starting with a letter"
    elif kind == "Namespace":
        if len(name) > 63 or not _DNS_1123_LABEL.match(name):
            return "a Namespace name must be a DNS-1123 label: at most 63 lowercase letters, digits and '-'"
    elif kind in _RBAC:
        if not name or name in (".", "..") or "/" in name or "%" in name:
            return "an RBAC object's name must be a path segment: no '/', no '%', not '.' or '..'"
    elif len(name) > 253 or not _DNS_1123_SUBDOMAIN.match(name):
        return "the name must be a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' and '.'"
    return None


def label_problem(key: str, value: str) -> str | None:
    prefix, _, local = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_1123_SUBDOMAIN.match(prefix)):
        return f"label key {key!r}: the prefix must be a DNS-1123 subdomain"
    if not local or len(local) > 63 or not _LABEL_VALUE.match(local):
        return f"label key {key!r}: the name must be at most 63 alphanumerics, '-', '_' or '.', alphanumeric at both ends"
    if len(str(value)) > 63 or not _LABEL_VALUE.match(str(value)):
        return f"label {key}={value!r}: a value is at most 63 alphanumerics, '-', '_' or '.', alphanumeric at both ends"
    return None


def port_name_problem(name: str) -> str | None:
    if len(name) > 15 or not _IANA_SVC_NAME.match(name) or "--" in name or not re.search(r"[a-z]", name):
        return f"port name {name!r} must be an IANA service name: at most 15 lowercase letters, digits and single '-', with a letter"
    return None


def _label_sets(d: Deployed) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield "metadata.labels", (d.obj.get("metadata") or {}).get("labels") or {}
    if pod_spec(d.obj) is not None:
        yield "pod template labels", pod_metadata(d.obj).get("labels") or {}


def _port_names(d: Deployed) -> Iterator[tuple[str, str]]:
    spec = pod_spec(d.obj)
    for _, c in containers(spec or {}):
        for port in c.get("ports") or []:
            if port.get("name"):
                yield f"container {c.get('name')} port", str(port["name"])
    if d.kind == "Service":
        for port in (d.obj.get("spec") or {}).get("ports") or []:
            if isinstance(port.get("targetPort"), str):
                yield f"Service port {port.get('name')} targetPort", port["targetPort"]


def invariants_report(objects: Sequence[Deployed], api_rules: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
    """The render's `invariants` section; `api_rules`: the findings of `checks.api_rules` (the layer runs both)."""
    errors: list[dict[str, str]] = []
    seen: dict[tuple[str, str, str, str], Deployed] = {}
    live = [d for d in objects if d.origin != "dropped-hook"]
    for d in live:
        problem = name_problem(d.kind, d.name)
        if problem:
            errors.append({"check": "names", "object": d.ref, "urn": d.source, "message": f"name {d.name!r}: {problem}"})
        for where, labels in _label_sets(d):
            for key, value in labels.items():
                problem = label_problem(str(key), "" if value is None else str(value))
                if problem:
                    errors.append({"check": "labels", "object": d.ref, "urn": d.source, "message": f"{where}: {problem}"})
        for where, port in _port_names(d):
            problem = port_name_problem(port)
            if problem:
                errors.append({"check": "ports", "object": d.ref, "urn": d.source, "message": f"{where}: {problem}"})
        group = str(d.obj.get("apiVersion", "")).rpartition("/")[0]
        identity = (group, d.kind, d.namespace, d.name)
        if identity in seen:
            first = seen[identity]
            errors.append({"check": "duplicates", "object": d.ref, "urn": d.source,
                           "message": f"{first.ref} is declared twice (also by {first.source.rsplit('::', 1)[-1]}): one would overwrite the other; rename or drop one"})
        else:
            seen[identity] = d
    errors += list(api_rules)
    return {"checked": len(live), "errors": errors}
