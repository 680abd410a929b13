"""Kiali: the mesh's topology, traffic and configuration health, from the platform's own telemetry.

    kiali = Kiali("kiali", KialiConfig.for_environment("local"), prometheus_url=obs.prometheus_url,
                  grafana_url=obs.grafana_url, tracing_url=obs.tracing_query_url, after=mesh.ready)

Installed in istio-system (Kiali's home: it reads istiod there) from the pinned chart
`kiali-server` (pinned in charts.lock) with:

- `token` authentication: a user signs in with a Kubernetes token and sees what that token
  may see (never anonymous). The `kiali-viewer` ServiceAccount, bound to the chart's
  read-only `kiali-viewer` ClusterRole, is the one to hand out:
  `kubectl -n istio-system create token kiali-viewer --duration 8h`;
- view-only mode: the platform's Istio configuration comes from Pulumi and Git, so Kiali's
  editing wizards are off (they would drift from the declared state);
- Prometheus, Grafana and Jaeger of the observability stack, by their in-cluster URLs; the
  links Kiali shows for Grafana and Jaeger point at their `kubectl port-forward` addresses;
- the key that signs its session tokens generated once into the Secret
  `kiali-login-signing-key` (the chart would template a new random one into its ConfigMap
  on every update, replacing it and ending every session);
- the chart's NetworkPolicy off: istio-system's default-deny set (SecurityStack) governs
  it, and the chart's would open Kiali's port to every pod of the cluster.

Reach it like the other UIs: `kubectl -n istio-system port-forward svc/kiali 20001`,
then http://localhost:20001 with the token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pydantic import Field

from .charts import CHARTS, install_chart
from .model import ProfiledModel, Profiles, ResourcesConfig

NAMESPACE = "istio-system"
PORT = 20001
VIEWER = "kiali-viewer"
"""The ServiceAccount (and the chart's ClusterRole) whose token signs a person in, read-only."""
SIGNING_KEY_SECRET = "kiali-login-signing-key"
"""The Secret holding the key that signs Kiali's session tokens (generated once by the component)."""
GRAFANA_LINK, TRACING_LINK = "http://localhost:3000", "http://localhost:16686"
"""Where a browser reaches Grafana and Jaeger (their port-forward addresses in the README)."""


class KialiConfig(ProfiledModel):
    """`gitops-platform:observability.kiali`."""

    PROFILES: ClassVar[Profiles] = {
        "local": {"resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}},
        "aws": {"replicas": 2, "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
    }
    enabled: bool = Field(True, description="Install Kiali in istio-system (with the mesh and the observability stack).")
    replicas: int = Field(1, ge=1, le=5, description="Kiali replicas: local 1, aws 2.")
    resources: ResourcesConfig = Field(description="Kiali requests/limits: local 10m/64Mi, aws 50m/128Mi.")


class Kiali(pulumi.ComponentResource):
    """Kiali (see the module docstring) and its `kiali-viewer` ServiceAccount."""

    def __init__(
        self,
        name: str,
        config: KialiConfig,
        *,
        prometheus_url: pulumi.Input[str],
        grafana_url: pulumi.Input[str] | None = None,
        tracing_url: pulumi.Input[str] | None = None,
        after: Sequence[pulumi.Resource] = (),
        namespace_from: Sequence[pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`after`: what creates istio-system and istiod (the mesh's `ready` and namespace);
        `namespace_from`: what creates istio-system alone (the signing key's Secret waits only
        for it; default `after`)."""
        super().__init__("gitops-platform:index:Kiali", name, None, opts)
        # The key that signs Kiali's session tokens: generated once and kept in a Secret. Left
        # to the chart, it is `randAlphaNum` in the ConfigMap — a new one each time the chart
        # is templated, so every `pulumi up` would replace the ConfigMap, roll Kiali and end
        # every session, and the key would sit in a ConfigMap.
        key = random.RandomPassword(f"{name}-signing-key", length=32, special=False, opts=pulumi.ResourceOptions(parent=self))
        secret = k8s.core.v1.Secret(
            f"{name}-signing-key",
            metadata={"name": SIGNING_KEY_SECRET, "namespace": NAMESPACE},
            string_data={"key": key.result},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after if namespace_from is None else namespace_from)),
        )
        chart = install_chart(
            f"{name}-chart", CHARTS["kiali-server"], NAMESPACE,
            kiali_values(config, prometheus_url=prometheus_url, grafana_url=grafana_url, tracing_url=tracing_url),
            pulumi.ResourceOptions(parent=self, depends_on=[*after, secret]), "kiali",
        )
        viewer = k8s.core.v1.ServiceAccount(
            f"{name}-viewer", metadata={"name": VIEWER, "namespace": NAMESPACE}, opts=pulumi.ResourceOptions(parent=self, depends_on=list(after))
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-viewer-binding",
            metadata={"name": f"{VIEWER}-login"},  # the chart binds its own `kiali-viewer`
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": VIEWER},  # the chart's read-only role
            subjects=[{"kind": "ServiceAccount", "name": viewer.metadata.apply(lambda m: m["name"]), "namespace": NAMESPACE}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[chart]),
        )
        self.register_outputs({})


def kiali_values(
    config: KialiConfig,
    *,
    prometheus_url: pulumi.Input[str],
    grafana_url: pulumi.Input[str] | None = None,
    tracing_url: pulumi.Input[str] | None = None,
) -> dict[str, Any]:
    """The chart's values (its ConfigMap is Kiali's configuration)."""
    version = f"v{CHARTS['kiali-server'].version}"
    services: dict[str, Any] = {"prometheus": {"url": prometheus_url}, "istio": {"root_namespace": NAMESPACE}}
    if grafana_url is not None:
        services["grafana"] = {"enabled": True, "internal_url": grafana_url, "external_url": GRAFANA_LINK}
    else:
        services["grafana"] = {"enabled": False}
    if tracing_url is not None:
        services["tracing"] = {"enabled": True, "provider": "jaeger", "use_grpc": False, "internal_url": tracing_url, "external_url": TRACING_LINK}
    else:
        services["tracing"] = {"enabled": False}
    return {
        "auth": {"strategy": "token"},
        # The chart mounts the Secret and points Kiali at the file (its `secret:<name>:<key>` form).
        "login_token": {"signing_key": f"secret:{SIGNING_KEY_SECRET}:key"},
        "deployment": {
            # The chart's source leaves the image tag to its release build: pinned here.
            "image_version": version,
            "version_label": version,
            "image_pull_policy": "IfNotPresent",
            "replicas": config.replicas,
            "resources": config.resources.values(),
            "view_only_mode": True,
            "network_policy": {"enabled": False},
        },
        "external_services": services,
    }
