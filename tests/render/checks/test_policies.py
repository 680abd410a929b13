"""render.checks.policies: the pack on every resource the engine sees — both stacks pass every mandatory rule, and registries are judged with exactly the pack config the engine gets."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("stack", ["local", "aws"])
def test_both_stacks_pass_every_mandatory_policy(stack, request):
    from render.checks.policies import policy_report

    result = policy_report(request.getfixturevalue(f"{stack}_run"))

    assert result["evaluated"] > 0 and result["policies"] >= 20
    assert [v for v in result["violations"] if v["enforcement"] == "mandatory"] == []


def _registry_verdicts(stack: str, extra: dict, pack_config: dict | None) -> tuple[set[str], list[str]]:
    from helpers import stack_config
    from render.checks.policies import policy_report
    from render.engine.harness import run_program

    config, secrets = stack_config(stack)
    config.update({f"gitops-platform:{k}": v for k, v in extra.items()})
    result = policy_report(run_program(stack, config, secret_keys=secrets), pack_config)
    refused = {v["urn"].rsplit("::", 1)[-1] for v in result["violations"] if v["policy"] == "kubernetes-container-allowed-registries"}
    return refused, result["unlisted_registries"]


@pytest.mark.parametrize(
    ("stack", "extra", "registry"),
    [
        ("aws", {"apps": {"enabled": True, "host": "app.example.com"}, "registry": {"services": ["backend", "frontend"]}}, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/"),
        ("local", {"apps": {"enabled": True}, "registry": {"hostPort": 5002}}, "localhost:5002/"),
    ],
    ids=["aws-ecr", "local-other-port"],
)
def test_the_render_judges_registries_with_exactly_the_pack_config_the_engine_gets(stack, extra, registry):
    # Nothing is added behind the engine's back: without the registry in the pack config,
    # the render refuses the images exactly as `pulumi preview --policy-pack` would.
    refused, unlisted = _registry_verdicts(stack, extra, None)
    assert refused and unlisted == [registry]

    allowed = {"kubernetes-container-allowed-registries": {"registries": ["docker.io/istio/", registry]}}
    refused, unlisted = _registry_verdicts(stack, extra, allowed)
    assert refused == set() and unlisted == []
