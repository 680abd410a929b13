"""The docs say what the code does: generated pages are current, and what they name exists."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from components.config import ConfigError, parse_config
from helpers import ROOT
from scripts_import import generate_docs


def test_the_generated_pages_are_current():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_docs.py"), "--check"], capture_output=True, text=True, timeout=300)

    assert proc.returncode == 0, proc.stderr


def test_the_staleness_check_fails_on_a_changed_page(tmp_path, monkeypatch):
    page = tmp_path / "configuration.md"
    page.write_text(generate_docs.render().replace("Total CPU limits per namespace.", "Total CPU limits."))
    outputs = tmp_path / "outputs.md"
    outputs.write_text(generate_docs.render_outputs())
    monkeypatch.setattr(generate_docs, "PAGE", page)
    monkeypatch.setattr(generate_docs, "OUTPUTS_PAGE", outputs)
    monkeypatch.setattr(generate_docs, "ROOT", tmp_path)

    assert generate_docs.main(["--check"]) == 1


def test_every_stack_output_is_described_and_every_described_one_is_exported():
    from program import OUTPUTS

    rows = re.findall(r"^\| `(\w+)` \| (yes|when configured) \| (yes|when configured) \| (?:yes|no) \| (.*) \|$",
                      (ROOT / "docs" / "reference" / "outputs.md").read_text(), re.MULTILINE)
    assert [r[0] for r in rows] == list(OUTPUTS)
    assert all(r[3] and (r[1] == "yes" or r[2] == "yes") for r in rows)


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


def test_the_team_snippet_of_the_docs_runs_as_a_separate_program():
    # It is a whole program of its own (no names from this one): run it as it stands.
    from render.engine.harness import run_program

    page = (ROOT / "docs" / "app-teams" / "services.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.S).group(1)

    run = run_program("dev", {}, program=lambda: exec(compile(code, "services.md", "exec"), {}), project="team-shop")

    deployments = {r.name: r for r in run.of_type("kubernetes:apps/v1:Deployment")}
    assert set(deployments) == {"shop-stable", "shop-canary"}
    assert run.outputs["endpoint"]
    shop = (ROOT / "examples" / "team-app" / "shop.py").read_text()
    assert 'autoscaling={"mode": "hpa", "minReplicas": 2, "maxReplicas": 6}' in code and 'autoscaling={"mode": "hpa", "minReplicas": 2, "maxReplicas": 6}' in shop


# --- what the docs name exists ---------------------------------------------------------------

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "examples" / "team-app" / "README.md"]
GENERATED = {ROOT / "docs" / "reference" / "configuration.md", ROOT / "docs" / "reference" / "outputs.md"}


def _texts():
    return [(p.relative_to(ROOT).as_posix(), p.read_text()) for p in DOCS if p not in GENERATED]


def test_every_make_target_the_docs_name_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    named = {(path, target) for path, text in _texts() for target in re.findall(r"`make (?:-s )?([a-z][a-z-]*)", text)}

    assert named and [f"{path}: make {t}" for path, t in sorted(named) if t not in targets] == []


def _flags(*command: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-m", *command, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return set(re.findall(r"(--[a-z][a-z-]*)", proc.stdout))


def test_every_render_and_verify_flag_the_docs_name_exists():
    known = {"render": _flags("render"), "render diff": _flags("render", "diff"), "verify": _flags("verify")}
    missing = []
    for path, text in _texts():
        for tool in ("render diff", "render", "verify"):
            # The command itself: from `-m render` / `make render` to the end of its code span or line.
            for command in re.findall(rf"(?:-m|make) {tool}\b(?! diff)[^`\n]*", text):
                missing += [f"{path}: {tool} {flag}" for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", command) if flag not in known[tool]]
    assert known["render"] >= {"--out", "--no-charts"} and known["render diff"] >= {"--git", "--format", "--max-chars"} and missing == []


def test_every_stack_output_the_docs_name_is_exported():
    from program import OUTPUTS

    named = {(path, name) for path, text in _texts() for name in re.findall(r"stack output (?:--[a-z-]+ )*([a-zA-Z]+)", text)}

    assert named and [f"{path}: {n}" for path, n in sorted(named) if n not in OUTPUTS] == []


def _documented_keys() -> dict[str, str]:
    """Key path -> type, from the generated configuration reference."""
    keys = {}
    for line in (ROOT / "docs" / "reference" / "configuration.md").read_text().splitlines():
        match = re.match(r"\| `([^`]+)` \| ((?:[^|\\]|\\.)*) \|", line)
        if match:
            keys[match.group(1)] = match.group(2)
    return keys


TOP_LEVEL = ("mesh", "security", "cluster", "registry", "tls", "gitops", "apps", "observability", "autoscaling", "rollouts")


def _key_exists(path: str, keys: dict[str, str]) -> bool:
    """`path` names a documented key (or lies under one), or lies inside a free-form map."""
    pattern = re.escape(path).replace(r"\*", r"[^.]+")
    plain = {re.sub(r"\[\]|\.<name>", "", key): type_ for key, type_ in keys.items()}
    return any(re.fullmatch(pattern + r"(\..+)?", key) for key in plain) or any(
        path.startswith(key + ".") and type_.startswith("map") for key, type_ in plain.items()
    )


NOT_CONFIG = {"tls.crt", "tls.key"}
"""Backticked names that look like key paths but are a TLS Secret's data keys."""


