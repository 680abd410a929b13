"""Delivery workflows: valid, pinned, least privilege, and running what README and .ci/run run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def load(path: Path) -> dict:
    # YAML 1.1 reads the key `on` as True; the workflow schema sees the text.
    return yaml.safe_load(path.read_text())


def steps(workflow: dict):
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


def test_the_six_workflows_exist():
    assert {p.stem for p in WORKFLOWS} == {"ci", "preview", "deploy", "images", "drift", "e2e"}


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

    # .ci/run itself, not a copy of its steps, after the charts are fetched into a cache keyed on the lock.
    [job] = [j for j in load(ROOT / ".github" / "workflows" / "ci.yml")["jobs"].values() if any("bash .ci/run" in s.get("run", "") for s in j["steps"])]
    runs = [s.get("run", "") for s in job["steps"]]
    cache = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache@"))
    assert runs.index("make charts") < runs.index("bash .ci/run")
    assert cache["with"] == {"path": "~/.cache/gitops-platform/charts", "key": "charts-${{ hashFiles('charts.lock') }}"}
    assert "make test   # create .venv if missing" in readme
    assert re.search(r"^make test$", dot_ci, re.MULTILINE)
    assert "secrets." not in ci, "ci.yml must work on forks"
    assert "make render STACK=local" in ci and "make render STACK=aws" in ci


def test_deploy_and_drift_run_the_policy_pack():
    runs = [s.get("run", "") for s in steps(load(ROOT / ".github" / "workflows" / "deploy.yml"))]

    pulumi = [r for r in runs if "pulumi preview" in r or "pulumi up" in r]
    assert len(pulumi) == 2 and all("--policy-pack policies" in r for r in pulumi)
    # The same per-stack pack config the Makefile and the render use, when the stack has one.
    assert all("--policy-pack-config" in r and "policies/config/" in r for r in pulumi)


def test_pull_requests_get_the_offline_render_with_every_chart_and_the_real_engine_with_the_pack():
    jobs = load(ROOT / ".github" / "workflows" / "preview.yml")["jobs"]
    render = " ".join(s.get("run", "") for s in jobs["render"]["steps"])
    engine = jobs["engine"]

    # `make render` judges with policies/config/<stack>.json, exactly what the engine gets; it fetches every chart first.
    assert "make charts" in render and "make render STACK=aws" in render and "pulumi" not in render
    # The engine: `make preview` runs `pulumi preview --policy-pack policies`, on the local stack, in a throwaway file backend.
    assert any("make preview STACK=local" in s.get("run", "") for s in engine["steps"])
    assert any(str(s.get("uses", "")).startswith("pulumi/actions@") for s in engine["steps"])
    assert engine["env"] == {"PULUMI_BACKEND_URL": "file://${{ github.workspace }}/.pulumi-state", "PULUMI_CONFIG_PASSPHRASE": "gitops-platform-local"}
    assert engine["permissions"] == {"contents": "read"} and "environment" not in engine
    make = (ROOT / "Makefile").read_text()
    assert "pulumi preview --stack $(STACK) --diff $(POLICY_FLAGS)" in make and "POLICY_FLAGS = --policy-pack policies" in make


def test_the_pr_comment_is_verdicts_the_diff_and_the_preview_posted_by_a_job_that_runs_no_project_code():
    jobs = load(ROOT / ".github" / "workflows" / "preview.yml")["jobs"]
    render, comment = jobs["render"], jobs["comment"]
    runs = " ".join(s.get("run", "") for s in render["steps"])

    # Both stacks rendered; each diffed against the target branch (rendered with its own code), cut for the comment, kept whole.
    assert "make render STACK=aws" in runs and "make render STACK=local" in runs
    assert "render diff --git \"$BASE_REF\"" in runs and "--max-chars 28000" in runs and "--format json" in runs
    assert next(s for s in render["steps"] if s.get("uses", "").startswith("actions/checkout@"))["with"]["fetch-depth"] == 0
    assert "pull-requests" not in render["permissions"]
    # The comment: composed by the standard-library script (no project dependency installed), posted with the only write token.
    assert comment["needs"] == ["render", "engine"] and comment["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "python3 scripts/pr_comment.py" in " ".join(s.get("run", "") for s in comment["steps"])
    assert not any("make" in s.get("run", "") or "pip" in s.get("run", "") for s in comment["steps"])


def test_cloud_access_uses_oidc_not_keys():
    for path in WORKFLOWS:
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
        if "configure-aws-credentials" in text:
            assert "role-to-assume" in text
            assert all("id-token" in str(job.get("permissions")) for job in load(path)["jobs"].values())


def _triggers(workflow: dict) -> set[str]:
    on = workflow[True]
    return {on} if isinstance(on, str) else set(on)


PRODUCTION_ENVIRONMENTS = {"production", "production-read"}
"""Environments limited to main (README: Delivery) that hold the stack's passphrase and the AWS roles."""


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_no_pull_request_can_read_production_secrets_or_roles(path):
    workflow = load(path)
    if not _triggers(workflow) & {"pull_request", "pull_request_target", "issue_comment", "workflow_run"}:
        return
    text = path.read_text()

    assert not re.search(r"secrets\.(?!GITHUB_TOKEN)", text), "a PR-triggered workflow reads a secret"
    assert "role-to-assume" not in text and "AWS_" not in text
    for job in workflow["jobs"].values():
        assert "id-token" not in (job.get("permissions") or {}), "no cloud identity for code from a PR"
        assert job.get("environment") not in PRODUCTION_ENVIRONMENTS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_the_stack_passphrase_lives_only_in_main_only_environments(path):
    for name, job in load(path)["jobs"].items():
        text = yaml.safe_dump(job)
        # The throwaway local stack's documented passphrase (Makefile, README) is no secret.
        local_only = (job.get("env") or {}).get("PULUMI_CONFIG_PASSPHRASE") == "gitops-platform-local" and "secrets." not in text
        if ("PULUMI_CONFIG_PASSPHRASE" in text and not local_only) or "AWS_DEPLOY_ROLE_ARN" in text or "AWS_PREVIEW_ROLE_ARN" in text:
            assert job.get("environment") in PRODUCTION_ENVIRONMENTS, f"{path.stem}.{name}"


