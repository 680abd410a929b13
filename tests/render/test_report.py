"""render.report: the critical path follows depends_on, property dependencies and providers; report.json and manifests as the CLI writes them are in test_cli."""

from __future__ import annotations

from render.engine.harness import RecordedResource
from render.report import critical_path


def _resource(name: str, deps=(), provider: str = "", prop=None) -> RecordedResource:
    return RecordedResource(
        urn=f"urn:{name}", type="t", name=name, custom=True, id="", parent="urn:stack", inputs={}, outputs={},
        dependencies=tuple(f"urn:{d}" for d in deps), property_dependencies={k: tuple(f"urn:{d}" for d in v) for k, v in (prop or {}).items()},
        provider=f"urn:{provider}" if provider else "", protect=False, retain_on_delete=False,
        delete_before_replace=False, additional_secret_outputs=(), ignore_changes=(), remote=False,
    )


def test_critical_path_follows_depends_on_property_dependencies_and_providers():
    resources = [
        _resource("cluster"),
        _resource("provider", deps=["cluster"]),
        _resource("crds", provider="provider"),
        _resource("app", prop={"spec": ["crds"]}, provider="provider"),
        _resource("side", deps=["cluster"]),
    ]

    path = critical_path(resources)

    assert path == {"length": 4, "urns": ["urn:cluster", "urn:provider", "urn:crds", "urn:app"]}


def test_critical_path_of_nothing_is_empty():
    assert critical_path([]) == {"length": 0, "urns": []}
