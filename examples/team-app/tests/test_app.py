"""The shop service and its image: what the platform requires, checked without Docker."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def url():
    import sys

    sys.path.insert(0, str(HERE / "app"))
    from server import serve

    server = serve(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_service_answers_its_probes_and_its_version(url):
    assert get(f"{url}/health") == (200, {"status": "ok"})
    assert get(f"{url}/ready") == (200, {"status": "ok"})
    assert get(f"{url}/") == (200, {"service": "shop", "version": "dev"})
    assert get(f"{url}/nope")[0] == 404


def test_the_image_runs_as_a_numeric_non_root_user_on_the_default_port():
    dockerfile = (HERE / "app" / "Dockerfile").read_text()

    [user] = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit()
    [base] = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert ":" in base and not base.endswith(":latest")  # a pinned base image
    assert "EXPOSE 8080" in dockerfile and "PORT=8080" in dockerfile


def test_the_readme_builds_and_pushes_exactly_the_images_the_stack_deploys():
    readme = (HERE / "README.md").read_text()
    config = yaml.safe_load((HERE / "Pulumi.dev.yaml").read_text())["config"]
    deployed = {config["team-shop:image"], config["team-shop:canaryImage"]}

    built = set(re.findall(r"^docker build --build-arg VERSION=(\S+) -t (\S+) app$", readme, re.MULTILINE))
    pushed = set(re.findall(r"^docker push (\S+)$", readme, re.MULTILINE))
    assert {tag for _, tag in built} == pushed == deployed
    assert all(tag.endswith(f":{version}") for version, tag in built)
    assert "venv/bin/python -m pytest" in readme
