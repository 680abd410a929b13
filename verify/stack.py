"""The stack's own answers, through the Pulumi CLI: its outputs (kubeconfig, platform CA) and
its state (what it deployed, when the offline render cannot say)."""

from __future__ import annotations

import shutil
import subprocess

NO_CLI = "the Pulumi CLI is not installed"


def pulumi_stack(stack: str, *args: str) -> tuple[str | None, str]:
    """`pulumi stack <args> -s <stack>`: (its output, "") or (None, why not)."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return None, NO_CLI
    out = subprocess.run([pulumi, "stack", *args, "-s", stack], capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout.strip():
        return None, out.stderr.strip() or (f"exit {out.returncode}" if out.returncode else "no output")
    return out.stdout, ""
