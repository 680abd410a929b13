"""Check that requirements.lock satisfies every range pyproject.toml declares.

pyproject.toml holds the library's compatible ranges (and its extras'); requirements.lock
holds the exact versions `make test`, `make up` and CI install. Every requirement of the
library and of every extra must be in the lock, pinned with `==`, at a version inside
its range; otherwise this exits 1 naming each problem.

    python scripts/check_lock.py [pyproject.toml] [requirements.lock]
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version


def read_lock(text: str) -> dict[str, Version]:
    """name -> pinned version of every `name==version` line (comments and blanks skipped)."""
    pins: dict[str, Version] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise SystemExit(f"requirements.lock:{number}: {line!r} is not pinned with ==")
        pins[canonicalize_name(name)] = Version(version.strip())
    return pins


def requirements(pyproject: dict[str, Any]) -> list[tuple[str, Requirement]]:
    """(where, requirement) for the library and each extra; self-references to extras are skipped."""
    project = pyproject["project"]
    own = canonicalize_name(project["name"])
    found = [("dependencies", Requirement(r)) for r in project.get("dependencies", [])]
    for extra, items in project.get("optional-dependencies", {}).items():
        found += [(f"extra {extra}", Requirement(r)) for r in items]
    return [(where, r) for where, r in found if canonicalize_name(r.name) != own]


def problems(pyproject: dict[str, Any], lock: dict[str, Version]) -> list[str]:
    """Every requirement the lock does not satisfy, as a sentence."""
    out = []
    for where, requirement in requirements(pyproject):
        pinned = lock.get(canonicalize_name(requirement.name))
        if pinned is None:
            out.append(f"{requirement.name} ({where}) is not in requirements.lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            out.append(f"{requirement.name}=={pinned} in requirements.lock is outside {where}'s range {requirement.specifier}")
    return out


def main(argv: list[str]) -> int:
    pyproject_path = Path(argv[0] if argv else "pyproject.toml")
    lock_path = Path(argv[1] if len(argv) > 1 else "requirements.lock")
    found = problems(tomllib.loads(pyproject_path.read_text()), read_lock(lock_path.read_text()))
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
