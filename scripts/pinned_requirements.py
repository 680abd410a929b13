"""Print the exact pins of pyproject.toml as a requirements file.

pyproject.toml is the one place dependencies are pinned; this turns it into what
`pip install -r` takes without building the project itself. Any dependency that is
not pinned with `==` is refused, so an unpinned dependency cannot slip in.

    python scripts/pinned_requirements.py pyproject.toml --extra test
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib

_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!-]+$")


def pinned_requirements(pyproject: dict, extras: list[str]) -> list[str]:
    project = pyproject["project"]
    requirements = list(project.get("dependencies", []))
    for extra in extras:
        try:
            requirements += project["optional-dependencies"][extra]
        except KeyError:
            raise SystemExit(f"pyproject.toml has no optional-dependencies group {extra!r}") from None
    unpinned = [r for r in requirements if not _PINNED.match(r.replace(" ", ""))]
    if unpinned:
        raise SystemExit("pin these with an exact version (name==X.Y.Z): " + ", ".join(unpinned))
    return requirements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject")
    parser.add_argument("--extra", action="append", default=[])
    args = parser.parse_args(argv)
    with open(args.pyproject, "rb") as fh:
        data = tomllib.load(fh)
    sys.stdout.write("\n".join(pinned_requirements(data, args.extra)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
