"""verify.__main__: `python -m verify` is the CLI, as a process."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import ROOT
from verify.checks import CHECKS


def test_python_m_verify_help_names_every_check():
    proc = subprocess.run([sys.executable, "-m", "verify", "--help"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert all(name in proc.stdout for name, _, _ in CHECKS)
