"""Falco (modern eBPF) and falcosidekick: runtime detection with the platform's own rules (falco namespace)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import Field, field_validator

from ..charts import CHARTS, HOOK_JOB_RESOURCES, install_chart
from ..model import DNS_DOMAIN, ProfiledModel, Profiles, ResourcesConfig
from .common import TINY_RESOURCES, with_upstream

FALCO_NAMESPACE = "falco"

class FalcoConfig(ProfiledModel):
    """Falco runtime detection (modern eBPF) with falcosidekick."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "sidekickReplicas": 1,
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "sidekickResources": TINY_RESOURCES,
        },
        "aws": {
            "sidekickReplicas": 2,
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "sidekickResources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        },
    }
    enabled: bool = Field(True, description="Install Falco (DaemonSet) and falcosidekick in the falco namespace.")
    minimum_priority: Literal["emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"] = Field(
        "warning", description="Lowest rule priority forwarded by falcosidekick."
    )
    slack_webhook_url: str | None = Field(
        None,
        description="Slack incoming-webhook URL for alerts. Secret: set it only with "
        "`pulumi config set --secret --path gitops-platform:security.falco.slackWebhookUrl ...`.",
    )
    egress_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts that services deployed by other programs declare in their egress: the undeclared-egress rule accepts them "
        "(DNS names; a wildcard counts as its domain, matched exactly).",
    )
    sidekick_replicas: int = Field(ge=1, le=10, description="falcosidekick replicas: local 1, aws 2.")
    resources: ResourcesConfig = Field(description="Falco requests/limits (per node).")
    sidekick_resources: ResourcesConfig = Field(description="falcosidekick requests/limits.")

    @field_validator("egress_hosts")
    @classmethod
    def _egress_hosts(cls, value: list[str]) -> list[str]:
        bad = [h for h in value if not DNS_DOMAIN.match(h[2:] if h.startswith("*.") else h)]
        if bad:
            raise ValueError(f"not DNS names: {', '.join(bad)} (e.g. api.example.com or *.example.com; no scheme, port or path)")
        return value

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and value != "[secret]" and not value.startswith("https://"):
            raise ValueError("must be an https:// Slack webhook URL")
        return value


PRIVATE_NETWORKS = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10")
"""Addresses that are not the internet: loopback, RFC 1918, carrier-grade NAT (EKS pods), link-local."""


def falco_rules(approved_registries: Sequence[str], app_namespaces: Sequence[str] = (), egress_hosts: Sequence[str] = ()) -> str:
    """The platform's custom Falco rules (in addition to Falco's default ruleset).

    `approved_registries`: repository path prefixes containers may come from (the stack's
    registry, the upstream ones and every chart's `images`); `app_namespaces`: where the
    undeclared-egress rule watches; `egress_hosts`: names it accepts (matched exactly).
    """
    registries = ", ".join(f'"{r.rstrip("/")}"' for r in approved_registries)
    declared = sorted({h[2:] if h.startswith("*.") else h for h in egress_hosts})
    private = ", ".join(f'"{n}"' for n in PRIVATE_NETWORKS)
    items: list[dict[str, Any]] = [
        {
            "macro": "platform_internet_connect",
            "condition": "evt.type = connect and evt.dir = < and (fd.typechar = 4 or fd.typechar = 6) and "
            f"not fd.snet in ({private}) and (evt.rawres >= 0 or evt.res = EINPROGRESS)",
        },
        {"list": "platform_app_namespaces", "items": sorted(app_namespaces)},
    ]
    undeclared = "platform_internet_connect and container and k8s.ns.name in (platform_app_namespaces)"
    if declared:
        items.append({"list": "platform_declared_egress_hosts", "items": declared})
        undeclared += " and not fd.sip.name in (platform_declared_egress_hosts)"
    rules = [
        {
            "rule": "Shell spawned in a platform container",
            "desc": "An interactive shell started inside a container: someone is exec'ing in, or a process was compromised.",
            "condition": "spawned_process and container and proc.name in (bash, sh, zsh, ash, dash) and proc.tty != 0",
            "output": "Shell in container (user=%user.name container=%container.name image=%container.image.repository cmd=%proc.cmdline k8s_ns=%k8s.ns.name k8s_pod=%k8s.pod.name)",
            "priority": "WARNING",
            "tags": ["container", "shell", "mitre_execution"],
        },
        {
            "rule": "Sensitive file read in a container",
            "desc": "A process read credentials or key material (shadow file, SSH keys, service-account tokens of other pods).",
            "condition": "open_read and container and (fd.name in (/etc/shadow, /etc/sudoers) or fd.name startswith /root/.ssh/ or fd.name startswith /etc/kubernetes/pki/)",
            "output": "Sensitive file opened (file=%fd.name user=%user.name container=%container.name image=%container.image.repository k8s_ns=%k8s.ns.name k8s_pod=%k8s.pod.name)",
            "priority": "ERROR",
            "tags": ["filesystem", "mitre_credential_access"],
        },
        {
            "rule": "Crypto mining activity",
            "desc": "A known miner binary runs, or a process connects to a mining pool (stratum).",
            "condition": "spawned_process and container and (proc.name in (xmrig, minerd, cpuminer, ethminer) or proc.cmdline contains \"stratum+tcp\")",
            "output": "Crypto miner (proc=%proc.cmdline container=%container.name image=%container.image.repository k8s_ns=%k8s.ns.name k8s_pod=%k8s.pod.name)",
            "priority": "CRITICAL",
            "tags": ["mitre_impact", "cryptomining"],
        },
        {
            "rule": "Container from an unapproved registry",
            "desc": "A container started from an image outside the platform's approved registries.",
            "condition": f"container_started and container and not container.image.repository pmatch ({registries})",
            "output": "Unapproved image (image=%container.image.repository:%container.image.tag container=%container.name k8s_ns=%k8s.ns.name k8s_pod=%k8s.pod.name)",
            "priority": "WARNING",
            "tags": ["container", "supply_chain"],
        },
    ]
    if app_namespaces:
        rules.append(
            {
                "rule": "Undeclared egress from an app namespace",
                "desc": "A container in an app namespace connected to an internet address whose name no service declared in its egress.",
                "condition": undeclared,
                "output": "Undeclared egress (connection=%fd.name server=%fd.sip.name container=%container.name image=%container.image.repository "
                "k8s_ns=%k8s.ns.name k8s_pod=%k8s.pod.name)",
                "priority": "WARNING",
                "tags": ["network", "mitre_exfiltration"],
            }
        )
    return yaml.safe_dump([*items, *rules], sort_keys=False, width=200)


