"""components.security.falco: Falco's custom rules: each fires on the event it is written for and stays quiet on the platform's own.

Conditions are evaluated by render/engine/falco.py (Falco's condition grammar) on events given as
field -> value maps, with the macros of Falco's default ruleset the rules use.
"""

from __future__ import annotations

import pytest
import yaml

from components.charts import CHARTS, image_sources, path_prefix_of, runtime_repository
from components.security import falco_rules
from helpers import installed_chart, local
from render.engine.falco import Rules
from render.engine.harness import Secret, reveal, run_program

NS = "gitops-platform"

STACK_REGISTRY = "localhost:5001/"
APPROVED = [STACK_REGISTRY, "docker.io/istio/", *image_sources()]
RULES = Rules(yaml.safe_load(falco_rules(APPROVED, ["apps"], ["api.stripe.com", "*.githubusercontent.com"])))

IN_CONTAINER = {"container.id": "3f2a9c", "k8s.ns.name": "apps", "k8s.pod.name": "backend-7d9", "container.name": "backend"}


def exec_(name, tty=0, **extra):
    return {**IN_CONTAINER, "evt.type": "execve", "evt.dir": "<", "proc.name": name, "proc.tty": tty, "proc.vpid": 12, "proc.cmdline": name, **extra}


def open_(path, **extra):
    return {**IN_CONTAINER, "evt.type": "openat", "evt.is_open_read": True, "fd.typechar": "f", "fd.num": 3, "fd.name": path, **extra}


def started(image):
    return {**IN_CONTAINER, "evt.type": "container", "container.image.repository": runtime_repository(image)}


def connect(address, name="", namespace="apps"):
    return {**IN_CONTAINER, "k8s.ns.name": namespace, "evt.type": "connect", "evt.dir": "<", "fd.typechar": "4", "fd.sip": address,
            "fd.sip.name": name, "evt.rawres": 0}


CASES = {
    # rule: (an event that fires it, a platform event that does not)
    "Shell spawned in a platform container": (exec_("bash", tty=34816), exec_("sh", tty=0)),  # a probe's `sh -c` has no tty
    "Sensitive file read in a container": (open_("/etc/shadow"), open_("/var/run/secrets/kubernetes.io/serviceaccount/token")),
    "Crypto mining activity": (exec_("xmrig"), exec_("python", **{"proc.cmdline": "python -m app"})),
    "Container from an unapproved registry": (started("evil.example.com/miner:1"), started("quay.io/jetstack/cert-manager-controller:v1.0.0")),
    "Undeclared egress from an app namespace": (connect("203.0.113.7", "paste.example.net"), connect("198.51.100.9", "api.stripe.com")),
}


def test_every_custom_rule_has_a_case():
    assert set(CASES) == set(RULES.rules)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_the_rule_fires_on_its_event(rule):
    assert RULES.fires(rule, CASES[rule][0])


@pytest.mark.parametrize("rule", sorted(CASES))
def test_the_rule_stays_quiet_on_platform_activity(rule):
    assert not RULES.fires(rule, CASES[rule][1])


@pytest.mark.parametrize(
    "event",
    [
        connect("10.0.3.4"),  # a pod or Service in the VPC
        connect("100.64.1.2"),  # EKS custom networking
        connect("127.0.0.1"),  # the sidecar
        connect("203.0.113.7", namespace="monitoring"),  # platform namespaces are not app namespaces
        {**connect("203.0.113.7"), "container.id": "host"},  # not in a container
        {**connect("203.0.113.7"), "evt.rawres": -111},  # refused: nothing left the pod
    ],
)
def test_undeclared_egress_ignores_what_is_not_the_internet_from_an_app(event):
    assert not RULES.fires("Undeclared egress from an app namespace", event)


