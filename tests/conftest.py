"""Shared fixtures: the project root, a runner for the real program under mocks, and rendered stacks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from render.harness import Run, read_stack_file, run_program, run_stack  # noqa: E402 - after the sys.path entry

AWS_APPS = {"apps": {"enabled": True, "host": "app.example.com"}, "registry": {"services": ["backend", "frontend"]}}
"""What the aws stack file needs besides its own keys to run the sample apps."""


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def local_run() -> Run:
    """The `local` stack exactly as Pulumi.local.yaml configures it."""
    return run_stack("local", ROOT / "Pulumi.local.yaml")


def stack_config(stack: str) -> tuple[dict[str, Any], list[str]]:
    """Engine config of a shipped stack; `aws-apps` is the aws stack with the sample apps on."""
    config, secrets = read_stack_file(ROOT / f"Pulumi.{stack.split('-')[0]}.yaml")
    if stack == "aws-apps":
        config.update({f"gitops-platform:{k}": v for k, v in AWS_APPS.items()})
    return config, secrets


@pytest.fixture(scope="session")
def rendered() -> Any:
    """`rendered("local" | "aws" | "aws-apps")` -> (run, report, deployed stack), each rendered once per session."""
    from render.report import checked
    from render.upstream import bundle

    cache: dict[str, Any] = {}

    def get(stack: str) -> Any:
        if bundle() is None:
            pytest.skip("upstream bundle (../shared/upstream) not present: the charts cannot be rendered")
        if stack not in cache:
            config, secrets = stack_config(stack)
            run = run_program(stack.split("-")[0], config, secret_keys=secrets)
            data, deployed = checked(run, config)
            cache[stack] = (run, data, deployed)
        return cache[stack]

    return get
