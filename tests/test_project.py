"""Project files: one test command everywhere, exact pins, Pulumi project settings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from helpers import ROOT
from scripts_import import check_lock


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()

    assert "make test   # create .venv if missing" in readme
    assert re.search(r"^make test$", ci, re.MULTILINE)


def _ci_environment(project: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment .ci/run gives `make test`, read through a `make` that records it."""
    fake = project / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "make").write_text("#!/bin/sh\nenv > \"$(dirname \"$0\")/env.txt\"\n")
    (fake / "make").chmod(0o755)
    subprocess.run(["bash", str(project / ".ci" / "run")], env={**env, "PATH": f"{fake}:{env['PATH']}"}, check=True, timeout=60)
    return dict(line.split("=", 1) for line in (fake / "env.txt").read_text().splitlines() if "=" in line)


def test_ci_takes_the_charts_from_the_mirror_beside_the_project_and_forbids_skips(tmp_path):
    # Beside the project: the offline mirror of the pinned charts' sources.
    project = tmp_path / "work" / "gitops-platform"
    (project / ".ci").mkdir(parents=True)
    shutil.copy2(ROOT / ".ci" / "run", project / ".ci" / "run")
    (tmp_path / "work" / "shared" / "upstream" / "charts-src").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("GITOPS_CHARTS_MIRROR", "CI")}

    beside = _ci_environment(project, env)
    shutil.rmtree(tmp_path / "work" / "shared")
    alone = _ci_environment(project, env)

    assert beside["GITOPS_CHARTS_MIRROR"] == str(tmp_path / "work" / "shared" / "upstream" / "charts-src") and beside["CI"] == "true"
    # Anywhere else `make test` fetches the charts itself (make charts runs first).
    assert "GITOPS_CHARTS_MIRROR" not in alone and alone["CI"] == "true"

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


def _make_with_fake_pulumi(tmp_path: Path, target: str, stack: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`make <target> STACK=<stack>` with a `pulumi` on PATH that records its calls and says its backend is a file."""
    import sys

    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    calls = tmp_path / "calls.txt"
    (fake / "pulumi").write_text(
        f'#!/bin/sh\necho "$@ | backend=$PULUMI_BACKEND_URL" >> {calls}\n'
        '[ "$1" = whoami ] && echo "User: someone" && echo "Backend URL: file://~"\nexit 0\n'
    )
    (fake / "pulumi").chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k not in ("PULUMI_BACKEND_URL", "ALLOW_FILE_BACKEND", "PULUMI_CONFIG_PASSPHRASE", "MAKEFLAGS", "MAKELEVEL")}
    proc = subprocess.run(
        ["make", "-s", target, f"STACK={stack}", f"VENV={sys.prefix}"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**base, "PATH": f"{fake}:{base['PATH']}", **env},
    )
    return proc, calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.parametrize("backend", [{}, {"PULUMI_BACKEND_URL": "file:///srv/state"}])
def test_a_stack_other_than_local_refuses_a_file_state_backend(tmp_path, backend):
    proc, calls = _make_with_fake_pulumi(tmp_path, "preview", "aws", PULUMI_CONFIG_PASSPHRASE="x", **backend)

    assert proc.returncode == 2
    assert "error: stack aws refuses a local file state backend" in proc.stderr and "Set PULUMI_BACKEND_URL" in proc.stderr
    assert "ALLOW_FILE_BACKEND=1" in proc.stderr
    assert not any(c.startswith(("stack", "preview")) for c in calls)


@pytest.mark.parametrize(
    ("stack", "env", "backend"),
    [
        ("aws", {"PULUMI_BACKEND_URL": "s3://team-state", "PULUMI_CONFIG_PASSPHRASE": "x"}, "s3://team-state"),
        ("aws", {"ALLOW_FILE_BACKEND": "1", "PULUMI_CONFIG_PASSPHRASE": "x"}, ""),
        ("local", {}, "file://~"),
    ],
)
def test_shared_state_an_explicit_file_backend_and_the_local_stack_go_ahead(tmp_path, stack, env, backend):
    proc, calls = _make_with_fake_pulumi(tmp_path, "preview", stack, **env)

    assert proc.returncode == 0, proc.stderr
    assert f"stack select --create {stack} | backend={backend}" in calls
    assert any(c.startswith(f"preview --stack {stack} --diff --policy-pack policies") for c in calls)


def test_no_private_name_is_imported_from_another_project_module():
    import ast

    root = ROOT
    ours = ("components", "policies", "render", "verify", "program", "scripts", "bench", "helpers", "scripts_import", "fake_api", "policy_fixtures")
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for path in tracked:
        for node in ast.walk(ast.parse((root / path).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in ours):
                found += [f"{path}:{node.lineno}: {alias.name}" for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]

    assert found == [], "make the name public (or move it where both use it)"


def test_no_check_module_imports_another_and_the_engine_imports_no_check():
    import ast

    checks = {p.stem for p in (ROOT / "render" / "checks").glob("*.py")} - {"__init__"}
    found = []
    for folder in ("checks", "engine"):
        for path in sorted((ROOT / "render" / folder).glob("*.py")):
            if path.stem == "__init__":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom):
                    continue
                module = node.module or ""
                names = {a.name for a in node.names}
                if folder == "checks" and ((node.level == 1 and (module in checks or (not module and names & checks))) or module.startswith("render.checks")):
                    found.append(f"render/checks/{path.name}:{node.lineno} imports {module or names}")
                if folder == "engine" and ("checks" in module.split(".") or module.startswith(("render.report", "render.cli"))):
                    found.append(f"render/engine/{path.name}:{node.lineno} imports {module}")

    assert found == [], "share what two checks need through render/engine"
