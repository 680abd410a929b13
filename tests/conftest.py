"""Shared fixtures: the project root, a runner for the real program under mocks, and rendered stacks."""

from __future__ import annotations

import fcntl
import gc
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# The suite holds several rendered stacks (hundreds of MB of parsed charts and CRDs) for the
# whole run; with the default thresholds every full collection walks all of it again.
gc.set_threshold(100_000, 20, 20)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpers import aws, local, pinned_charts, stack_config, stack_pack_config  # noqa: E402 - after the sys.path entry
from render.engine.harness import Run, run_program, run_stack  # noqa: E402


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def once(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Callable[[], Any]], Any]:
    """`once(key, compute)`: `compute()` run once per test run, shared by every worker.

    The first worker that needs `key` computes it and leaves it (pickled) in the run's own
    temporary directory; the other workers load it instead of computing it again.
    """
    base = tmp_path_factory.getbasetemp()
    # Under pytest-xdist each worker's basetemp sits in the run's directory; alone, basetemp is it.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache: dict[str, Any] = {}

    def get(key: str, compute: Callable[[], Any]) -> Any:
        if key not in cache:
            saved = shared / f"once-{key}.pickle"
            with open(shared / f"once-{key}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one worker computes; the others wait for its result
                if saved.is_file():
                    cache[key] = pickle.loads(saved.read_bytes())
                else:
                    cache[key] = compute()
                    saved.write_bytes(pickle.dumps(cache[key], protocol=pickle.HIGHEST_PROTOCOL))
        return cache[key]

    return get


@pytest.fixture(scope="session")
def local_run(once: Any) -> Run:
    """The `local` stack exactly as Pulumi.local.yaml configures it."""
    return once("local-run", lambda: run_stack("local", ROOT / "Pulumi.local.yaml"))


@pytest.fixture(scope="session")
def aws_run(once: Any) -> Run:
    """The `aws` stack exactly as Pulumi.aws.yaml configures it."""
    return once("aws-run", lambda: run_stack("aws", ROOT / "Pulumi.aws.yaml"))


@pytest.fixture(scope="session")
def local_defaults(once: Any) -> Run:
    """The `local` platform with every key at its default (`helpers.local()`), run once per session."""
    return once("local-defaults", lambda: run_program("local", local()))


@pytest.fixture(scope="session")
def aws_defaults(once: Any) -> Run:
    """The `aws` platform with only its required keys (`helpers.aws()`), run once per session."""
    return once("aws-defaults", lambda: run_program("aws", aws()))


@pytest.fixture(scope="session")
def rendered(once: Any) -> Any:
    """`rendered("local" | "aws" | "aws-apps")` -> (run, report, deployed stack), each rendered once per test run."""
    from render.report import checked

    def render(stack: str) -> Any:
        config, secrets = stack_config(stack)
        run = run_program(stack.split("-")[0], config, secret_keys=secrets)
        data, deployed = checked(run, config, stack_pack_config(stack), charts=pinned_charts())
        return run, data, deployed

    def get(stack: str) -> Any:
        pinned_charts()  # fails (under CI) or skips here, naming `make charts`, when the charts are missing
        return once(f"rendered-{stack}", lambda: render(stack))

    return get


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` first: pytest-xdist hands tests to the workers in this order, so the
    long ones start early and overlap the many short ones instead of running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

