"""The pinned charts on disk: fetched with the Helm SDK, verified against `charts.lock`, cached once per user — or read from a mirror.

    python -m render.engine.charts          # make charts: fetch what the cache lacks, verify each digest, unpack once
    python -m render.engine.charts --lock   # make charts-lock: record each chart's published digest (online, after an upgrade)

    charts = available()             # every locked chart on disk, or ChartsUnavailable saying how to get them
    charts.directory("istiod", CHARTS["istiod"].version)

Where the charts come from:

- `GITOPS_CHARTS_MIRROR` naming a directory: unpacked chart sources, one folder per chart
  version (its `Chart.yaml` names the chart and version; folder names do not matter). Used
  in place, nothing is cached. A source tree has no published digest, so these charts are
  reported as coming from an unverified mirror.
- `GITOPS_CHARTS_MIRROR` naming an http(s) chart repository (one repository serving every
  chart, such as an Artifactory or ChartMuseum mirror): archives are pulled from it and
  verified against the lock's digests exactly like the originals.
- otherwise each chart's own repository, as the lock (and the program) names it.

With a mirror set, charts come from it and nowhere else. Pulled archives are verified, then
unpacked into the cache: `$GITOPS_CHARTS_CACHE`, else `$XDG_CACHE_HOME/gitops-platform/charts`
(`~/.cache/gitops-platform/charts`), one folder per chart version holding the chart and a
record of where it came from and its digest. A cache hit touches no network.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.charts import CHARTS, Chart, lock_path

MIRROR_ENV = "GITOPS_CHARTS_MIRROR"
CACHE_ENV = "GITOPS_CHARTS_CACHE"
RECORD = ".fetched.json"
"""Inside each cached chart version: where it came from and the digest it was verified with."""
ISTIO_DEFAULTS_KEY = "_internal_defaults_do_not_set"
"""Istio charts nest their defaults under this key; users set the same keys at the top level."""
HOW_TO_GET = f"run `make charts`, or set {MIRROR_ENV} to a chart repository URL or a directory of chart sources when there is no internet"

# libyaml's parser when PyYAML has it (the wheels do): chart values are large.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ChartsUnavailable(RuntimeError):
    """The pinned charts are not on this machine: one line saying which and how to get them."""


class ChartFetchError(RuntimeError):
    """One chart could not be fetched or verified: the chart, its version, where from, what went wrong and the fix."""

    def __init__(self, chart: Chart, origin: str, problem: str, fix: str) -> None:
        super().__init__(f"chart {chart.name} {chart.version} from {origin}: {problem}; {fix}")
        self.chart, self.origin, self.problem, self.fix = chart, origin, problem, fix


@dataclass(frozen=True)
class Source:
    """One chart version on disk and how far it is trusted."""

    directory: Path
    """The chart's directory (Chart.yaml, values.yaml, templates/, crds/, charts/)."""
    origin: str
    """The repository it was pulled from, or the mirror directory holding it."""
    digest: str
    """`sha256:<hex>` of the archive it was unpacked from; "" for a source tree."""
    verified: bool
    """Its archive's digest equals the one charts.lock records."""