def falco_values(
    config: FalcoConfig,
    approved_registries: pulumi.Input[Sequence[str]],
    alertmanager_url: pulumi.Input[str] | None,
    slack_secret: pulumi.Input[str] | None,
    service_monitors: bool,
    app_namespaces: Sequence[str] = (),
) -> dict[str, Any]:
    # No TLS server, so no second plain-HTTP port: the chart's default notlspaths ("/ping")
    # would still add a Service port for it that no container declares (no endpoints).
    sidekick_config: dict[str, Any] = {"tlsserver": {"notlspaths": ""}}
    if alertmanager_url is not None:
        sidekick_config["alertmanager"] = {"hostport": alertmanager_url, "minimumpriority": config.minimum_priority}
    if slack_secret is not None:
        sidekick_config["existingSecret"] = slack_secret
        sidekick_config["slack"] = {"minimumpriority": config.minimum_priority}
    return {
        # modern eBPF needs no kernel module or headers; least privilege = capabilities, not privileged.
        "driver": {"kind": "modern_ebpf", "modernEbpf": {"leastPrivileged": True}},
        "tty": True,
        "falco": {"json_output": True, "json_include_output_property": True},
        "customRules": {
            "platform-rules.yaml": pulumi.Output.from_input(approved_registries).apply(
                lambda registries: falco_rules(registries, app_namespaces, config.egress_hosts)
            )
        },
        "resources": config.resources.values(),
        # falcoctl fetches and follows the rules artifacts beside Falco.
        "falcoctl": {"artifact": {"install": {"resources": HOOK_JOB_RESOURCES}, "follow": {"resources": HOOK_JOB_RESOURCES}}},
        "serviceMonitor": {"create": service_monitors},
        # Falco's metrics endpoint and its Service: what that ServiceMonitor scrapes.
        "metrics": {"enabled": service_monitors},
        "falcosidekick": {
            "enabled": True,
            "replicaCount": config.sidekick_replicas,
            "resources": config.sidekick_resources.values(),
            "serviceMonitor": {"enabled": service_monitors},
            "config": sidekick_config,
        },
    }


def install_falco(
    name: str,
    config: FalcoConfig,
    registry_prefixes: Sequence[pulumi.Input[str]],
    upstream: Sequence[str],
    alertmanager_url: pulumi.Input[str] | None,
    service_monitors: bool,
    after: list[pulumi.Resource],
    app_namespaces: Sequence[str] = (),
    *,
    parent: pulumi.Resource,
) -> None:
    """Falco and falcosidekick. `upstream`: repository prefixes allowed besides the stack's
    registry (the configured upstream registries and every platform chart's image sources)."""
    secret_name = None
    if config.slack_webhook_url is not None:
        # The webhook stays out of Helm values: falcosidekick reads it from this Secret's env.
        secret = k8s.core.v1.Secret(
            f"{name}-falcosidekick-slack",
            metadata={"name": "falcosidekick-slack", "namespace": FALCO_NAMESPACE},
            string_data={"SLACK_WEBHOOKURL": pulumi.Output.secret(config.slack_webhook_url)},
            opts=pulumi.ResourceOptions(parent=parent, depends_on=after[:1]),
        )
        secret_name = secret.metadata.apply(lambda m: m["name"])
    approved = with_upstream(registry_prefixes, upstream)
    install_chart(
        f"{name}-falco",
        CHARTS["falco"],
        FALCO_NAMESPACE,
        falco_values(config, approved, alertmanager_url, secret_name, service_monitors, app_namespaces),
        pulumi.ResourceOptions(parent=parent, depends_on=after),
        "falco",
    )
