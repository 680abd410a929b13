"""components.config: defects a bad stack config could slip through before, each now refused — and no secret in any message."""

from __future__ import annotations

import re

import pytest
import yaml

from components.config import ConfigError, parse_config
from components.observability import RulesConfig
from helpers import AWS_MINIMAL, ROOT
from policies import ALL_POLICIES
from policies.evaluate import effective

PLANTED = "pd-routing-key-5f2b9c1e"


def local(**keys):
    return {"environment": "local", **keys}


def refused(raw, secret_keys=None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, secret_keys=secret_keys)
    return str(caught.value)


def test_a_misspelled_key_above_a_secret_value_does_not_echo_it():
    message = refused(local(observability={"alertin": {"pager": {"type": "pagerduty", "secret": PLANTED}}}), secret_keys={"observability"})

    assert "observability.alertin" in message and PLANTED not in message and "[secret]" in message


def test_an_invalid_secret_webhook_is_not_echoed():
    message = refused(local(security={"falco": {"slackWebhookUrl": f"http://hooks.example.com/{PLANTED}"}}), secret_keys={"security"})

    assert "security.falco.slackWebhookUrl" in message and PLANTED not in message


RECEIVERS = {"alerting": {"pager": {"type": "pagerduty", "secret": PLANTED}, "chat": {"type": "slack", "secret": "https://hooks.slack.com/x"}}}


def test_a_plain_secret_beside_a_secure_sibling_is_refused():
    # The engine marks `observability` secret because chat.secret is secure; the stack
    # file shows pager.secret was written in plain text.
    with pytest.raises(ConfigError) as caught:
        parse_config(local(observability=RECEIVERS), secret_keys={"observability"}, secure_paths={"observability.alerting.chat.secret"})

    message = str(caught.value)
    assert "observability.alerting.pager.secret" in message and "--secret" in message
    assert "alerting.chat" not in message and PLANTED not in message


@pytest.mark.parametrize(
    "secure",
    [
        {"observability.alerting.pager.secret", "observability.alerting.chat.secret"},
        {"observability.alerting"},  # a whole object set with --secret
        set(),  # the engine's word alone (config from an environment, not the stack file)
    ],
    ids=["each-key", "enclosing-object", "no-stack-file"],
)
def test_secret_keys_given_securely_are_accepted(secure):
    parse_config(local(observability=RECEIVERS), secret_keys={"observability"}, secure_paths=secure)


def test_a_plain_falco_webhook_beside_a_secure_value_is_refused():
    raw = local(security={"falco": {"slackWebhookUrl": f"https://hooks.slack.com/{PLANTED}"}})

    message = refused_with(raw, {"security"}, {"security.vault.tlsSecretName"})

    assert "security.falco.slackWebhookUrl" in message and PLANTED not in message


def test_the_secure_paths_of_a_stack_file_are_read_per_key():
    from program import secure_paths

    text = """config:
  gitops-platform:environment: local
  gitops-platform:observability:
    alerting:
      chat: {type: slack, secret: {secure: v1:abc}}
  gitops-platform:security: {secure: v1:def}
  aws:region: eu-west-1
"""
    assert secure_paths(yaml.safe_load(text)) == {"observability.alerting.chat.secret", "security"}


def refused_with(raw, secret_keys, secure) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, secret_keys=secret_keys, secure_paths=secure)
    return str(caught.value)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (local(security={"gatekeeper": {"exemptImages": [""]}}), "security.gatekeeper.exemptImages"),
        (local(security={"falco": {"egressHosts": ["https://api.example.com"]}}), "security.falco.egressHosts"),
        (local(security={"gatekeeper": {"requiredLabels": [""]}}), "security.gatekeeper.requiredLabels"),
        (local(security={"gatekeeper": {"allowedCapabilities": ["ALL"]}}), "security.gatekeeper.allowedCapabilities"),
        (local(security={"gatekeeper": {"allowedCapabilities": ["CAP_SYS_ADMIN"]}}), "security.gatekeeper.allowedCapabilities"),
        (local(security={"gatekeeper": {"enforcement": {"dropCapabilities": "block"}}}), "security.gatekeeper.enforcement.dropCapabilities"),
        (local(security={"quota": {"requestsCpu": "100x"}}), "security.quota.requestsCpu"),
        (local(security={"quota": {"limitsMemory": "-1Gi"}}), "security.quota.limitsMemory"),
        (local(security={"quota": {"limitsCpu": ""}}), "security.quota.limitsCpu"),
        (local(observability={"alerting": {"pager": {"type": "pagerduty", "secret": ""}}}), "observability.alerting.pager.secret"),
        (local(cluster={"workers": True}), "cluster.workers"),
        (local(mesh={"trustDomain": "a..b"}), "mesh.trustDomain"),
    ],
    ids=["empty-exempt-image", "egress-host-with-scheme", "empty-label", "capability-all", "capability-cap-prefix", "bad-enforcement-action", "bad-cpu", "negative-memory", "empty-quantity", "empty-secret", "bool-for-int", "bad-trust-domain"],
)
def test_values_that_used_to_pass_are_refused_naming_the_key(raw, path):
    assert f"gitops-platform:{path}" in refused(raw)


