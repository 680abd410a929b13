"""components.charts: charts.lock — every chart version written once, exact, from https or OCI; the program hands the engine exactly that."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from components.charts import CHARTS, LOCK_FILE, ChartLockError, parse_lock
from helpers import ROOT


def test_every_chart_version_is_written_in_the_lock_and_nowhere_else():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    # CHANGELOG records what each release changed, versions included; requirements.lock pins
    # Python packages; images.lock pins the images the charts run (their tags are app versions).
    files = [f for f in tracked if f not in (LOCK_FILE, "CHANGELOG.md", "requirements.lock", "images.lock") and (ROOT / f).is_file()]
    versions = {chart.version for chart in CHARTS.values()}
    token = re.compile(r"(?<![\w.])(" + "|".join(re.escape(v) for v in sorted(versions)) + r")(?![\w.])")
    found = [
        f"{path}:{number}: {match.group(1)}"
        for path in files
        for number, line in enumerate((ROOT / path).read_text(errors="replace").splitlines(), 1)
        for match in token.finditer(line)
    ]

    assert found == [], "read chart versions from components.charts.CHARTS (charts.lock), never write them again"


def test_the_lock_names_each_chart_once_with_an_exact_version_and_an_https_or_oci_repository():
    assert len(CHARTS) == 21 and all(re.fullmatch(r"v?\d+\.\d+\.\d+", c.version) for c in CHARTS.values())
    assert all(c.repo.startswith(("https://", "oci://")) for c in CHARTS.values())
    assert all(c.digest == "" or re.fullmatch(r"sha256:[0-9a-f]{64}", c.digest) for c in CHARTS.values())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "x", "repository": "https://e.com", "version": "^1.2.0", "digest": ""}, "version '^1.2.0' must be one exact version, never a range"),
        ({"name": "x", "repository": "http://e.com", "version": "1.2.0", "digest": ""}, "repository 'http://e.com' must be an https:// chart repository"),
        ({"name": "x", "repository": "https://e.com", "version": "1.2.0", "digest": "abc"}, "digest 'abc' must be sha256:<64 lowercase hex>"),
        ({"name": "x", "repository": "https://e.com", "version": "1.2.0"}, "each entry has exactly name, repository, version and digest"),
    ],
)
def test_a_bad_lock_entry_is_refused_naming_it(entry, message):
    with pytest.raises(ChartLockError, match=re.escape(message)):
        parse_lock(yaml.safe_dump({"charts": [entry]}), "charts.lock")


def test_the_program_gives_the_engine_the_lock_s_repository_and_version(local_run):
    releases = [r for r in local_run.resources if r.type in ("kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Release")]

    assert releases
    for release in releases:
        chart = CHARTS[release.inputs["chart"]]
        assert (release.inputs["version"], release.inputs["repositoryOpts"]["repo"]) == (chart.version, chart.repo)
