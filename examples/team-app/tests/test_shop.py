"""The shop program under Pulumi's mocks: no cluster, no Pulumi CLI, just the library.

    cd examples/team-app && python -m pytest
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime.config import set_all_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RECORDED: list[pulumi.runtime.MockResourceArgs] = []


class Mocks(pulumi.runtime.Mocks):
    """Every resource gets its inputs back as state; every call answers nothing."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        RECORDED.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


pulumi.runtime.set_mocks(Mocks(), project="team-shop", stack="dev", preview=False)
set_all_config(
    {
        "team-shop:image": "localhost:5001/shop:1.2.0",
        "team-shop:canaryImage": "localhost:5001/shop:1.3.0",
        "team-shop:host": "shop.localtest.me",
        "team-shop:registry": "localhost:5001/",
    }
)

from shop import main  # noqa: E402 - the mocks must be in place first

SHOP: Any = None


@pulumi.runtime.test
def _deploy() -> None:
    # Declared inside a Pulumi test function, which returns only once every registration is
    # recorded: a check would otherwise race the resources registered after the one it waits on.
    global SHOP
    SHOP = main()


_deploy()


def of_type(token: str) -> list[pulumi.runtime.MockResourceArgs]:
    return [r for r in RECORDED if r.typ == token]


@pulumi.runtime.test
def test_traffic_splits_between_stable_and_canary() -> Any:
    def check(_: Any) -> None:
        [vs] = of_type("kubernetes:networking.istio.io/v1:VirtualService")
        primary = next(route for route in vs.inputs["spec"]["http"] if route["name"] == "primary")
        weights = {d["destination"]["subset"]: d["weight"] for d in primary["route"]}
        assert weights == {"stable": 90, "canary": 10}
        assert "shop.localtest.me" in vs.inputs["spec"]["hosts"]

    return SHOP.endpoint.apply(check)


@pulumi.runtime.test
def test_stable_and_canary_run_side_by_side() -> Any:
    def check(_: Any) -> None:
        images = {r.name: r.inputs["spec"]["template"]["spec"]["containers"][0]["image"] for r in of_type("kubernetes:apps/v1:Deployment")}
        assert images == {"shop-stable": "localhost:5001/shop:1.2.0", "shop-canary": "localhost:5001/shop:1.3.0"}

    return SHOP.endpoint.apply(check)


@pulumi.runtime.test
def test_the_stable_version_autoscales_between_2_and_6() -> Any:
    def check(_: Any) -> None:
        [hpa] = of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
        assert (hpa.inputs["spec"]["minReplicas"], hpa.inputs["spec"]["maxReplicas"]) == (2, 6)

    return SHOP.endpoint.apply(check)


def test_an_image_from_another_registry_is_refused_before_anything_is_created() -> None:
    from components import MicroserviceConfig, MicroserviceStack, PlatformWiring

    with pytest.raises(ValueError, match="allowed registry"):
        MicroserviceStack("rogue", MicroserviceConfig(name="rogue", image="docker.io/library/nginx:1.27"), PlatformWiring(allowed_registries=["localhost:5001/"]))