def test_deploy_shows_the_plan_before_the_gated_apply_and_is_serialised_per_stack():
    jobs = load(ROOT / ".github" / "workflows" / "deploy.yml")["jobs"]
    plan, deploy = jobs["plan"], jobs["deploy"]

    assert plan["environment"] == "production-read" and deploy["environment"] == "production"
    assert deploy["needs"] == "plan"
    assert "GITHUB_STEP_SUMMARY" in " ".join(s.get("run", "") for s in plan["steps"])
    assert "AWS_DEPLOY_ROLE_ARN" not in yaml.safe_dump(plan)
    for job in (plan, deploy):
        assert job["concurrency"]["group"] == "pulumi-${{ matrix.stack }}"
        assert job["concurrency"]["cancel-in-progress"] is False


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    # shellcheck from the venv is on PATH, so every `run:` script is checked too.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(BIN / "actionlint"), *map(str, paths)], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def test_actionlint_reports_nothing():
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $UNQUOTED ${{ github.event.head_commit.message }}\n")
    result = actionlint(bad)
    assert result.returncode != 0 and "head_commit.message" in result.stdout


def test_zizmor_reports_nothing_even_pedantic():
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--persona", "pedantic", "--format", "plain", str(ROOT / ".github" / "workflows")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


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


def test_e2e_brings_the_local_stack_up_verifies_it_load_tests_it_and_always_destroys_it():
    workflow = load(ROOT / ".github" / "workflows" / "e2e.yml")
    [job] = workflow["jobs"].values()
    runs = [step.get("run", "") for step in job["steps"]]
    by_name = {step.get("name"): step for step in job["steps"]}

    assert set(workflow[True]) == {"pull_request", "schedule", "workflow_dispatch"}  # YAML 1.1 reads `on` as True
    assert any("make up STACK=local" in r for r in runs) and any('make -s verify STACK=local ARGS="--json --wait 600"' in r for r in runs)
    assert any("scripts/check_load.py" in r and "--p95-ms 500" in r for r in runs)
    assert by_name["Destroy the stack"]["if"] == "always()" and "make destroy STACK=local" in by_name["Destroy the stack"]["run"]
    # Diagnostics on a failure, a cancel and a timeout (a timed-out job is cancelled).
    assert by_name["Upload diagnostics"]["if"] == "failure() || cancelled()" and by_name["Collect diagnostics"]["if"] == "failure() || cancelled()"
    assert job["permissions"] == {"contents": "read"} and "environment" not in job  # no secrets, no cloud


