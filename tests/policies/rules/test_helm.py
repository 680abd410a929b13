"""policies.rules.helm: charts pinned to a version and a repository (the project's own charts excepted)."""

from __future__ import annotations

import pytest

from policy_fixtures import messages

CHART = "kubernetes:helm.sh/v4:Chart"


def chart(**overrides):
    props = {"chart": "istiod", "name": "istiod", "version": "1.2.3", "repositoryOpts": {"repo": "https://istio-release.storage.googleapis.com/charts"}}
    props.update(overrides)
    return props


@pytest.mark.parametrize(("policy", "props", "text"), [
    ("helm-chart-version-pinned", chart(version="~1.30"), "has version '~1.30'; pin an exact chart version"),
    ("helm-chart-version-pinned", chart(version=None), "has version None"),
    ("helm-chart-repository-https", chart(repositoryOpts={"repo": "http://charts.example.com"}), "comes from http://charts.example.com; use the repository's https://"),
])
def test_helm_rules(policy, props, text):
    assert messages(policy, CHART, chart()) == []
    assert messages(policy, "kubernetes:helm.sh/v3:Release", chart()) == []
    [message] = messages(policy, CHART, props)
    assert "chart istiod (release istiod)" in message and text in message


def test_charts_from_this_repository_need_no_version_or_repo():
    assert messages("helm-chart-version-pinned", CHART, {"chart": "./charts/local-app"}) == []
    assert messages("helm-chart-repository-https", CHART, {"chart": "./charts/local-app"}) == []
