"""Project files: one test command everywhere, exact pins, Pulumi project settings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from scripts_import import check_lock

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()

    assert "make test   # create .venv if missing" in readme
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_ci_refuses_to_run_without_the_upstream_bundle(tmp_path):
    # Without ../shared/upstream the chart tests skip; a green CI run would prove nothing.
    import os
    import subprocess

    env = {**os.environ, "GITOPS_UPSTREAM": str(tmp_path / "absent")}
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)

    assert proc.returncode == 1
    assert "the pinned upstream bundle is missing" in proc.stderr


def test_the_lock_satisfies_every_range_of_the_library_and_its_extras():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = check_lock.read_lock((ROOT / "requirements.lock").read_text())

    assert check_lock.problems(pyproject, lock) == []
    assert {"pulumi", "pulumi-kubernetes", "pulumi-aws", "helm-python-sdk", "pytest", "ruff", "mypy"} <= set(lock)


def test_the_library_declares_ranges_not_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert all(">=" in r and "<" in r for r in project["dependencies"])
    assert {r.split(">=")[0] for r in project["dependencies"]} == {"pulumi", "pulumi-kubernetes", "pulumi-random", "pulumi-tls", "pydantic", "PyYAML"}


def test_a_lock_outside_a_range_is_refused():
    pyproject = {"project": {"name": "x", "dependencies": ["pulumi>=3.272.0,<4"], "optional-dependencies": {"aws": ["pulumi-aws>=7,<8"]}}}

    assert check_lock.problems(pyproject, check_lock.read_lock("pulumi==4.0.0\n")) == [
        "pulumi==4.0.0 in requirements.lock is outside dependencies's range <4,>=3.272.0",
        "pulumi-aws (extra aws) is not in requirements.lock",
    ]
    with pytest.raises(SystemExit, match="not pinned"):
        check_lock.read_lock("pulumi>=3\n")


def test_pulumi_project_uses_the_projects_virtualenv():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())

    assert project["name"] == "gitops-platform"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}


def test_no_function_is_longer_than_80_lines():
    # Long constructors hide their steps; each step gets a name instead.
    import ast

    long = []
    for folder in ("components", "policies", "render", "program"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 80:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert long == []
