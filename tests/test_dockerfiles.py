"""Sample apps and the team example's service: Dockerfiles pass hadolint, pin their bases, run unprivileged with a health check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

DOCKERFILES = [*sorted((ROOT / "apps").glob("*/Dockerfile")), ROOT / "examples" / "team-app" / "app" / "Dockerfile"]


def test_both_apps_and_the_team_example_have_a_dockerfile():
    assert [p.relative_to(ROOT).parent.as_posix() for p in DOCKERFILES] == ["apps/backend", "apps/frontend", "examples/team-app/app"]


def test_dockerfiles_pass_hadolint():
    result = subprocess.run([str(Path(sys.executable).parent / "hadolint"), *map(str, DOCKERFILES)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.relative_to(ROOT).parent.as_posix())
def test_dockerfile_pins_its_base_runs_unprivileged_and_checks_health(path):
    text = path.read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)

    assert bases and all(re.search(r":\d+\.\d+\.\d+[\w.-]*$|@sha256:[0-9a-f]{64}$", b) for b in bases), bases
    [user] = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user.split(":")[0] not in ("root", "0")
    assert "HEALTHCHECK" in text and "EXPOSE 8080" in text


def test_backend_requirements_are_the_locked_test_dependencies():
    from scripts_import import check_lock

    locked = check_lock.read_lock((ROOT / "requirements.lock").read_text())
    requirements = check_lock.read_lock((ROOT / "apps" / "backend" / "requirements.txt").read_text())

    assert requirements.items() <= locked.items(), "the app is tested with exactly the versions its image installs"
