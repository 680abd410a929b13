"""verify.stack: the stack's own answers through the Pulumi CLI, and a plain reason when there is none."""

from __future__ import annotations

import os
import stat

from verify.stack import NO_CLI, pulumi_stack


def fake_cli(directory, script):
    path = directory / "pulumi"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(directory)


def test_without_the_cli_it_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))

    assert pulumi_stack("local", "output", "kubeconfig") == (None, NO_CLI)


def test_the_outputs_come_from_pulumi_stack_with_the_stack_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", fake_cli(tmp_path, 'echo "$@"\n') + os.pathsep + os.environ["PATH"])

    assert pulumi_stack("aws", "output", "kubeconfig", "--show-secrets") == ("stack output kubeconfig --show-secrets -s aws\n", "")


def test_a_failing_or_silent_cli_gives_its_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", fake_cli(tmp_path, 'echo "error: no stack named aws" >&2\nexit 255\n') + os.pathsep + os.environ["PATH"])
    assert pulumi_stack("aws", "output") == (None, "error: no stack named aws")

    fake_cli(tmp_path, "exit 0\n")
    assert pulumi_stack("aws", "output") == (None, "no output")
