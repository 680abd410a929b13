"""render.engine.charts: the pinned charts: one lock, fetched with the Helm SDK from a chart repository served on 127.0.0.1, verified, cached — and no silent skip without them."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import helm_python as helm
import pytest
import yaml

from components.charts import CHARTS, LOCK_FILE, parse_lock
from helpers import ROOT, pinned_charts
from render.engine import charts as store


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@functools.cache
def _packaged(directory: Path) -> Path:
    """Every locked chart packaged (from whatever sources this machine has them: cache or mirror) and indexed, as a chart repository publishes them."""
    charts = pinned_charts()
    for chart in CHARTS.values():
        # Chart.save is `helm package` without its dependency check (two pinned charts leave out subcharts they never enable).
        helm.Chart.load(str(charts.directory(chart.name, chart.version))).save(str(directory))
    helm.repo_index_generate(directory)
    return directory


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """(URL, directory) of a chart repository on 127.0.0.1 serving every locked chart."""
    directory = _packaged(tmp_path_factory.mktemp("repository"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", directory
    server.shutdown()


def _served_digests(directory: Path) -> dict[str, str]:
    index = yaml.safe_load((directory / "index.yaml").read_text())
    return {name: "sha256:" + entries[0]["digest"] for name, entries in index["entries"].items()}


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections for the whole test: bound, never listening.
    (A port merely free when picked may be taken by another test's server a moment later.)"""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def _lines() -> tuple[list[str], object]:
    said: list[str] = []
    return said, said.append


# --- the lock ---------------------------------------------------------------------------


# --- fetching from a chart repository ------------------------------------------------------


def test_fetched_charts_are_verified_and_a_second_fetch_touches_no_network(repository, tmp_path, closed_port):
    url, directory = repository
    digests = _served_digests(directory)
    locked = [replace(c, digest=digests[c.name]) for c in CHARTS.values()]
    said, say = _lines()

    result = store.fetch(locked, tmp_path, url, say=say)

    assert result.errors == [] and len(result.sources) == len(locked) and all(s.verified for s in result.sources.values())
    assert len([line for line in said if " verified" in line]) == len(locked)  # one progress line per chart
    assert (result.sources[("istiod", CHARTS["istiod"].version)].directory / "files" / "injection-template.yaml").is_file()
    # From the cache: even with the repository unreachable, nothing is fetched again.
    again, say_again = _lines()
    second = store.fetch(locked, tmp_path, f"http://127.0.0.1:{closed_port}", say=say_again)
    assert second.errors == [] and all(line.startswith("  cached ") for line in again)
    assert store.verdict(second.sources.values(), "the cache").endswith(f"{len(locked)} verified against charts.lock")


def test_a_tampered_archive_is_refused_naming_chart_version_and_repository(repository, tmp_path):
    _, directory = repository
    chart = replace(CHARTS["keda"], digest=_served_digests(directory)["keda"])
    tampered = tmp_path / "tampered"
    shutil.copytree(directory, tampered)
    archive = tampered / f"keda-{chart.version}.tgz"
    archive.write_bytes(archive.read_bytes() + b"\0")  # still a valid gzip stream; another digest
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tampered)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = store.fetch([chart], tmp_path / "cache", f"http://127.0.0.1:{server.server_address[1]}", say=lambda _: None)
    finally:
        server.shutdown()

    [error] = result.errors
    assert str(error).startswith(f"chart keda {chart.version} from http://127.0.0.1:")
    assert f"is not the {chart.digest} charts.lock records: refused" in str(error)
    assert not (tmp_path / "cache" / f"keda-{chart.version}").exists()


def test_an_unknown_version_is_named(repository, tmp_path):
    url, _ = repository
    chart = replace(CHARTS["keda"], version="0.0.1")

    [error] = store.fetch([chart], tmp_path, url, say=lambda _: None).errors

    assert str(error).startswith(f"chart keda 0.0.1 from {url}: version 0.0.1 of keda is not published there")
    assert "check the chart's name, version and repository in charts.lock" in str(error)


def test_a_repository_that_is_down_is_named_with_the_way_out(tmp_path, closed_port):
    down = f"http://127.0.0.1:{closed_port}"

    [error] = store.fetch([CHARTS["keda"]], tmp_path, down, say=lambda _: None).errors

    assert str(error).startswith(f"chart keda {CHARTS['keda'].version} from {down}: the repository cannot be reached")
    assert "set GITOPS_CHARTS_MIRROR" in str(error)


def test_a_chart_without_a_recorded_digest_is_trusted_once_and_its_digest_printed(repository, tmp_path):
    url, directory = repository
    chart = replace(CHARTS["keda"], digest="")
    said, say = _lines()

    result = store.fetch([chart], tmp_path, url, say=say)

    [source] = result.sources.values()
    assert source.digest == _served_digests(directory)["keda"] and not source.verified
    assert said == [f"  fetched  keda {chart.version} from {url}: NO DIGEST in charts.lock; trusted {source.digest} — review it and record it (`make charts-lock`)"]
    assert "1 trusted on first fetch (no digest recorded in charts.lock" in store.verdict(result.sources.values(), "the cache")


def test_charts_lock_records_the_published_digests_and_refuses_a_changed_one(repository, tmp_path):
    url, directory = repository
    lock = tmp_path / LOCK_FILE
    lock.write_text((ROOT / LOCK_FILE).read_text())

    assert store.record_digests(lock, url, say=lambda _: None) == 0
    recorded = parse_lock(lock.read_text())
    assert {c.name: c.digest for c in recorded.values()} == {name: _served_digests(directory)[name] for name in recorded}
    assert lock.read_text().startswith("# Every Helm chart any stack installs")  # comments kept

    lock.write_text(store.with_digests(lock.read_text(), {"keda": "sha256:" + "0" * 64}))
    said, say = _lines()
    assert store.record_digests(lock, url, say=say) == 1
    assert any(line.startswith(f"  REFUSED  keda {CHARTS['keda'].version}: {url} now publishes") for line in said)
    assert parse_lock(lock.read_text())["keda"].digest == "sha256:" + "0" * 64


