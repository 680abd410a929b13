"""components.observability: ObservabilityStack: per profile, CRD ownership, secrets, rules with configured thresholds, dashboards."""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError
from components.dashboards import COLLECTED_METRICS, DASHBOARDS, metrics_in
from components.observability import RulesConfig, platform_rule_groups
from helpers import aws, local, pinned
from render.engine.harness import Secret, reveal, run_program, run_program_recording

NS = "gitops-platform"
SECRETS = {"alerting": {"pager": {"type": "pagerduty", "secret": "pd-routing-key"}, "chat": {"type": "slack", "secret": "https://hooks.slack.com/services/T/B/X"}}}


def release(run, chart):
    found = [r for r in run.resources if r.type.startswith("kubernetes:helm.sh/") and r.inputs["chart"] == chart and "ObservabilityStack$" in r.urn]
    return found[0] if found else None


def kps(run):
    return release(run, "kube-prometheus-stack")


def test_prometheus_crds_are_owned_apart_from_the_chart(local_defaults):
    [crds] = local_defaults.of_type("kubernetes:yaml/v2:ConfigGroup")
    stack = kps(local_defaults)

    assert len(crds.inputs["files"]) == 10
    assert all(f.startswith(f"https://raw.githubusercontent.com/prometheus-community/helm-charts/kube-prometheus-stack-{pinned('kube-prometheus-stack')}/") for f in crds.inputs["files"])
    assert any(f.endswith("/crd-servicemonitors.yaml") for f in crds.inputs["files"])
    assert stack.inputs["skipCrds"] is True and stack.inputs["values"]["crds"] == {"enabled": False}
    assert crds.urn in stack.dependencies
    for resource in local_defaults.resources:
        if resource.type.startswith("kubernetes:monitoring.coreos.com/"):
            assert crds.urn in resource.dependencies, resource.name


def test_prometheus_profiles(local_defaults, aws_defaults):
    local_spec = kps(local_defaults).inputs["values"]["prometheus"]["prometheusSpec"]
    aws_spec = kps(aws_defaults).inputs["values"]["prometheus"]["prometheusSpec"]

    assert (local_spec["replicas"], local_spec["retention"], local_spec["retentionSize"]) == (1, "2d", "2GB")
    assert "storageSpec" not in local_spec
    assert (aws_spec["replicas"], aws_spec["retention"]) == (2, "15d")
    assert aws_spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert local_spec["resources"]["requests"] == {"cpu": "200m", "memory": "384Mi"}
    for key in ("serviceMonitorSelectorNilUsesHelmValues", "podMonitorSelectorNilUsesHelmValues", "ruleSelectorNilUsesHelmValues"):
        assert local_spec[key] is False


def test_istiod_envoy_and_gatekeeper_are_scraped(local_defaults):
    monitors = {r.inputs["metadata"]["name"]: r for r in local_defaults.resources if r.type.endswith((":ServiceMonitor", ":PodMonitor")) and "ObservabilityStack$" in r.urn}

    assert set(monitors) == {"istiod", "envoy-stats", "gatekeeper"}
    assert monitors["envoy-stats"].inputs["spec"]["podMetricsEndpoints"][0]["path"] == "/stats/prometheus"
    exprs = monitors["envoy-stats"].inputs["spec"]["selector"]["matchExpressions"]
    assert {"key": "app.kubernetes.io/part-of", "operator": "NotIn", "values": ["gitops-platform"]} in exprs