def cache_root() -> Path:
    """The per-user chart cache (`$GITOPS_CHARTS_CACHE`, else `$XDG_CACHE_HOME/gitops-platform/charts`)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "gitops-platform" / "charts"


def mirror() -> str | None:
    """`GITOPS_CHARTS_MIRROR` as given (a URL or a directory), or None."""
    return os.environ.get(MIRROR_ENV) or None


def _is_url(location: str) -> bool:
    return location.startswith(("http://", "https://", "oci://"))


def _load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_LOADER)


# --- what is on disk ---------------------------------------------------------------------


class ChartSet:
    """Every locked chart, on disk: chart directories, their default values, schemas and subcharts."""

    def __init__(self, sources: Mapping[tuple[str, str], Source], where: str) -> None:
        self.sources = dict(sources)
        self.where = where
        """The cache or the mirror they were found in (for messages)."""

    def __hash__(self) -> int:
        return id(self)

    def directory(self, name: str, version: str) -> Path | None:
        """The directory of chart `name` at `version`, or None when charts.lock does not pin that version."""
        source = self.sources.get((name, version))
        return source.directory if source is not None else None

    def missing(self, name: str, version: str) -> str:
        """Why `name` `version` has no directory: the message a render or a check reports."""
        pinned = CHARTS.get(name)
        if pinned is None:
            return f"chart {name} is not in charts.lock; add it there (and run `make charts-lock`)"
        return f"chart {name} {version} is not the version charts.lock pins ({pinned.version}); fix the pin in the program or the lock"

    @functools.cache  # noqa: B019 - one ChartSet per process, alive for the whole process
    def raw_values(self, name: str, version: str) -> dict[str, Any] | None:
        """A chart version's values.yaml as published."""
        directory = self.directory(name, version)
        if directory is None:
            return None
        if not (directory / "values.yaml").is_file():
            return {}
        return _load_yaml(directory / "values.yaml") or {}

    def values(self, name: str, version: str) -> dict[str, Any] | None:
        """Default values of a chart version as users set them (Istio's defaults wrapper removed)."""
        values = self.raw_values(name, version)
        if values is not None and set(values) == {ISTIO_DEFAULTS_KEY}:
            return dict(values[ISTIO_DEFAULTS_KEY])
        return values

    @functools.cache  # noqa: B019 - one ChartSet per process, alive for the whole process
    def schema(self, name: str, version: str) -> dict[str, Any] | None:
        """The chart's values.schema.json, or None when it ships none."""
        directory = self.directory(name, version)
        if directory is None or not (directory / "values.schema.json").is_file():
            return None
        schema: dict[str, Any] = json.loads((directory / "values.schema.json").read_text())
        return schema

    @functools.cache  # noqa: B019 - one ChartSet per process, alive for the whole process
    def subcharts(self, name: str, version: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """Values key (alias or name) -> (chart name, default values) of each subchart the chart vendors under charts/."""
        directory = self.directory(name, version)
        if directory is None:
            return {}
        metadata = _load_yaml(directory / "Chart.yaml") or {}
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for dependency in metadata.get("dependencies") or []:
            values = _subchart_values(directory / "charts", str(dependency["name"]))
            if values is not None:
                found[str(dependency.get("alias") or dependency["name"])] = (str(dependency["name"]), values)
        return found

    def verdict(self) -> str:
        """One line: how many charts, and how many came verified against charts.lock."""
        return verdict(self.sources.values(), self.where)


def _subchart_values(charts_dir: Path, name: str) -> dict[str, Any] | None:
    """A vendored subchart's values.yaml: an unpacked charts/<name>/ or an archive charts/<name>-<version>.tgz."""
    if (charts_dir / name / "Chart.yaml").is_file():
        values = charts_dir / name / "values.yaml"
        return (_load_yaml(values) or {}) if values.is_file() else {}
    import tarfile

    for archive in sorted(charts_dir.glob(f"{name}-*.tgz")):
        with tarfile.open(archive) as tar:
            try:
                member = tar.extractfile(f"{name}/values.yaml")
            except KeyError:
                continue
            if member is not None:
                return yaml.load(member.read(), Loader=_LOADER) or {}
    return None


def verdict(sources: Iterable[Source], where: str) -> str:
    sources = list(sources)
    verified = sum(s.verified for s in sources)
    trusted = sum(1 for s in sources if s.digest and not s.verified)
    unverified = sum(1 for s in sources if not s.digest)
    parts = [f"{verified} verified against charts.lock"]
    if trusted:
        parts.append(f"{trusted} trusted on first fetch (no digest recorded in charts.lock: `make charts-lock`)")
    if unverified:
        parts.append(f"{unverified} from an unverified mirror (source trees have no published digest)")
    return f"charts: {len(sources)} pinned charts from {where}: " + ", ".join(parts)


def mirror_index(directory: Path) -> dict[tuple[str, str], Path]:
    """(chart name, version) -> folder, for every folder of `directory` holding a Chart.yaml."""
    found: dict[tuple[str, str], Path] = {}
    for chart_yaml in sorted(directory.glob("*/Chart.yaml")):
        metadata = _load_yaml(chart_yaml) or {}
        found.setdefault((str(metadata.get("name")), str(metadata.get("version"))), chart_yaml.parent)
    return found


def _from_mirror_directory(directory: Path, charts: Iterable[Chart]) -> dict[tuple[str, str], Source]:
    if not directory.is_dir():
        raise ChartsUnavailable(f"{MIRROR_ENV}={directory} is not a directory (nor an http(s) chart repository URL)")
    index = mirror_index(directory)
    sources, absent = {}, []
    for chart in charts:
        folder = index.get((chart.name, chart.version))
        if folder is None:
            absent.append(f"{chart.name} {chart.version}")
        else:
            sources[(chart.name, chart.version)] = Source(folder, str(directory), "", False)
    if absent:
        raise ChartsUnavailable(
            f"the chart mirror {directory} ({MIRROR_ENV}) lacks {len(absent)} pinned chart(s): {', '.join(absent)} "
            "(one folder per chart version, its Chart.yaml naming the chart and version)"
        )
    return sources


def _entry(cache: Path, chart: Chart) -> Path:
    return cache / f"{chart.name}-{chart.version}"


def cached(cache: Path, chart: Chart, origin: str) -> Source | None:
    """The cached copy of `chart` if it can be used as is: its digest is the lock's (from wherever it
    came), or — while the lock records none — it came from `origin`, where it would be fetched now."""
    entry = _entry(cache, chart)
    try:
        record = json.loads((entry / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if record.get("chart") != chart.name or record.get("version") != chart.version:
        return None
    digest = str(record.get("digest") or "")
    if chart.digest and digest != chart.digest:
        return None
    if not chart.digest and record.get("origin") != origin:
        return None
    directory = entry / str(record.get("directory"))
    if not (directory / "Chart.yaml").is_file():
        return None
    return Source(directory, str(record.get("origin")), digest, bool(chart.digest))


def _origin(chart: Chart, location: str | None) -> str:
    """Where `chart` is pulled from: the mirror repository when one is set, else its own."""
    return location if location is not None else chart.repo


def _on_disk(charts: Sequence[Chart], cache: Path, location: str | None) -> tuple[dict[tuple[str, str], Source], list[Chart], str]:
    """(the charts on disk, those missing, where they were looked for): the mirror directory
    `location` (which must hold every one: ChartsUnavailable otherwise), else the cache."""
    if location is not None and not _is_url(location):
        directory = Path(location).expanduser().resolve()
        return _from_mirror_directory(directory, charts), [], f"the mirror {directory}"
    sources, missing = {}, []
    for chart in charts:
        source = cached(cache, chart, _origin(chart, location))
        if source is None:
            missing.append(chart)
        else:
            sources[(chart.name, chart.version)] = source
    return sources, missing, f"the cache {cache}" + (f" (mirror {location})" if location else "")


@functools.cache
def available() -> ChartSet:
    """Every chart charts.lock pins, on disk (the mirror directory, or the cache), or ChartsUnavailable."""
    charts = list(CHARTS.values())
    cache = cache_root()
    sources, missing, where = _on_disk(charts, cache, mirror())
    if missing:
        what = "none of the" if len(missing) == len(charts) else f"{len(missing)} of the {len(charts)}"
        raise ChartsUnavailable(
            f"{what} pinned charts are in the chart cache {cache} (first missing: {missing[0].name} {missing[0].version}): {HOW_TO_GET}"
        )
    return ChartSet(sources, where)


# --- fetching ------------------------------------------------------------------------------


def _classify(error: Exception, chart: Chart, origin: str) -> ChartFetchError:
    """The Helm SDK's error as a ChartFetchError that says what to do."""
    text = str(error)
    if "not found in" in text or "404" in text:
        return ChartFetchError(chart, origin, f"version {chart.version} of {chart.name} is not published there ({text})",
                               "check the chart's name, version and repository in charts.lock")
    if "cannot be reached" in text or "dial tcp" in text or "no such host" in text or "connection refused" in text or "timeout" in text:
        return ChartFetchError(chart, origin, f"the repository cannot be reached ({text})",
                               f"check the network, or set {MIRROR_ENV} to a chart repository or a directory of chart sources")
    return ChartFetchError(chart, origin, f"Helm could not pull it ({text})", "check the repository in charts.lock and that it serves this chart")


def _pull(chart: Chart, origin: str, destination: Path) -> Path:
    """The chart's archive pulled from `origin` into `destination`, with Helm's own pull."""
    import helm_python as helm

    destination.mkdir(parents=True, exist_ok=True)
    if origin.startswith("oci://"):
        helm.pull(f"{origin.rstrip('/')}/{chart.name}", version=chart.version, destination=destination)
    else:
        helm.pull(chart.name, repo_url=origin, version=chart.version, destination=destination)
    archives = sorted(destination.glob("*.tgz"))
    if len(archives) != 1:
        raise ChartFetchError(chart, origin, f"the pull left {len(archives)} archives, expected one", "report this with the repository's index entry")
    return archives[0]


def archive_digest(archive: Path) -> str:
    """`sha256:<hex>` of an archive, as repository indexes list it."""
    return "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()


def _fetch_one(chart: Chart, origin: str, cache: Path, say: Callable[[str], None]) -> Source:
    import helm_python as helm
    from helm_python.errors import HelmError

    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{chart.name}-{chart.version}-", dir=cache))
    try:
        try:
            archive = _pull(chart, origin, work / "archive")
        except HelmError as error:
            raise _classify(error, chart, origin) from None
        digest = archive_digest(archive)
        if chart.digest and digest != chart.digest:
            raise ChartFetchError(
                chart, origin, f"the archive's digest {digest} is not the {chart.digest} charts.lock records: refused (tampered with, or re-published under the same version)",
                "if the upgrade is deliberate, clear the digest in charts.lock, run `make charts-lock` and review the change",
            )
        try:
            helm.expand(work / "unpacked", archive)
        except HelmError as error:
            raise ChartFetchError(chart, origin, f"the archive does not unpack ({error})", "check the repository serves a Helm chart archive") from None
        folders = [d for d in (work / "unpacked").iterdir() if d.is_dir()]
        if len(folders) != 1 or not (folders[0] / "Chart.yaml").is_file():
            raise ChartFetchError(chart, origin, "the archive is not one chart folder with a Chart.yaml", "check the repository serves a Helm chart archive")
        directory = folders[0]
        metadata = _load_yaml(directory / "Chart.yaml") or {}
        if (str(metadata.get("name")), str(metadata.get("version"))) != (chart.name, chart.version):
            raise ChartFetchError(chart, origin, f"the archive holds chart {metadata.get('name')} {metadata.get('version')}", "check the repository in charts.lock")
        record = {"chart": chart.name, "version": chart.version, "origin": origin, "digest": digest, "directory": directory.name}
        (work / "unpacked" / RECORD).write_text(json.dumps(record, indent=2) + "\n")
        entry = _entry(cache, chart)
        # Replace the entry in one rename, so a concurrent reader never sees half a chart.
        if entry.exists():
            stale = Path(tempfile.mkdtemp(prefix=".stale-", dir=cache))
            with contextlib.suppress(OSError):  # another fetch moved it first
                entry.rename(stale / "entry")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            (work / "unpacked").rename(entry)
        except OSError:
            # Another fetch of the same chart (a second `make charts`) finished first: use its copy if it is this one.
            if cached(cache, chart, origin) is None:
                raise ChartFetchError(chart, origin, f"cannot write {entry}", "check no other process keeps replacing the chart cache") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if chart.digest:
        say(f"  fetched  {chart.name} {chart.version} from {origin}: {digest} verified")
    else:
        say(f"  fetched  {chart.name} {chart.version} from {origin}: NO DIGEST in charts.lock; trusted {digest} — review it and record it (`make charts-lock`)")
    return Source(entry / directory.name, origin, digest, bool(chart.digest))


@dataclass
class FetchResult:
    sources: dict[tuple[str, str], Source]
    errors: list[ChartFetchError]
    where: str


def fetch(charts: Sequence[Chart], cache: Path, location: str | None, say: Callable[[str], None] = print) -> FetchResult:
    """Every chart of `charts` into `cache` (or found in the mirror directory `location`): one progress line per chart."""
    try:
        sources, missing, where = _on_disk(charts, cache, location)
    except ChartsUnavailable as error:
        return FetchResult({}, [ChartFetchError(charts[0], str(location), str(error), "add the missing chart folders")], f"the mirror {location}")
    for (name, version), source in sources.items():
        if not source.digest:
            say(f"  mirror   {name} {version}: {source.directory} (source tree: no published digest, unverified)")
        else:
            state = "verified" if source.verified else "NO DIGEST in charts.lock (trusted on first fetch)"
            say(f"  cached   {name} {version}: {source.digest} {state}")
    pending: dict[str, list[Chart]] = {}
    for chart in missing:
        pending.setdefault(_origin(chart, location), []).append(chart)
    errors: list[ChartFetchError] = []

    def from_one_repository(origin: str) -> list[tuple[Chart, Source | ChartFetchError]]:
        # One repository's charts in sequence: Helm keeps one index cache file per repository.
        out: list[tuple[Chart, Source | ChartFetchError]] = []
        for chart in pending[origin]:
            try:
                out.append((chart, _fetch_one(chart, origin, cache, say)))
            except ChartFetchError as error:
                out.append((chart, error))
        return out

    # Repositories in parallel: the SDK's calls release the GIL.
    with ThreadPoolExecutor(max_workers=4) as pool:
        for results in pool.map(from_one_repository, list(pending)):
            for chart, outcome in results:
                if isinstance(outcome, ChartFetchError):
                    errors.append(outcome)
                else:
                    sources[(chart.name, chart.version)] = outcome
    return FetchResult(sources, errors, where)


# --- recording digests ---------------------------------------------------------------------


def published_digest(chart: Chart, origin: str) -> str:
    """The digest `origin` publishes for `chart`: its index entry's (https), or the pulled archive's (oci)."""
    import helm_python as helm
    from helm_python.errors import HelmError

    try:
        if origin.startswith("oci://"):
            with tempfile.TemporaryDirectory() as work:
                return archive_digest(_pull(chart, origin, Path(work)))
        index = helm.repo_index(origin)
    except HelmError as error:
        raise _classify(error, chart, origin) from None
    for entry in (index.get("entries") or {}).get(chart.name) or []:
        if str(entry.get("version")) == chart.version:
            digest = str(entry.get("digest") or "")
            if not digest:
                raise ChartFetchError(chart, origin, "its index entry carries no digest", "ask the repository's owners, or pull and review the archive by hand")
            return digest if digest.startswith("sha256:") else f"sha256:{digest}"
    raise ChartFetchError(chart, origin, f"version {chart.version} of {chart.name} is not in the repository's index", "check the chart's name, version and repository in charts.lock")


def with_digests(text: str, digests: Mapping[str, str]) -> str:
    """The lock's text with the `digest:` of each named chart replaced; comments and order kept."""
    lines, current = [], None
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("- name:"):
            current = stripped.split(":", 1)[1].strip().strip("\"'")
        elif stripped.startswith("digest:") and current is not None and current in digests:
            indent = line[: len(line) - len(line.lstrip())]
            line = f'{indent}digest: "{digests[current]}"\n'
        lines.append(line)
    return "".join(lines)


def record_digests(lock_file: Path, location: str | None, say: Callable[[str], None] = print) -> int:
    """`make charts-lock`: write each chart's published digest into `lock_file`. Refuses a digest that changed for the same version."""
    from components.charts import parse_lock

    if location is not None and not _is_url(location):
        say(f"error: {MIRROR_ENV}={location} is a directory of chart sources, which have no published digest; "
            "unset it, or point it at an HTTP chart repository, to record digests")
        return 2
    text = lock_file.read_text()
    charts = parse_lock(text, str(lock_file))
    found: dict[str, str] = {}
    failures = 0
    for chart in charts.values():
        origin = _origin(chart, location)
        try:
            digest = published_digest(chart, origin)
        except ChartFetchError as error:
            say(f"  FAILED   {error}")
            failures += 1
            continue
        if chart.digest and chart.digest != digest:
            say(f"  REFUSED  {chart.name} {chart.version}: {origin} now publishes {digest}, charts.lock records {chart.digest} for the same version "
                "(re-published or tampered with); if that is intended, clear the digest in charts.lock and run again")
            failures += 1
            continue
        state = "unchanged" if chart.digest == digest else "recorded"
        say(f"  {state:8} {chart.name} {chart.version}: {digest} (from {origin})")
        found[chart.name] = digest
    lock_file.write_text(with_digests(text, found))
    if failures:
        say(f"error: {failures} of {len(charts)} digests not recorded; the others are written to {lock_file}")
        return 1
    say(f"charts.lock: {len(found)} digests recorded; review the diff and commit it")
    return 0


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m render.engine.charts", description="Fetch and verify the charts charts.lock pins (make charts), or record their digests (make charts-lock).")
    parser.add_argument("--lock", action="store_true", help="record each chart's published digest in charts.lock (online, after a deliberate upgrade)")
    parser.add_argument("--quiet", action="store_true", help="nothing on success, not even a line per chart (make render: the render's summary states where the charts came from; errors still print)")
    args = parser.parse_args(argv)
    location = mirror()
    if args.lock:
        return record_digests(lock_path(), location)
    charts = list(CHARTS.values())
    result = fetch(charts, cache_root(), location, say=(lambda line: None) if args.quiet else (lambda line: print(line, flush=True)))
    if result.errors:
        unreachable = {e.origin for e in result.errors if e.problem.startswith("the repository cannot be reached")}
        if not result.sources and len(unreachable) == len({e.origin for e in result.errors}):
            # Offline: one line, not one per chart.
            print(f"error: {len(result.errors)} of {len(charts)} pinned charts not fetched: no chart repository could be reached "
                  f"({len(unreachable)} tried); connect and run `make charts` again, or set {MIRROR_ENV} to a chart repository or a directory of chart sources",
                  file=sys.stderr)
        else:
            for error in result.errors:
                print(f"  FAILED   {error}", file=sys.stderr)
            print(f"error: {len(result.errors)} of {len(charts)} pinned charts not fetched (each named above); fix them and run `make charts` again", file=sys.stderr)
        return 2
    if not args.quiet:
        print(verdict(result.sources.values(), result.where))
    return 0


if __name__ == "__main__":
    sys.exit(main())