def test_every_config_key_path_the_docs_name_exists():
    # `security.quota.limitsCpu`, `mesh.gateway.hosts`, ...: a renamed or moved key fails here.
    # A service's keys (MicroserviceConfig: `autoscaling.mode`, ...) count too.
    from components import MicroserviceConfig

    keys = _documented_keys()
    keys |= {row[0]: row[1] for row in generate_docs.rows({"local": None, "aws": None}, {"local": MicroserviceConfig, "aws": MicroserviceConfig}, ())}
    missing = []
    for path, text in _texts():
        for token in re.findall(r"`((?:" + "|".join(TOP_LEVEL) + r")\.[a-zA-Z*][\w.*]*)`", text):
            if token not in NOT_CONFIG and not _key_exists(token.rstrip("."), keys):
                missing.append(f"{path}: {token}")
    assert missing == []


def test_every_stack_file_snippet_of_the_docs_is_accepted():
    accepted = 0
    for path, text in _texts():
        for block in re.findall(r"```yaml[^\n]*\n(.*?)```", text, re.S):
            if "gitops-platform:" not in block:
                continue
            document = yaml.safe_load(block)
            config = document.get("config", document) if isinstance(document, dict) else {}
            keys = {k.split(":", 1)[1]: v for k, v in config.items() if str(k).startswith("gitops-platform:")}
            if not keys:
                continue
            errors = []
            # On each stack's minimal file; a snippet that sets the gateway's hosts may leave Argo CD's UI off.
            bases = [base for minimal in generate_docs.MINIMAL.values() for base in (minimal, {**minimal, "gitops": {"enabled": False}})]
            for base in bases:
                try:
                    parse_config({**base, **{k: v for k, v in keys.items() if k != "environment"}, "environment": keys.get("environment", base["environment"])})
                    break
                except ConfigError as error:
                    errors.append(str(error))
            else:
                pytest.fail(f"{path}: a stack file snippet no stack accepts: {errors}")
            accepted += 1
    assert accepted >= 2


def test_the_library_version_is_the_newest_release_of_the_changelog():
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    releases = re.findall(r"^## (\d+\.\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)

    assert releases and releases[0] == version


def test_the_readme_stays_a_front_page():
    # Everything else belongs in the docs site; README links into it.
    readme = (ROOT / "README.md").read_text()
    # The platform map is a picture on GitHub, not lines to read: its generated block is not counted.
    start, end = readme.index("<!-- platform-map:start -->"), readme.index("<!-- platform-map:end -->")
    text = readme[:start] + readme[end:]

    assert len(text.splitlines()) <= 200
    assert "make test   # create .venv if missing" in readme and "docs/reference/configuration.md" in readme
