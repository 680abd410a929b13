"""Delivery workflows: valid, pinned, least privilege, and running what README and .ci/run run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def load(path: Path) -> dict:
    # YAML 1.1 reads the key `on` as True; the workflow schema sees the text.
    return yaml.safe_load(path.read_text())


def steps(workflow: dict):
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


def test_the_five_workflows_exist():
    assert {p.stem for p in WORKFLOWS} == {"ci", "preview", "deploy", "images", "drift"}


def test_workflows_validate_against_the_github_schema():
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_action_is_pinned_to_a_commit_with_its_version(path):
    for line in path.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_job_declares_least_privilege_permissions(path):
    workflow = load(path)

    assert workflow["permissions"] == {}, "no default token permissions"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.stem}/{name}"
        assert "write-all" not in str(job["permissions"])


def test_ci_runs_the_readme_test_command_without_secrets():
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    dot_ci = (ROOT / ".ci" / "run").read_text()

    assert "run: make test" in ci
    assert "make test   # create .venv if missing" in readme
    assert re.search(r"^make test$", dot_ci, re.MULTILINE)
    assert "secrets." not in ci, "ci.yml must work on forks"
    assert "-m render local" in ci and "-m render aws" in ci


@pytest.mark.parametrize("name", ["preview", "deploy"])
def test_preview_and_deploy_run_the_policy_pack(name):
    runs = [s.get("run", "") for s in steps(load(ROOT / ".github" / "workflows" / f"{name}.yml"))]

    pulumi = [r for r in runs if "pulumi preview" in r or "pulumi up" in r]
    assert pulumi and all("--policy-pack policies" in r for r in pulumi)
    # The same per-stack pack config the Makefile and the render use, when the stack has one.
    assert all("--policy-pack-config" in r and "policies/config/" in r for r in pulumi)


def test_cloud_access_uses_oidc_not_keys():
    for path in WORKFLOWS:
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
        if "configure-aws-credentials" in text:
            assert "role-to-assume" in text
            assert all("id-token" in str(job.get("permissions")) for job in load(path)["jobs"].values())


def test_preview_runs_only_for_pull_requests_from_this_repository():
    [job] = load(ROOT / ".github" / "workflows" / "preview.yml")["jobs"].values()

    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


def test_deploy_is_gated_and_serialised_per_stack():
    [job] = load(ROOT / ".github" / "workflows" / "deploy.yml")["jobs"].values()

    assert job["environment"] == "production"
    assert job["concurrency"]["group"] == "pulumi-${{ matrix.stack }}"
    assert job["concurrency"]["cancel-in-progress"] is False


def test_drift_runs_every_six_hours_and_reports_an_issue():
    workflow = load(ROOT / ".github" / "workflows" / "drift.yml")
    triggers = workflow[True]
    runs = " ".join(s.get("run", "") for s in steps(workflow))

    assert re.fullmatch(r"\d+ \*/6 \* \* \*", triggers["schedule"][0]["cron"])
    assert "workflow_dispatch" in triggers
    assert "pulumi refresh" in runs and "--preview-only" in runs and "--expect-no-changes" in runs
    assert any("issues.create" in s.get("with", {}).get("script", "") for s in steps(workflow))


def test_images_are_scanned_and_tagged_with_the_commit():
    text = (ROOT / ".github" / "workflows" / "images.yml").read_text()

    assert ":${{ github.sha }}" in text and ":latest" not in text
    assert "upload-sarif" in text
    assert "FAIL_SEVERITY: ${{ inputs.fail-on-high && 'CRITICAL,HIGH' || 'CRITICAL' }}" in text


def test_no_secret_is_echoed():
    for path in WORKFLOWS:
        for step in steps(load(path)):
            run = step.get("run", "")
            assert not re.search(r"echo[^\n]*secrets\.", run), f"{path.stem}: {step.get('name')}"


def test_shell_scripts_pass_shellcheck():
    result = subprocess.run([str(BIN / "shellcheck"), str(ROOT / ".ci" / "run")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
