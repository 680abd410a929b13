"""Read-only access to the pinned upstream bundle (`../shared/upstream`): CRDs, chart values, versions.

The bundle sits beside the project in CI and on developer machines; a clone on its
own has none, and `bundle()` returns None (callers skip their checks visibly).
`GITOPS_UPSTREAM` points elsewhere.

    upstream = bundle()
    crd = upstream.crd("networking.istio.io", "VirtualService")
    values = upstream.chart_values("istiod", "1.30.3")
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LOCATION = PROJECT_ROOT.parent / "shared" / "upstream"

ISTIO_DEFAULTS_KEY = "_internal_defaults_do_not_set"

# libyaml's parser when PyYAML has it (the wheels do): CRDs and chart values are large.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_LOADER)
"""Istio charts nest their defaults under this key; users set the same keys at the top level."""


@dataclass(frozen=True)
class ChartInfo:
    name: str
    version: str
    role: str
    directory: Path
    dependencies: tuple[dict[str, Any], ...]


class Bundle:
    """The pinned upstream data at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @functools.cached_property
    def versions(self) -> dict[str, Any]:
        return json.loads((self.root / "versions.json").read_text())

    @functools.cached_property
    def _crd_index(self) -> dict[tuple[str, str], Path]:
        index = json.loads((self.root / "crds" / "index.json").read_text())
        return {(e["group"], e["kind"]): self.root / e["file"] for e in index}

    @functools.cache  # noqa: B019 - one Bundle per location, alive for the whole process
    def crd(self, group: str, kind: str) -> dict[str, Any] | None:
        """The CustomResourceDefinition document for `group`/`kind`, or None if not bundled."""
        path = self._crd_index.get((group, kind))
        return _load_yaml(path) if path else None

    @functools.cached_property
    def charts(self) -> list[ChartInfo]:
        index = json.loads((self.root / "charts" / "index.json").read_text())
        return [
            ChartInfo(e["chart_name"], e["chart_version"], e["role"], self.root / e["dir"], tuple(e.get("dependencies", [])))
            for e in index
        ]

    def chart(self, name: str, version: str) -> ChartInfo | None:
        return next((c for c in self.charts if c.name == name and c.version == version), None)

    def subchart(self, parent: ChartInfo, name: str) -> ChartInfo | None:
        """The bundled version of dependency `name` that `parent` pulls in."""
        marker = f"subchart-of {parent.name} {parent.version}"
        return next((c for c in self.charts if c.name == name and c.role == marker), None)

    @functools.cache  # noqa: B019 - one Bundle per location, alive for the whole process
    def raw_chart_values(self, name: str, version: str) -> dict[str, Any] | None:
        """A chart version's values.yaml as published."""
        info = self.chart(name, version)
        if info is None:
            return None
        return _load_yaml(info.directory / "values.yaml") or {}

    def chart_values(self, name: str, version: str) -> dict[str, Any] | None:
        """Default values of a chart version as users set them (Istio's defaults wrapper removed)."""
        values = self.raw_chart_values(name, version)
        if values is not None and set(values) == {ISTIO_DEFAULTS_KEY}:
            return values[ISTIO_DEFAULTS_KEY]
        return values

    @functools.cache  # noqa: B019 - one Bundle per location, alive for the whole process
    def chart_schema(self, name: str, version: str) -> dict[str, Any] | None:
        info = self.chart(name, version)
        if info is None or not (info.directory / "values.schema.json").is_file():
            return None
        return json.loads((info.directory / "values.schema.json").read_text())


@functools.cache
def bundle() -> Bundle | None:
    """The upstream bundle, or None when it is not beside the project."""
    location = Path(os.environ.get("GITOPS_UPSTREAM") or DEFAULT_LOCATION)
    return Bundle(location) if (location / "versions.json").is_file() else None
