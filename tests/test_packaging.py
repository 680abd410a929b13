"""The library installs on its own: a wheel with components, policies and the Rego data files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def wheel(root, tmp_path_factory) -> Path:
    # Build from a copy of what `pip install git+...` would see, so the checkout stays clean.
    source = tmp_path_factory.mktemp("source") / "gitops-platform"
    shutil.copytree(root, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check", "-w", str(out), str(source)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    [built] = out.glob("gitops_platform-*.whl")
    return built


def test_wheel_carries_the_library_and_its_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())

    assert {"components/__init__.py", "components/microservice.py", "policies/__init__.py", "policies/rules/kubernetes.py"} <= names
    assert {"policies/rego/allowedrepos.rego", "policies/rego/lib/workload.rego", "policies/PulumiPolicy.yaml"} <= names
    assert not any(n.startswith("tests/") for n in names)


def test_wheel_installs_into_a_fresh_virtualenv_and_imports(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--quiet", "--disable-pip-version-check", str(wheel)], check=True, timeout=300)
    # The pinned dependencies come from the project's environment; the library itself only from the wheel.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = (
        "import components, policies\n"
        "from components import MicroserviceStack, MicroserviceConfig\n"
        "from policies import ALL_POLICIES\n"
        "from policies.rego import rego_source\n"
        "assert len(ALL_POLICIES) >= 20\n"
        "assert 'package k8sallowedrepos' in rego_source('allowedrepos')\n"
        "print(components.__file__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(python), "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(venv)), "imported from the installed wheel, not the checkout"
