"""render.checks.component_configs: components accept their own configuration: each validator catches one planted defect; the stacks pass."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from components.observability import alloy_config
from render.checks.component_configs import alertmanager_problems, alloy_problems, configs_report, falco_problems, promql_problem
from render.engine.deployed import Deployed


def obj(kind: str, name: str, **fields) -> Deployed:
    return Deployed({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "monitoring", "labels": fields.pop("labels", {})}, **fields}, f"urn:{name}", "program")


def test_promql_with_grafana_variables_parses_and_a_broken_one_does_not():
    assert promql_problem('sum by (destination_service_name) (rate(istio_requests_total{namespace=~"$namespace"}[$__rate_interval]))') is None
    assert promql_problem("sum(rate(http_requests_total[5m]) by (code)") == "unclosed left parenthesis"


def test_a_rule_that_does_not_parse_is_an_error():
    rule = Deployed({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "bad", "namespace": "apps"},
                     "spec": {"groups": [{"name": "g", "rules": [{"alert": "Broken", "expr": "rate(x[5m] > 1"}]}]}}, "urn:bad", "program")

    [error] = configs_report([rule])["errors"]

    assert error["check"] == "promql" and error["message"].startswith("group g rule Broken: `rate(x[5m] > 1` does not parse")


def test_a_dashboard_panel_that_does_not_parse_is_an_error():
    dashboard = {"panels": [{"title": "Row", "panels": [{"title": "Errors", "targets": [{"expr": "sum(rate(x[5m])) by"}]}]}]}
    config_map = obj("ConfigMap", "dash", labels={"grafana_dashboard": "1"}, data={"d.json": json.dumps(dashboard)})

    [error] = configs_report([config_map])["errors"]

    assert error["message"].startswith("d.json panel 'Errors': `sum(rate(x[5m])) by` does not parse")


def test_alertmanager_routes_must_name_defined_receivers_and_matchers_must_parse():
    config = {"route": {"receiver": "none", "routes": [{"receiver": "pager", "matchers": ['severity="critical"']}, {"receiver": "none", "matchers": ['="critical"']}]},
              "receivers": [{"name": "none"}], "inhibit_rules": [{"source_matchers": ['severity="critical"'], "target_matchers": ["bad matcher"]}]}

    assert alertmanager_problems(config) == [
        "route.routes[0] sends to receiver 'pager', which is not defined",
        "route.routes[1]: matcher '=\"critical\"' does not parse",
        "inhibit_rules[0].target_matchers: matcher 'bad matcher' does not parse",
    ]


def test_the_rendered_alertmanager_secret_is_checked():
    text = yaml.safe_dump({"route": {"receiver": "missing"}, "receivers": [{"name": "none"}], "templatez": []})
    secret = obj("Secret", "alertmanager-kps", data={"alertmanager.yaml": base64.b64encode(text.encode()).decode()})

    messages = [e["message"] for e in configs_report([secret])["errors"]]

    assert messages == ["alertmanager.yaml: unknown top-level key 'templatez'", "alertmanager.yaml: route sends to receiver 'missing', which is not defined"]


def test_falco_rules_need_their_fields_and_a_known_priority():
    rules = [{"rule": "Shell", "desc": "d", "condition": "spawned_process", "output": "o", "priority": "URGENT"}, {"macro": "m", "condition": "x"}, {"nothing": 1}]

    assert falco_problems(rules) == [
        "rule 'Shell' has priority 'URGENT'; Falco knows ALERT, CRITICAL, DEBUG, EMERGENCY, ERROR, INFO, INFORMATIONAL, NOTICE, WARNING",
        "item 2 is neither a rule, a macro nor a list",
    ]


def test_alloy_references_must_resolve_and_blocks_balance():
    good = alloy_config("http://loki.monitoring.svc.cluster.local:3100/loki/api/v1/push")
    dangling = good.replace("forward_to = [loki.write.default.receiver]", "forward_to = [loki.write.remote.receiver]")
    twice = good + 'loki.write "default" {\n}\n'
    unbalanced = good.replace("stage.cri {}", "stage.cri {")

    assert alloy_problems(good) == []
    assert alloy_problems(dangling) == ["loki.write.remote is referenced but not declared"]
    assert alloy_problems(twice) == ["component loki.write.default declared twice"]
    assert alloy_problems(unbalanced) == ["unbalanced braces"]
    # "//" inside a string (a URL) is not a comment, and braces in strings are not blocks.
    assert alloy_problems('loki.write "x" {\n  endpoint {\n    url = "http://a/{b}"\n  }\n}\n') == []


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_the_stacks_configurations_are_accepted(rendered, stack):
    _, data, _ = rendered(stack)

    assert data["configs"]["errors"] == []
    assert data["configs"]["checked"]["promql"] > 500 and data["configs"]["checked"]["alertmanager"] == 1
    assert data["configs"]["checked"]["alloy"] == 1


def test_a_canary_analysis_or_an_autoscaler_query_that_does_not_parse_is_an_error():
    analysis = Deployed({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate", "metadata": {"name": "api", "namespace": "apps"},
                         "spec": {"metrics": [
                             {"name": "ok", "provider": {"prometheus": {"query": 'sum(rate(x{svc="{{args.service-name}}"}[1m]))'}}},
                             {"name": "success-rate", "provider": {"prometheus": {"query": "sum(rate(x[1m]) / 2"}}},
                         ]}}, "urn:api", "program")
    scaled = Deployed({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "api", "namespace": "apps"},
                       "spec": {"triggers": [{"type": "prometheus", "name": "rps", "metadata": {"query": "sum(rate(x[1m])) by"}}]}}, "urn:scaled", "program")

    errors = configs_report([analysis, scaled])["errors"]

    assert [e["message"].split(":")[0] for e in errors] == ["metric success-rate", "trigger rps"]
    assert all(e["check"] == "promql" for e in errors)


@pytest.mark.parametrize(("groups", "problem"), [
    ([{"name": "a", "rules": []}, {"name": "a", "rules": []}], "group 'a' is repeated in the same file"),
    ([{"name": "a", "rules": [{"alert": "X", "record": "y", "expr": "1"}]}], "a rule has exactly one of alert and record"),
    ([{"name": "a", "rules": [{"expr": "1"}]}], "a rule has exactly one of alert and record"),
    ([{"name": "a", "rules": [{"record": "job:rate-5m", "expr": "1"}]}], "record 'job:rate-5m' is not a valid metric name"),
    ([{"name": "a", "rules": [{"alert": "X", "expr": "1", "for": "5 minutes"}]}], "for '5 minutes' is not a Prometheus duration"),
    ([{"name": "a", "rules": [{"record": "x", "expr": "1", "for": "5m"}]}], "a recording rule takes no for"),
    ([{"name": "a", "interval": "often", "rules": []}], "interval 'often' is not a Prometheus duration"),
    ([{"name": "a", "rules": [{"alert": "X", "expr": "1", "labels": {"team-name": "x"}}]}], "label name 'team-name' is invalid"),
])
def test_a_rule_file_prometheus_refuses_is_an_error(groups, problem):
    rule = Deployed({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r", "namespace": "monitoring"},
                     "spec": {"groups": groups}}, "urn:r", "program")

    [error] = [e for e in configs_report([rule])["errors"] if e["check"] == "rules"]

    assert problem in error["message"] and "none of its alerts fire" in error["message"]
    good = {"groups": [{"name": "a", "interval": "1m", "rules": [{"alert": "X", "expr": "up == 0", "for": "1h30m", "labels": {"severity": "page"}}]}]}
    assert configs_report([Deployed({**rule.obj, "spec": good}, "urn:r", "program")])["errors"] == []
