"""The library as a team installs it: a small wheel, light imports, and the team example's own tests pass."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import ROOT

pytestmark = pytest.mark.slow  # builds a wheel and a fresh virtualenv

# What a fresh virtualenv holds before anything is installed into it.
_TOOLING = {"pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth"}


@pytest.fixture(scope="module")
def wheel(root, tmp_path_factory) -> Path:
    # Build from a copy of what `pip install git+...` would see, so the checkout stays clean.
    source = tmp_path_factory.mktemp("source") / "gitops-platform"
    shutil.copytree(root, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check", "-w", str(out), str(source)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    [built] = out.glob("gitops_platform-*.whl")
    return built


def _pip(python: Path, *args: str) -> None:
    # Exact versions from the lock (constraints), the library's own ranges otherwise; this
    # pip installs into `python`'s environment (which needs no pip of its own).
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--disable-pip-version-check", "-c", str(ROOT / "requirements.lock"), *args],
        check=True, capture_output=True, text=True, timeout=900,
    )


@pytest.fixture(scope="module")
def team_venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the library installed as a team would: no extras."""
    venv = tmp_path_factory.mktemp("team") / "venv"
    # Without pip: seeding one takes seconds and the size test leaves it out anyway.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    _pip(venv / "bin" / "python", str(wheel))
    return venv


def _run(venv: Path, *args: str, cwd: Path, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    return subprocess.run([str(venv / "bin" / "python"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _site_packages(venv: Path) -> Path:
    [site] = (venv / "lib").glob("python3*/site-packages")
    return site


def test_wheel_carries_the_library_its_types_and_its_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())

    assert {"components/__init__.py", "components/microservice.py", "components/py.typed", "policies/__init__.py", "policies/py.typed"} <= names
    assert {"policies/rego/allowedrepos.rego", "policies/rego/lib/workload.rego", "policies/PulumiPolicy.yaml"} <= names
    assert {"components/charts.lock", "components/images.lock"} <= names
    assert not any(n.startswith(("tests/", "render/", "program/")) for n in names)


def test_the_library_without_extras_adds_at_most_150_mb(team_venv):
    site = _site_packages(team_venv)
    size = sum(f.stat().st_size for entry in site.iterdir() if entry.name.split("-")[0] not in _TOOLING for f in ([entry] if entry.is_file() else entry.rglob("*")) if f.is_file())

    assert size <= 150 * 1024 * 1024, f"{size / 2**20:.0f} MiB"
    assert not (site / "pulumi_aws").exists() and not (site / "pulumi_docker").exists()


def test_importing_microservice_stack_loads_no_optional_sdk(team_venv, tmp_path):
    script = (
        "import sys\n"
        "from components import MicroserviceStack, MicroserviceConfig\n"
        "import components\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pulumi_aws', 'pulumi_docker', 'pulumi_command', 'pulumi_policy', 'helm_python', 'jsonschema', 'regopy', 'kubernetes_validate', 'render'})\n"
        "print(components.__file__, components.__version__, heavy)\n"
    )
    result = _run(team_venv, "-c", script, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    path, version, heavy = result.stdout.split(" ", 2)
    assert path.startswith(str(team_venv)), "imported from the installed wheel, not the checkout"
    assert (version, heavy.strip()) == ("0.2.0", "[]")


def test_a_component_whose_extra_is_missing_names_the_extra(team_venv, tmp_path):
    result = _run(team_venv, "-c", "from components import EksCluster", cwd=tmp_path)

    assert result.returncode == 1
    assert "EksCluster needs pulumi_aws, which is not installed: pip install 'gitops-platform[aws]'" in result.stderr


def test_the_team_example_passes_its_own_tests_against_the_installed_library(team_venv, tmp_path):
    example = tmp_path / "team-app"
    shutil.copytree(ROOT / "examples" / "team-app", example, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    # pytest beside the virtualenv, not in it: the size test measures the library alone.
    tools = tmp_path / "tools"
    _pip(team_venv / "bin" / "python", "--target", str(tools), "pytest")

    result = _run(team_venv, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=example, path=tools)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout
