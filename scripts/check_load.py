"""Judge a Locust run: `python scripts/check_load.py load_stats.csv --p95-ms 500 --max-error-percent 1`.

Reads the `Aggregated` row of Locust's `--csv` stats file; exits 1 (printing why) when the
95th percentile is above the bound, the error share above its bound, or nothing was sent.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def verdict(stats: Path, p95_ms: float, max_error_percent: float) -> list[str]:
    rows = {row["Name"]: row for row in csv.DictReader(stats.open())}
    total = rows.get("Aggregated")
    if total is None or int(total["Request Count"]) == 0:
        return ["no requests were sent (is the gateway reachable?)"]
    problems = []
    requests, failures, p95 = int(total["Request Count"]), int(total["Failure Count"]), float(total["95%"])
    if p95 > p95_ms:
        problems.append(f"p95 latency {p95:g} ms is above {p95_ms:g} ms")
    if failures * 100 > max_error_percent * requests:
        problems.append(f"{failures} of {requests} requests failed ({failures * 100 / requests:.2f} % > {max_error_percent:g} %)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stats", type=Path, help="Locust's <prefix>_stats.csv")
    parser.add_argument("--p95-ms", type=float, required=True)
    parser.add_argument("--max-error-percent", type=float, required=True)
    args = parser.parse_args(argv)
    problems = verdict(args.stats, args.p95_ms, args.max_error_percent)
    for problem in problems:
        print(f"load test: {problem}", file=sys.stderr)
    if not problems:
        print("load test: within its bounds")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
