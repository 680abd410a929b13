"""Shared fixtures: the project root and a runner for the real program under mocks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.harness import Run, run_stack  # noqa: E402


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def local_run() -> Run:
    """The `local` stack exactly as Pulumi.local.yaml configures it."""
    return run_stack("local", ROOT / "Pulumi.local.yaml")
