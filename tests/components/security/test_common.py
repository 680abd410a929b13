"""components.security.common: what the security tools share — name checks and the registries they allow."""

from __future__ import annotations

import pulumi
import pytest

from components.model import ResourcesConfig
from components.security.common import TINY_RESOURCES, dns_labels, with_upstream
from helpers import local
from render.engine.harness import run_program


def test_dns_labels_pass_or_name_every_bad_one():
    assert dns_labels(["apps", "team-a"], "namespace names") == ["apps", "team-a"]
    with pytest.raises(ValueError, match="not namespace names: Apps, team_b"):
        dns_labels(["Apps", "ok", "team_b"], "namespace names")


def test_the_stacks_registries_and_the_upstream_ones_are_allowed_once_sorted():
    seen = {}

    def program():
        # On aws the stack's registry is an Output (the ECR host); it is resolved with the rest.
        allowed = with_upstream([pulumi.Output.from_input("localhost:5001/"), "docker.io/istio/"], ["docker.io/istio/", "quay.io/jetstack/"])

        async def check():
            seen["allowed"] = await allowed.future()

        return check()

    run_program("local", local(), program=program)

    assert seen["allowed"] == ["docker.io/istio/", "localhost:5001/", "quay.io/jetstack/"]


def test_the_smallest_helper_size_is_a_valid_resources_config():
    ResourcesConfig.model_validate(TINY_RESOURCES)
