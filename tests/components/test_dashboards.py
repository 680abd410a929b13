"""components.dashboards: the platform's Grafana dashboards — valid JSON, unique ids, queries that name metrics."""

from __future__ import annotations

import json

import pytest

from components.dashboards import DASHBOARDS, dashboard_json, metrics_in


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_each_dashboard_is_json_with_unique_panel_ids_and_a_query_per_target(name):
    dashboard = json.loads(dashboard_json(name))

    panels = dashboard["panels"]
    assert dashboard["uid"] and dashboard["title"] and panels
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"] and all(metrics_in(t["expr"]) for t in panel["targets"]), panel["title"]


def test_metrics_in_reads_metric_names_not_labels_functions_or_keywords():
    expr = 'sum by (destination_service) (rate(istio_requests_total{response_code=~"5.."}[5m])) / on() group_left sum(rate(istio_requests_total[5m])) > bool 0.05'

    assert metrics_in(expr) == {"istio_requests_total"}
    assert metrics_in('histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket[5m])))') == {
        "istio_request_duration_milliseconds_bucket"
    }
