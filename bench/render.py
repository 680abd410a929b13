"""Time the offline render of each stack against the import floor.

    .venv/bin/python bench/render.py [--runs 5] [stack ...]

For each stack: the median wall time of `python -m render <stack>` over
`--runs` fresh processes; the median of its import floor — a fresh process importing
exactly the modules of the third-party packages the program imports (every submodule
the render of that stack loaded, e.g. `pulumi_aws.eks.cluster`), nothing else —; their
ratio (the median of each back-to-back floor and render pair's: the two alternate); the resource count; the render's peak memory (max RSS); and the median time of
`python -m render diff` of the render with itself, and its share of the render's. The ratio says how
much the program itself costs on top of loading the SDKs it cannot avoid.

Every process runs with Python's default bytecode cache: the SDKs' bytecode was compiled
when pip installed them, so a render under PYTHONDONTWRITEBYTECODE (which some shells and
CI images set) would compile the project's own hundred modules again on every run while
the floor compiles nothing. The first, listing run writes the project's cache, as a
user's first render does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs the render of a stack in-process, then lists every loaded module of the
# third-party packages that components/, program/ and render/ import directly.
_LIST_IMPORTS = """
import ast, pathlib, sys, tempfile
import render.cli
packages = set()
for path in [p for d in ('components', 'policies', 'program', 'render') for p in pathlib.Path(d).rglob('*.py')]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            packages.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            packages.add(node.module.split('.')[0])
packages -= set(sys.stdlib_module_names) | {'components', 'program', 'render', 'policies', '__future__'}
with tempfile.TemporaryDirectory() as out:
    render.cli.main([sys.argv[1], '--out', out])
print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in packages)))
"""


def _env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(ROOT)}


def _timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one fresh process."""
    env = _env()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024  # Linux reports KiB


def floor_modules(stack: str) -> list[str]:
    """The third-party modules a render of `stack` loads (its last output line)."""
    out = subprocess.run(
        [sys.executable, "-c", _LIST_IMPORTS, stack], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1].split()


def bench(stacks: list[str], runs: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stack in stacks:
            modules = floor_modules(stack)
            floor_cmd = [sys.executable, "-c", "\n".join(f"import {m}" for m in modules)]
            out = Path(tmp) / stack
            # Floor and render alternate, so that both see the machine in the same state (a
            # shared VM's speed drifts by 10-20 % over a minute); the ratio is the median of
            # each back-to-back pair's.
            floors, samples = [], []
            for _ in range(runs):
                floors.append(_timed(floor_cmd)[0])
                samples.append(_timed([sys.executable, "-m", "render", stack, "--out", str(out)]))
            report = json.loads((out / "report.json").read_text())
            floor, render = statistics.median(floors), statistics.median(s[0] for s in samples)
            ratio = statistics.median(s[0] / f for s, f in zip(samples, floors, strict=True))
            # `render diff` of two renders of the same stack (issue 32: at most 20 % of a render).
            compared = statistics.median(_timed([sys.executable, "-m", "render", "diff", str(out), str(out)])[0] for _ in range(runs))
            rows.append(
                {
                    "stack": stack,
                    "resources": len(report["resources"]),
                    "render_s": round(render, 3),
                    "floor_s": round(floor, 3),
                    "ratio": round(ratio, 2),
                    "floor_modules": len(modules),
                    "peak_mib": round(max(s[1] for s in samples)),
                    "diff_s": round(compared, 3),
                    "diff_share": round(compared / render, 2),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", default=["local", "aws"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    print(f"median of {args.runs} fresh processes each")
    print(f"{'stack':<6} {'resources':>9} {'render s':>9} {'floor s':>8} {'ratio':>6} {'peak MiB':>9} {'floor modules':>14} {'diff s':>7} {'diff/render':>11}")
    for row in bench(args.stacks, args.runs):
        print(
            f"{row['stack']:<6} {row['resources']:>9} {row['render_s']:>9.3f} {row['floor_s']:>8.3f} "
            f"{row['ratio']:>6.2f} {row['peak_mib']:>9} {row['floor_modules']:>14} {row['diff_s']:>7.3f} {row['diff_share']:>11.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