def test_without_app_namespaces_there_is_no_egress_rule_and_without_hosts_every_public_call_is_reported():
    assert "Undeclared egress from an app namespace" not in Rules(yaml.safe_load(falco_rules(APPROVED))).rules
    bare = Rules(yaml.safe_load(falco_rules(APPROVED, ["apps"])))
    assert bare.fires("Undeclared egress from an app namespace", connect("198.51.100.9", "api.stripe.com"))


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_no_image_the_stack_runs_triggers_the_registry_rule(rendered, stack):
    _, data, deployed = rendered(stack)
    [config] = [d for d in deployed.objects if d.kind == "ConfigMap" and d.name == "falco-rules"]
    rules = Rules(yaml.safe_load(config.obj["data"]["platform-rules.yaml"]))

    noisy = [i["image"] for i in data["images"]["images"] if rules.fires("Container from an unapproved registry", started(i["image"]))]

    assert noisy == []


def test_every_image_source_is_one_the_stacks_use(rendered):
    """The allow-list is derived, not padded: each prefix serves an image of a rendered stack
    (or one the chart's operator starts at run time)."""
    seen = {runtime_repository(i["image"]) for stack in ("local", "aws", "aws-apps") for i in rendered(stack)[1]["images"]["images"]}
    runtime_only = {"ghcr.io/aquasecurity/node-collector"}  # Trivy's infra assessment jobs, started by the operator

    unused = [p for p in image_sources() if p not in runtime_only and not any(path_prefix_of(r, [p]) for r in seen)]

    assert unused == []
    assert all(chart.images for name, chart in CHARTS.items() if name != "base")  # every chart with pods names its sources


def test_falco_uses_modern_ebpf_least_privilege_and_json(local_defaults):
    values = installed_chart(local_defaults, "falco", "SecurityStack").inputs["values"]

    assert values["driver"] == {"kind": "modern_ebpf", "modernEbpf": {"leastPrivileged": True}}
    assert values["falco"]["json_output"] is True
    assert values["falcosidekick"]["enabled"] is True


def test_falco_custom_rules(local_defaults):
    items = yaml.safe_load(installed_chart(local_defaults, "falco", "SecurityStack").inputs["values"]["customRules"]["platform-rules.yaml"])
    by_name = {r["rule"]: r for r in items if "rule" in r}
    lists = {i["list"]: i["items"] for i in items if "list" in i}

    assert set(by_name) == {
        "Shell spawned in a platform container",
        "Sensitive file read in a container",
        "Crypto mining activity",
        "Container from an unapproved registry",
        "Undeclared egress from an app namespace",
    }
    assert all({"desc", "condition", "output", "priority"} <= set(r) for r in by_name.values())
    registry_rule = by_name["Container from an unapproved registry"]["condition"]
    # The stack's registry, the upstream ones and every platform chart's image sources.
    assert '"localhost:5001"' in registry_rule and '"docker.io/istio"' in registry_rule and '"quay.io/jetstack"' in registry_rule
    assert lists["platform_app_namespaces"] == ["apps"]


def test_falcosidekick_sends_to_alertmanager_when_wired():
    from components.security import SecurityConfig, SecurityStack

    def program():
        SecurityStack("sec", SecurityConfig.for_environment("local"), alertmanager_url="http://alertmanager.monitoring:9093")

    run = run_program("local", local(), program=program)
    sidekick = installed_chart(run, "falco", "SecurityStack").inputs["values"]["falcosidekick"]["config"]

    assert sidekick["alertmanager"] == {"hostport": "http://alertmanager.monitoring:9093", "minimumpriority": "warning"}


def test_slack_webhook_comes_only_from_secret_config_and_stays_out_of_helm_values():
    config = local(security={"falco": {"slackWebhookUrl": "https://hooks.slack.com/services/T/B/X"}})

    run = run_program("local", config, secret_keys=[f"{NS}:security"])

    [secret] = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.name.endswith("slack")]
    assert isinstance(secret.inputs["stringData"], Secret)
    assert reveal(secret.inputs["stringData"]) == {"SLACK_WEBHOOKURL": "https://hooks.slack.com/services/T/B/X"}
    sidekick = installed_chart(run, "falco", "SecurityStack").inputs["values"]["falcosidekick"]["config"]
    assert sidekick["existingSecret"] == "falcosidekick-slack"
    assert "hooks.slack.com" not in str(installed_chart(run, "falco", "SecurityStack").inputs["values"])
