"""render.engine.selectors: label selectors as the API server reads them, and each namespace's labels."""

from __future__ import annotations

import pytest

from render.engine.deployed import Deployed
from render.engine.selectors import namespace_labels, selects

LABELS = {"app": "backend", "track": "stable"}


@pytest.mark.parametrize(("selector", "selected"), [
    (None, True),
    ({}, True),
    ({"matchLabels": {"app": "backend"}}, True),
    ({"matchLabels": {"app": "frontend"}}, False),
    ({"matchExpressions": [{"key": "track", "operator": "In", "values": ["stable", "canary"]}]}, True),
    ({"matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["stable"]}]}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
    ({"matchLabels": {"app": "backend"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}, False),
])
def test_selectors_match_as_the_api_server_does(selector, selected):
    assert selects(selector, LABELS) is selected


def test_every_namespace_carries_its_name_label():
    objects = [
        Deployed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"istio-injection": "enabled"}}}, "urn:a", "program"),
        Deployed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "apps", "namespace": "x"}}, "urn:c", "program"),
    ]

    assert namespace_labels(objects) == {"apps": {"kubernetes.io/metadata.name": "apps", "istio-injection": "enabled"}}
