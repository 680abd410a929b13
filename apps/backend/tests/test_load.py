"""A bounded load test on loopback: Locust (headless, 10 s) against the backend this test starts."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


@pytest.mark.slow
def test_backend_under_load_keeps_p95_below_200ms_and_errors_below_1_percent(tmp_path):
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "DRAIN_SECONDS": "0", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "app.serve"], cwd=BACKEND, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready")
        result = subprocess.run(
            [str(BIN / "locust"), "-f", str(BACKEND / "locustfile.py"), "--headless", "--users", "20", "--spawn-rate", "10",
             "--run-time", "10s", "--host", f"http://127.0.0.1:{port}", "--csv", str(tmp_path / "load"), "--only-summary"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode in (0, 1), result.stderr[-2000:]
        with open(tmp_path / "load_stats.csv") as fh:
            rows = {row["Name"]: row for row in csv.DictReader(fh)}
    finally:
        server.terminate()
        server.wait(timeout=10)

    total = rows["Aggregated"]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    assert requests > 500, "the load test ran"
    assert failures / requests < 0.01
    assert float(total["95%"]) < 200
