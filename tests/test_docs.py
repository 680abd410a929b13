"""The docs say what the code does: generated pages are current, and what they name exists."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("config_reference", ROOT / "scripts" / "config_reference.py")
assert _spec is not None and _spec.loader is not None
config_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(config_reference)


def test_the_configuration_reference_is_generated_from_the_models_and_current():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "config_reference.py"), "--check"], capture_output=True, text=True, timeout=120)

    assert proc.returncode == 0, proc.stderr


def test_the_staleness_check_fails_on_a_changed_page(tmp_path, monkeypatch):
    page = tmp_path / "configuration.md"
    page.write_text(config_reference.render().replace("Total CPU limits per namespace.", "Total CPU limits."))
    monkeypatch.setattr(config_reference, "PAGE", page)
    monkeypatch.setattr(config_reference, "ROOT", tmp_path)

    assert config_reference.main(["--check"]) == 1


def _reference_rows() -> dict[str, list[str]]:
    rows = {}
    for line in (ROOT / "docs" / "reference" / "configuration.md").read_text().splitlines():
        match = re.match(r"\| `([^`]+)` \| (.*) \|$", line)
        if match:
            rows[match.group(1)] = [c.strip() for c in re.split(r"(?<!\\)\|", match.group(2))]
    return rows


@pytest.mark.parametrize(
    ("key", "local", "aws"),
    [
        # The hand-written reference had these wrong (issue 29).
        ("security.quota.limitsCpu", '`"12"`', '`"32"`'),
        ("security.networkIsolation.apiServerCidrs", "`null`", "`null`"),
        ("apps.chaos.enabled", "`false`", "`false`"),
        ("region", "`null`", 'required, e.g. `"eu-west-1"`'),
        ("cluster.mode", '`"kind"`', "—"),
    ],
)
def test_the_reference_gives_each_stacks_real_default(key, local, aws):
    row = _reference_rows()[key]

    assert (row[1], row[2]) == (local, aws)


def test_every_key_of_the_reference_is_one_the_models_accept():
    # Each documented leaf key set to its own local default is accepted; a misspelt one is refused.
    rows = _reference_rows()
    assert len(rows) > 250 and "rollouts.chaos" not in rows and "apps.chaos" in rows
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"environment": "local", "rollouts": {"chaos": {"enabled": True}}})


def test_the_readmes_team_snippet_runs_as_a_separate_program():
    # It is a whole program of its own (no names from this one): run it as it stands.
    from render.harness import run_program

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Services (`MicroserviceStack`, for app teams)"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)

    run = run_program("dev", {}, program=lambda: exec(compile(code, "README.md", "exec"), {}), project="team-shop")

    deployments = {r.name: r for r in run.of_type("kubernetes:apps/v1:Deployment")}
    assert set(deployments) == {"shop-stable", "shop-canary"}
    assert run.outputs["endpoint"]
    shop = (ROOT / "examples" / "team-app" / "shop.py").read_text()
    assert 'autoscaling={"mode": "hpa", "minReplicas": 2, "maxReplicas": 6}' in code and 'autoscaling={"mode": "hpa", "minReplicas": 2, "maxReplicas": 6}' in shop
