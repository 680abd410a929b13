"""The shop team's service on the platform: one MicroserviceStack, nothing else.

Config (Pulumi.<stack>.yaml of this program):
  team-shop:image      image to deploy, e.g. localhost:5001/shop:1.2.0
  team-shop:host       host at the mesh gateway, e.g. shop.localtest.me
  kubernetes:context   the platform cluster's kubeconfig context
"""

import pulumi
import pulumi_kubernetes as k8s

from components import MicroserviceConfig, MicroserviceStack

config = pulumi.Config()
provider = k8s.Provider("platform", context=pulumi.Config("kubernetes").get("context"))

shop = MicroserviceStack(
    "shop",
    MicroserviceConfig(
        name="shop",
        namespace="apps",
        image=config.require("image"),
        exposure={"host": config.require("host"), "pathPrefix": "/"},
        allowed_callers=[{"namespace": "apps", "serviceAccount": "frontend"}],
        autoscaling={"mode": "hpa", "minReplicas": 2, "maxReplicas": 6},
    ),
    environment=pulumi.get_stack(),
    allowed_registries=["localhost:5001/"],
    opts=pulumi.ResourceOptions(provider=provider),
)

pulumi.export("endpoint", shop.endpoint)
