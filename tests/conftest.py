"""Shared fixtures: the project root, a runner for the real program under mocks, and rendered stacks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpers import aws, local, pinned_charts, stack_config, stack_pack_config  # noqa: E402 - after the sys.path entry
from render.engine.harness import Run, run_program, run_stack  # noqa: E402


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def local_run() -> Run:
    """The `local` stack exactly as Pulumi.local.yaml configures it."""
    return run_stack("local", ROOT / "Pulumi.local.yaml")


@pytest.fixture(scope="session")
def aws_run() -> Run:
    """The `aws` stack exactly as Pulumi.aws.yaml configures it."""
    return run_stack("aws", ROOT / "Pulumi.aws.yaml")


@pytest.fixture(scope="session")
def local_defaults() -> Run:
    """The `local` platform with every key at its default (`helpers.local()`), run once per session."""
    return run_program("local", local())


@pytest.fixture(scope="session")
def aws_defaults() -> Run:
    """The `aws` platform with only its required keys (`helpers.aws()`), run once per session."""
    return run_program("aws", aws())


@pytest.fixture(scope="session")
def rendered() -> Any:
    """`rendered("local" | "aws" | "aws-apps")` -> (run, report, deployed stack), each rendered once per session."""
    from render.report import checked

    cache: dict[str, Any] = {}

    def get(stack: str) -> Any:
        charts = pinned_charts()
        if stack not in cache:
            config, secrets = stack_config(stack)
            run = run_program(stack.split("-")[0], config, secret_keys=secrets)
            data, deployed = checked(run, config, stack_pack_config(stack), charts=charts)
            cache[stack] = (run, data, deployed)
        return cache[stack]

    return get


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` first: pytest-xdist hands tests to the workers in this order, so the
    long ones start early and overlap the many short ones instead of running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