def test_charts_lock_refuses_a_directory_mirror(tmp_path):
    said, say = _lines()

    assert store.record_digests(ROOT / LOCK_FILE, str(tmp_path), say=say) == 2
    assert len(said) == 1 and "is a directory of chart sources, which have no published digest" in said[0]


# --- the air-gapped mirror ------------------------------------------------------------------


def test_a_mirror_directory_is_read_by_each_folder_s_chart_yaml_not_its_name(tmp_path):
    source = pinned_charts().directory("base", CHARTS["base"].version)
    shutil.copytree(source, tmp_path / "istio-base-anything")

    index = store.mirror_index(tmp_path)

    assert index == {("base", CHARTS["base"].version): tmp_path / "istio-base-anything"}
    with pytest.raises(store.ChartsUnavailable, match=r"lacks 20 pinned chart\(s\): istiod .*one folder per chart version"):
        store._from_mirror_directory(tmp_path, CHARTS.values())


# --- no silent skip ---------------------------------------------------------------------------


def _clone(tmp_path: Path) -> Path:
    """What `git clone` gives a new user: the tracked files (as they are now), no ../shared beside them."""
    clone = tmp_path / "clone" / "gitops-platform"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)  # keeps mtimes: the shared venv is not reinstalled
    return clone


def _installed_venv() -> Path:
    """The virtualenv running these tests, as `make` knows it (VENV=...): the clone's make installs nothing."""
    venv = Path(sys.prefix)
    if not (venv / ".installed").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"run the tests from the virtualenv `make test` installs (.venv), not {venv}")
        pytest.skip(f"{venv} is not a virtualenv `make venv` installed: run `make test`")
    return venv


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (store.MIRROR_ENV, store.CACHE_ENV, "PYTHONPATH", "MAKEFLAGS", "MAKELEVEL")}
    return {**env, "XDG_CACHE_HOME": str(tmp_path / "xdg"), **extra}


def test_without_charts_the_render_exits_2_within_seconds_with_one_line_naming_make_charts(tmp_path):
    clone = _clone(tmp_path)
    started = time.monotonic()

    proc = subprocess.run([sys.executable, "-m", "render", "local", "--out", str(tmp_path / "out")], cwd=clone, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=60)

    assert proc.returncode == 2 and time.monotonic() - started < 10
    [line] = proc.stderr.splitlines()
    assert "`make charts`" in line and store.MIRROR_ENV in line and str(tmp_path / "xdg" / "gitops-platform" / "charts") in line
    assert "../shared" not in line and proc.stdout == ""


def test_a_program_only_render_says_partial_first_and_in_its_report(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "render", "local", "--out", str(tmp_path / "out"), "--no-charts"], cwd=ROOT, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("PARTIAL render of stack local: program only (--no-charts)")
    import json

    partial = json.loads((tmp_path / "out" / "report.json").read_text())["partial"]
    assert "schema" in partial["not_run"] and "admission" in partial["not_run"]


def test_make_charts_offline_fails_in_one_line_naming_the_way_out(tmp_path, closed_port):
    venv = _installed_venv()
    clone = _clone(tmp_path)

    proc = subprocess.run(["make", "-s", "charts", f"VENV={venv}"], cwd=clone, env=_env(tmp_path, **{store.MIRROR_ENV: f"http://127.0.0.1:{closed_port}"}),
                          capture_output=True, text=True, timeout=120)

    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {len(CHARTS)} of {len(CHARTS)} pinned charts not fetched: no chart repository could be reached (1 tried); "
        "connect and run `make charts` again, or set GITOPS_CHARTS_MIRROR to a chart repository or a directory of chart sources"
    ]


@pytest.mark.slow
def test_a_fresh_clone_renders_both_stacks_completely_from_a_mirror_repository(repository, tmp_path):
    # A new user's clone with no ../shared: the charts come from GITOPS_CHARTS_MIRROR, an HTTP
    # chart repository, verified against the digests `make charts-lock` records from it.
    venv = _installed_venv()
    url, _ = repository
    clone = _clone(tmp_path)
    env = _env(tmp_path, **{store.MIRROR_ENV: url})
    make = ["make", "-s", f"VENV={venv}"]

    lock = subprocess.run([*make, "charts-lock"], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert lock.returncode == 0, lock.stdout + lock.stderr
    for stack in ("local", "aws"):
        proc = subprocess.run([*make, "render", f"STACK={stack}"], cwd=clone, env=env, capture_output=True, text=True, timeout=600)

        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        assert "SKIPPED" not in proc.stdout and "PARTIAL" not in proc.stdout
        assert f"charts: {len(CHARTS)} pinned charts from the cache {tmp_path / 'xdg' / 'gitops-platform' / 'charts'} (mirror {url}): {len(CHARTS)} verified against charts.lock" in proc.stdout
        assert f"stack {stack}:" in proc.stdout and "schema: " in proc.stdout and "footprint: " in proc.stdout


def test_quiet_prints_no_verdict_when_every_chart_is_there(capsys):
    pinned_charts()  # the charts are in the cache (or the mirror): nothing to fetch
    assert store.main(["--quiet"]) == 0
    assert capsys.readouterr().out == ""

    assert store.main([]) == 0
    assert "pinned charts" in capsys.readouterr().out