def test_e2e_pins_kind_s_checksum_frees_disk_first_and_bounds_every_long_step():
    [job] = load(ROOT / ".github" / "workflows" / "e2e.yml")["jobs"].values()
    by_name = {step.get("name"): step for step in job["steps"]}
    names = list(by_name)

    # The checksum is in the workflow, not fetched beside the binary.
    assert re.fullmatch(r"[0-9a-f]{64}", job["env"]["KIND_SHA256"])
    install = by_name["Install kind (pinned, checksum verified)"]["run"]
    assert 'echo "${KIND_SHA256}  $RUNNER_TEMP/kind" | sha256sum -c -' in install and "sha256sum\"" not in install and ".sha256sum" not in install
    assert names.index("Free disk for the cluster's images") < names.index("Bring the local stack up with the policy pack")
    for step in job["steps"]:
        if "run" in step or "pulumi/actions" in str(step.get("uses")):
            assert 0 < step.get("timeout-minutes", 0) <= 40, step.get("name")
    assert sum(s["timeout-minutes"] for s in job["steps"] if "timeout-minutes" in s) <= job["timeout-minutes"]


def test_the_load_verdict_fails_on_latency_errors_and_silence(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    from check_load import verdict

    header = "Type,Name,Request Count,Failure Count,95%\n"
    def stats(rows: str) -> Path:
        path = tmp_path / "stats.csv"
        path.write_text(header + rows)
        return path

    assert verdict(stats(",Aggregated,1000,2,180\n"), 500, 1) == []
    assert verdict(stats(",Aggregated,1000,2,900\n"), 500, 1) == ["p95 latency 900 ms is above 500 ms"]
    assert verdict(stats(",Aggregated,100,5,100\n"), 500, 1) == ["5 of 100 requests failed (5.00 % > 1 %)"]
    assert verdict(stats(",Aggregated,0,0,0\n"), 500, 1) == ["no requests were sent (is the gateway reachable?)"]


def test_e2e_runs_the_team_examples_readme_commands_verbatim(tmp_path):
    # "Its README's commands are the ones CI runs": the step extracts the README's first bash
    # block with this awk program; run it here on the README and compare.
    [job] = load(ROOT / ".github" / "workflows" / "e2e.yml")["jobs"].values()
    step = next(s for s in job["steps"] if s.get("name", "").startswith("The team example"))
    program = re.search(r"awk '([^']+)' README.md", step["run"]).group(1)
    readme = (ROOT / "examples" / "team-app" / "README.md").read_text()

    extracted = subprocess.run(["awk", program, "README.md"], cwd=ROOT / "examples" / "team-app", capture_output=True, text=True, check=True).stdout

    assert step["working-directory"] == "examples/team-app" and 'bash -euo pipefail "$RUNNER_TEMP/team-app.sh"' in step["run"]
    assert extracted.startswith("docker build --build-arg VERSION=1.2.0") and extracted.strip().endswith("https://shop.localtest.me:8443/")
    assert extracted in readme and "pulumi up --yes" in extracted
    assert "pulumi destroy --yes --stack dev" in step["run"] and 0 < step["timeout-minutes"] <= 40
