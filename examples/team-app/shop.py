"""The shop team's service on the platform: one MicroserviceStack with a canary and autoscaling.

Config (Pulumi.<stack>.yaml of this program):
  team-shop:image        stable image, e.g. localhost:5001/shop:1.2.0 (tag or digest, never latest)
  team-shop:canaryImage  the release being tried on a share of the traffic (optional)
  team-shop:host         host at the platform's mesh gateway, e.g. shop.localtest.me
  team-shop:registry     the platform's registry prefix, e.g. localhost:5001/
  kubernetes:context     the platform cluster's kubeconfig context
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import MicroserviceConfig, MicroserviceStack, PlatformWiring


def main() -> MicroserviceStack:
    """Deploy the shop service and export its in-cluster endpoint."""
    config = pulumi.Config()
    provider = k8s.Provider("platform", context=pulumi.Config("kubernetes").get("context"))
    canary_image = config.get("canaryImage")
    shop = MicroserviceStack(
        "shop",
        MicroserviceConfig(
            name="shop",
            namespace="apps",
            image=config.require("image"),
            exposure={"host": config.require("host"), "pathPrefix": "/"},
            # 10 % of requests (and every request with `x-canary: true`) go to the canary.
            canary={"image": canary_image, "weight": 10} if canary_image else None,
            allowed_callers=[{"namespace": "apps", "serviceAccount": "frontend"}],
            autoscaling={"mode": "hpa", "minReplicas": 2, "maxReplicas": 6},
        ),
        # Where it plugs into the platform: its environment label and the registry its images come from.
        PlatformWiring(environment=pulumi.get_stack(), allowed_registries=[config.get("registry") or "localhost:5001/"]),
        opts=pulumi.ResourceOptions(provider=provider),
    )
    pulumi.export("endpoint", shop.endpoint)
    return shop
