"""Time `from components import MicroserviceStack` against its floor, in fresh processes.

    .venv/bin/python bench/imports.py [--runs 15]

The floor is what the component cannot avoid: `import pulumi, pulumi_kubernetes,
pydantic, yaml`. Both are timed in the same run, alternating, each in a fresh
interpreter (`-X importtime` is not used: it slows imports unevenly); the median of
each and their ratio are printed. Target: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "import pulumi, pulumi_kubernetes, pydantic, yaml"
LIBRARY = "from components import MicroserviceStack"


def _once(code: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - start


def measure(runs: int) -> dict[str, float]:
    _once(FLOOR), _once(LIBRARY)  # warm the file cache
    floor, library = [], []
    for _ in range(runs):
        floor.append(_once(FLOOR))
        library.append(_once(LIBRARY))
    f, lib = statistics.median(floor), statistics.median(library)
    return {"floor_s": round(f, 3), "library_s": round(lib, 3), "ratio": round(lib / f, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    row = measure(args.runs)
    print(f"median of {args.runs} fresh processes each")
    print(f"floor   {FLOOR:<50} {row['floor_s']:.3f} s")
    print(f"library {LIBRARY:<50} {row['library_s']:.3f} s")
    print(f"ratio   {row['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