def test_the_aws_minimum_is_still_accepted():
    assert parse_config(dict(AWS_MINIMAL)).environment == "aws"


def test_remediate_means_mandatory_for_policies_without_a_remediation():
    policy = next(p for p in ALL_POLICIES if p.name == "kubernetes-container-no-privileged")

    level, _ = effective(policy, {"all": "remediate"})

    assert level.value == "mandatory"


def _design_alerts() -> dict[str, dict]:
    text = (ROOT.parent / "shared" / "reference" / "platform-design.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        if "name: custom-alerts" in block:
            document = next(d for d in yaml.safe_load_all(block) if d and d.get("metadata", {}).get("name") == "custom-alerts")
            return {r["alert"]: r for g in document["spec"]["groups"] for r in g["rules"]}
    raise AssertionError("the platform design's custom-alerts are not where they were")


@pytest.mark.skipif(not (ROOT.parent / "shared" / "reference" / "platform-design.md").is_file(), reason="platform design not beside the project")
@pytest.mark.parametrize(
    ("alert", "field", "threshold"),
    [
        ("HighMemoryUsage", "memory_percent_of_limit", r"> (\d+)$"),
        ("HighCPUUsage", "cpu_percent_of_limit", r"> (\d+)$"),
        ("IstioHighRequestLatency", "istio_p99_latency_ms", r"> (\d+)$"),
        ("IstioHighErrorRate", "istio_error_percent", r"> (\d+)$"),
    ],
)
def test_default_thresholds_are_the_platform_designs(alert, field, threshold):
    rule = _design_alerts()[alert]

    assert getattr(RulesConfig(), field) == float(re.search(threshold, rule["expr"].strip()).group(1))
    assert f"{RulesConfig().for_minutes}m" == rule["for"]


@pytest.mark.skipif(not (ROOT.parent / "shared" / "reference" / "platform-design.md").is_file(), reason="platform design not beside the project")
def test_pod_not_ready_waits_as_long_as_the_design_says():
    assert f"{RulesConfig().pod_not_ready_minutes}m" == _design_alerts()["PodNotReady"]["for"]


def test_a_key_set_twice_in_a_stack_file_is_refused_with_both_lines(tmp_path, monkeypatch):
    from render.engine.harness import read_stack_file, run_program_recording

    stack_file = tmp_path / "Pulumi.dup.yaml"
    stack_file.write_text("config:\n  gitops-platform:environment: local\n  gitops-platform:cluster:\n    workers: 1\n  gitops-platform:cluster:\n    workers: 2\n")

    with pytest.raises(ConfigError, match=re.escape("gitops-platform:cluster: set twice, on lines 3 and 5")):
        read_stack_file(stack_file)
    # The program refuses it too, before any resource: it reads its own stack file.
    monkeypatch.chdir(tmp_path)
    run, error = run_program_recording("dup", {"gitops-platform:environment": "local"})
    assert isinstance(error, ConfigError) and run.resources == []


@pytest.mark.parametrize("secret_keys", [set(), {"observability"}])
def test_a_misspelt_key_holding_a_secure_value_never_echoes_it(secret_keys):
    # `Observability:` (a typo) with a `secure:` pager key: whatever the engine reports as
    # secret, the stack file's secure path alone keeps the value out of the message.
    raw = {"environment": "local", "Observability": {"alerting": {"pager": {"type": "pagerduty", "secret": "TOPSECRET"}}}}

    with pytest.raises(ConfigError) as error:
        parse_config(raw, secret_keys=secret_keys, secure_paths={"Observability.alerting.pager.secret"})

    assert "TOPSECRET" not in str(error.value) and "gitops-platform:Observability: unknown key" in str(error.value)


@pytest.mark.skipif(not (ROOT.parent / "shared" / "reference" / "platform-design.md").is_file(), reason="platform design not beside the project")
def test_every_alert_of_the_platform_design_keeps_its_name():
    # Users route and silence alerts by name: renaming one is a breaking change.
    from components.observability import platform_rule_groups

    ours = {rule["alert"] for group in platform_rule_groups(RulesConfig()) for rule in group["rules"]}

    assert set(_design_alerts()) <= ours


@pytest.mark.parametrize(
    ("component", "bad", "path"),
    [
        ("apps", {"namespace": "BAD NS"}, "apps.namespace"),
        ("gitops", {"host": "not a host!"}, "gitops.host"),
        ("observability", {"prometheus": {"replicas": 0}}, "observability.prometheus.replicas"),
        ("mesh", {"namespaces": ["BAD NS"]}, "mesh.namespaces"),
    ],
)
def test_the_keys_of_a_disabled_component_are_still_validated(component, bad, path):
    # Turning a component on later must not be the moment a typo in its keys shows.
    with pytest.raises(ConfigError) as error:
        parse_config({"environment": "local", component: {"enabled": False, **bad}})

    [problem] = error.value.problems
    assert problem.path.startswith(f"gitops-platform:{path}")
