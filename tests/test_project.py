"""Project files: one test command everywhere, exact pins, Pulumi project settings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from scripts_import import pinned_requirements

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


def test_every_dependency_is_pinned_exactly():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())

    requirements = pinned_requirements(data, ["test"])

    assert {r.split("==")[0].lower() for r in requirements} >= {
        "pulumi", "pulumi-kubernetes", "pulumi-aws", "pulumi-docker", "pulumi-random",
        "pulumi-command", "pulumi-policy", "pydantic", "pytest",
    }


def test_unpinned_dependencies_are_refused():
    with pytest.raises(SystemExit, match="pulumi>=3"):
        pinned_requirements({"project": {"dependencies": ["pulumi>=3", "pydantic==2.14.3"]}}, [])


def test_pulumi_project_uses_the_projects_virtualenv():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())

    assert project["name"] == "gitops-platform"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
