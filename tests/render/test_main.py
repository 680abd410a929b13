"""render.__main__: `python -m render` is the CLI, as a process."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import ROOT
from render.checks import CHECKS


def test_python_m_render_lists_every_check_and_exits_0():
    proc = subprocess.run([sys.executable, "-m", "render", "--list-checks"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert all(check.name in proc.stdout for check in CHECKS)


def test_python_m_render_without_a_stack_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "render"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)

    assert proc.returncode == 2
    assert "a stack and --out are required" in proc.stderr