def test_grafana_admin_password_is_random_and_secret(local_defaults):
    [password] = [r for r in local_defaults.of_type("random:index/randomPassword:RandomPassword") if r.name.endswith("grafana-admin")]
    [secret] = [r for r in local_defaults.of_type("kubernetes:core/v1:Secret") if r.name.endswith("grafana-admin-secret")]
    grafana = kps(local_defaults).inputs["values"]["grafana"]

    assert password.inputs["length"] == 32
    assert isinstance(secret.inputs["stringData"], Secret)
    assert reveal(secret.inputs["stringData"])["admin-password"] == password.outputs["result"]
    assert grafana["admin"] == {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"}
    assert password.outputs["result"] not in json.dumps(reveal(kps(local_defaults).inputs))


def test_grafana_password_output_is_secret():
    from components.observability import ObservabilityConfig, ObservabilityStack

    seen = {}

    def program():
        obs = ObservabilityStack("obs", ObservabilityConfig.for_environment("local"))

        async def check():
            seen["secret"] = await obs.grafana_admin_password.is_secret()
            seen["tracing"] = await obs.tracing_address.future()

        return check()

    run_program("local", local(), program=program)
    assert seen == {"secret": True, "tracing": "jaeger.monitoring.svc.cluster.local:4317"}


def test_dashboard_and_datasource_sidecars(local_defaults):
    grafana = kps(local_defaults).inputs["values"]["grafana"]
    dashboards = [r for r in local_defaults.of_type("kubernetes:core/v1:ConfigMap") if r.name.startswith("platform-observability-dashboard")]

    assert grafana["sidecar"]["dashboards"] == {"enabled": True, "label": "grafana_dashboard", "searchNamespace": "ALL"}
    assert grafana["sidecar"]["datasources"] == {"enabled": True}
    assert len(dashboards) == 3 and all(d.inputs["metadata"]["labels"] == {"grafana_dashboard": "1"} for d in dashboards)
    loki, jaeger = grafana["additionalDataSources"]
    assert loki["type"] == "loki" and jaeger["type"] == "jaeger"
    assert jaeger["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "loki"


def test_alerts_route_by_severity_with_critical_inhibiting_warning():
    run = run_program("local", local(observability=SECRETS), secret_keys=[f"{NS}:observability"])
    values = kps(run).inputs["values"]["alertmanager"]
    config = values["config"]
    [receivers] = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.name.endswith("alertmanager-receivers")]

    routes = {r["matchers"][0]: r["receiver"] for r in config["route"]["routes"]}
    assert routes == {'severity="critical"': "pager", 'severity="warning"': "chat", 'severity="info"': "none"}
    assert config["inhibit_rules"] == [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'], "equal": ["alertname", "namespace"]}]
    by_name = {r["name"]: r for r in config["receivers"]}
    assert by_name["pager"]["pagerduty_configs"][0]["routing_key_file"] == "/etc/alertmanager/secrets/alertmanager-receivers/pager"
    assert by_name["chat"]["slack_configs"][0]["api_url_file"] == "/etc/alertmanager/secrets/alertmanager-receivers/chat"
    assert values["alertmanagerSpec"]["secrets"] == ["alertmanager-receivers"]
    assert isinstance(receivers.inputs["stringData"], Secret)
    assert "pd-routing-key" not in json.dumps(reveal(kps(run).inputs))


def test_without_receivers_alerts_go_nowhere_explicitly(local_defaults):
    config = kps(local_defaults).inputs["values"]["alertmanager"]["config"]

    assert {r["receiver"] for r in config["route"]["routes"]} == {"none"}
    assert config["receivers"] == [{"name": "none"}]


def all_rules(run):
    [rule] = [r for r in run.resources if r.name == "platform-observability-platform-rules"]
    return {r["alert"]: r for g in rule.inputs["spec"]["groups"] for r in g["rules"]}


def test_platform_alerts_are_complete(local_defaults):
    rules = all_rules(local_defaults)

    assert set(rules) == {
        "PodCrashLooping", "PodNotReady", "HighMemoryUsage", "HighCPUUsage", "IstioHighRequestLatency", "IstioHighErrorRate", "UndeclaredEgress",
        "TrivyCriticalVulnerability", "GatekeeperViolation", "SLOErrorBudgetBurnFast", "SLOErrorBudgetBurnSlow",
        "CertificateExpiringSoon", "CertificateNotReady",
    }
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
    assert rules["IstioHighErrorRate"]["labels"]["severity"] == "critical"
    assert rules["PodNotReady"]["for"] == "15m"
    assert "< 14 * 86400" in rules["CertificateExpiringSoon"]["expr"]
    assert rules["CertificateNotReady"]["for"] == "15m"


def test_configured_thresholds_appear_in_the_expressions():
    run = run_program("local", local(observability={"rules": {"memoryPercentOfLimit": 85, "cpuPercentOfLimit": 80, "istioP99LatencyMs": 750, "istioErrorPercent": 2, "podNotReadyMinutes": 20, "forMinutes": 10}}))
    rules = all_rules(run)

    assert rules["HighMemoryUsage"]["expr"].endswith("> 85") and rules["HighMemoryUsage"]["for"] == "10m"
    assert rules["HighCPUUsage"]["expr"].endswith("> 80")
    assert rules["IstioHighRequestLatency"]["expr"].endswith("> 750")
    assert rules["IstioHighErrorRate"]["expr"].endswith("> 2.0")
    assert rules["PodNotReady"]["for"] == "20m"


def test_burn_rate_pair_for_the_slo():
    rules = {r["alert"]: r for g in platform_rule_groups(RulesConfig()) for r in g["rules"]}

    fast, slow = rules["SLOErrorBudgetBurnFast"], rules["SLOErrorBudgetBurnSlow"]
    assert "[1h]" in fast["expr"] and "[5m]" in fast["expr"] and "> 0.0144" in fast["expr"]
    assert "[6h]" in slow["expr"] and "[30m]" in slow["expr"] and "> 0.006" in slow["expr"]
    assert (fast["labels"]["severity"], slow["labels"]["severity"]) == ("critical", "warning")


def test_dashboards_are_valid_json_with_unique_uids_and_collected_metrics():
    uids = set()
    for name, build in DASHBOARDS.items():
        dashboard = json.loads(json.dumps(build()))
        assert dashboard["uid"] not in uids
        uids.add(dashboard["uid"])
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                used = metrics_in(target["expr"])
                assert used and used <= set(COLLECTED_METRICS), (name, used - set(COLLECTED_METRICS))


def test_alert_rules_use_only_collected_metrics():
    for group in platform_rule_groups(RulesConfig()):
        for rule in group["rules"]:
            assert metrics_in(rule["expr"]) <= set(COLLECTED_METRICS), rule["alert"]


def test_overview_marks_error_rates_at_1_and_5_percent():
    [errors] = [p for p in DASHBOARDS["overview"]()["panels"] if p["title"].startswith("Error rate")]
    steps = errors["fieldConfig"]["defaults"]["thresholds"]["steps"]

    assert [s["value"] for s in steps] == [None, 0.01, 0.05]


def test_loki_single_binary_on_local_with_alloy_collecting_logs(local_defaults):
    loki = release(local_defaults, "loki").inputs["values"]
    alloy = release(local_defaults, "alloy")

    assert loki["deploymentMode"] == "Monolithic"
    assert loki["singleBinary"]["replicas"] == 1
    assert loki["loki"]["storage"] == {"type": "filesystem"}
    assert loki["loki"]["limits_config"]["retention_period"] == "72h"
    assert (alloy.inputs["version"], alloy.inputs["namespace"]) == (pinned("alloy"), "monitoring")
    assert release(local_defaults, "promtail") is None
    config = alloy.inputs["values"]["alloy"]["configMap"]["content"]
    assert 'url = "http://loki.monitoring.svc.cluster.local:3100/loki/api/v1/push"' in config
    assert alloy.inputs["values"]["alloy"]["enableReporting"] is False  # no calls to grafana.com


def test_alloy_keeps_promtails_labels(local_defaults, aws_defaults):
    """The LogQL of dashboards, alerts and the Jaeger -> Loki link select on these labels."""
    config = release(local_defaults, "alloy").inputs["values"]["alloy"]["configMap"]["content"]

    for label in ("namespace", "pod", "container", "app", "instance", "component", "node_name", "job"):
        assert f'target_label  = "{label}"' in config, label
    assert 'replacement   = "/var/log/pods/*$1/*.log"' in config
    assert "stage.cri {}" in config
    aws_config = release(aws_defaults, "alloy").inputs["values"]["alloy"]["configMap"]["content"]
    assert 'url = "http://loki-write.monitoring.svc.cluster.local:3100/loki/api/v1/push"' in aws_config


def test_loki_on_aws_is_scalable_on_an_encrypted_private_s3_bucket_through_irsa(aws_defaults):
    loki = release(aws_defaults, "loki").inputs["values"]
    [bucket] = aws_defaults.of_type("aws:s3/bucket:Bucket")
    [block] = aws_defaults.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    [sse] = aws_defaults.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")

    assert loki["deploymentMode"] == "SimpleScalable"
    assert loki["loki"]["storage"]["type"] == "s3" and loki["loki"]["storage"]["bucketNames"]["chunks"] == bucket.outputs["bucket"] if "bucket" in bucket.outputs else True
    assert bucket.protect
    assert all(block.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert loki["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert loki["loki"]["limits_config"]["retention_period"] == "720h"


def test_jaeger_receives_otlp_and_zipkin(local_defaults, aws_defaults):
    local_cfg = release(local_defaults, "jaeger").inputs["values"]["userconfig"]
    aws_values = release(aws_defaults, "jaeger").inputs["values"]

    assert local_cfg["service"]["pipelines"]["traces"]["receivers"] == ["otlp", "zipkin"]
    assert "memory" in local_cfg["extensions"]["jaeger_storage"]["backends"]["primary_store"]
    assert "badger" in aws_values["userconfig"]["extensions"]["jaeger_storage"]["backends"]["primary_store"]
    [pvc] = aws_defaults.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert pvc.protect and aws_values["jaeger"]["extraVolumes"][0]["persistentVolumeClaim"]["claimName"] == "jaeger-data"


BAD = [
    ("retention-zero", local(observability={"prometheus": {"retentionDays": 0}}), "observability.prometheus.retentionDays", "greater than or equal to 1"),
    ("retention-size-fills-volume", aws(observability={"prometheus": {"retentionSizeGib": 60}}), "observability.prometheus.retentionSizeGib", "below storageGib"),
    ("unknown-severity-route", local(observability={"alerting": {"routes": {"page": "pager"}}}), "observability.alerting.routes.page", "'critical', 'warning' or 'info'"),
    ("route-to-missing-receiver", local(observability={"alerting": {"routes": {"critical": "pager"}}}), "observability.alerting.routes.critical", "not configured"),
    ("plain-webhook-url", local(observability={"alerting": {"chat": {"type": "slack", "secret": "https://hooks.slack.com/x"}}}), "observability.alerting.chat.secret", "pulumi config set --secret"),
    ("unknown-receiver-type", local(observability={"alerting": {"chat": {"type": "teams", "secret": "x"}}}), "observability.alerting.chat.type", "'pagerduty', 'slack' or 'webhook'"),
    ("loki-retention-zero", local(observability={"loki": {"retentionDays": 0}}), "observability.loki.retentionDays", "greater than or equal to 1"),
    ("bad-slo", local(observability={"rules": {"sloAvailabilityPercent": 100}}), "observability.rules.sloAvailabilityPercent", "less than 100"),
]


@pytest.mark.parametrize(("config", "path", "text"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_observability_config_is_rejected(config, path, text):
    run, error = run_program_recording(config[f"{NS}:environment"], config)

    assert isinstance(error, ConfigError) and run.resources == []
    [problem] = [p for p in error.problems if p.path == f"{NS}:{path}"]
    assert text in problem.message


def test_the_program_refuses_a_plain_secret_its_stack_file_shows_beside_a_secure_one(tmp_path, monkeypatch):
    # Pulumi.local.yaml as `pulumi config set --secret --path ...chat.secret` and a plain
    # `--path ...pager.secret` leave it; the engine marks all of `observability` secret.
    (tmp_path / "Pulumi.local.yaml").write_text(
        "config:\n"
        "  gitops-platform:environment: local\n"
        "  gitops-platform:observability:\n"
        "    alerting:\n"
        "      pager: {type: pagerduty, secret: plain-routing-key}\n"
        "      chat: {type: slack, secret: {secure: v1:AAAA}}\n"
    )
    monkeypatch.chdir(tmp_path)
    config = local(observability={"alerting": {"pager": {"type": "pagerduty", "secret": "plain-routing-key"}, "chat": {"type": "slack", "secret": "https://hooks.slack.com/x"}}})

    run, error = run_program_recording("local", config, secret_keys=[f"{NS}:observability"])

    assert isinstance(error, ConfigError) and run.resources == []
    assert [p.path for p in error.problems] == [f"{NS}:observability.alerting.pager.secret"]
    assert "plain-routing-key" not in str(error)


def test_every_platform_alert_has_its_runbook_section(local_defaults, root):
    sections = {line[3:].strip().lower() for line in (root / "docs" / "runbooks.md").read_text().splitlines() if line.startswith("## ")}

    for name, rule in all_rules(local_defaults).items():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/runbooks.md#{name.lower()}" and name.lower() in sections, name


def test_on_eks_nothing_scrapes_what_is_out_of_prometheus_reach(rendered):
    # The managed control plane, and kube-proxy's metrics, which EKS binds to 127.0.0.1: scraped they would stay down and alert forever.
    services = lambda stack: {d.name for d in rendered(stack)[2].objects if d.kind == "Service" and d.namespace == "kube-system" and d.name.startswith("kps-kube-")}  # noqa: E731

    assert services("aws") == set()
    assert services("local") == {"kps-kube-controller-manager", "kps-kube-scheduler", "kps-kube-etcd", "kps-kube-proxy"}


def test_the_program_exports_grafanas_admin_password_as_a_secret():
    # README's UI table tells users to read it with `pulumi stack output grafanaAdminPassword --show-secrets`.
    import program

    run = run_program("local", local(), program=program.main)
    grafana_secret = next(r for r in run.resources if r.type == "kubernetes:core/v1:Secret" and r.name.endswith("grafana-admin-secret"))

    assert isinstance(run.outputs["grafanaAdminPassword"], Secret)
    assert reveal(run.outputs["grafanaAdminPassword"]) == reveal(grafana_secret.inputs)["stringData"]["admin-password"]
