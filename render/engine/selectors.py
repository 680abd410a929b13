"""Label selectors and namespace labels, as the API server and the controllers match them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .deployed import Deployed


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels + matchExpressions) against labels; None/{} selects everything."""
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and present and labels.get(key) in values):
            return False
        if (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True


def namespace_labels(objects: Iterable[Deployed]) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for d in objects:
        if d.kind == "Namespace":
            labels[d.name] = {"kubernetes.io/metadata.name": d.name, **((d.obj.get("metadata") or {}).get("labels") or {})}
    return labels
