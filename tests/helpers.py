"""Small builders shared by the tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from components.charts import CHARTS
from render.engine.charts import ChartSet, ChartsUnavailable, available
from render.engine.deployed import V3_RELEASE, V4_CHART, DeployedStack, deployed_objects
from render.engine.harness import RecordedResource, Run
from scripts_import import generate_docs

ROOT = Path(__file__).resolve().parents[1]
"""The project's root (tests/ mirrors the packages: never count parents from a test module)."""


def pinned(chart: str) -> str:
    """The version charts.lock pins for `chart` (tests never write a chart version)."""
    return CHARTS[chart].version


def pinned_charts() -> ChartSet:
    """The pinned charts on this machine (`make charts`, or GITOPS_CHARTS_MIRROR).

    Without them a test that needs them fails under CI=true (a green run would prove
    nothing) and is skipped, with the reason and the fix, anywhere else."""
    try:
        return available()
    except ChartsUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"this test needs the pinned charts, and CI=true forbids skipping it: {error}")
        pytest.skip(f"the pinned charts are not on this machine: {error}")


def local(**keys: Any) -> dict[str, Any]:
    """Engine-style config for the local stack: `local(cluster={"workers": 1})`."""
    return {"gitops-platform:environment": "local", **{f"gitops-platform:{k}": v for k, v in keys.items()}}


AWS_ACME: dict[str, Any] = generate_docs.MINIMAL["aws"]["tls"]["acme"]
"""The ACME settings every aws stack needs (tls.acme), as Pulumi.aws.yaml has them."""

AWS_MINIMAL: dict[str, Any] = generate_docs.MINIMAL["aws"]
"""The smallest valid aws configuration (namespace-less keys, as parse_config takes them): the one the docs show."""


def aws(**keys: Any) -> dict[str, Any]:
    """Engine-style config for the aws stack: region eu-west-1, tls.acme and gateway hosts under its zone unless given.

    A gateway `credentialName` means the Secret is provided (tls.gatewayCertificate: provided).
    Argo CD's UI gets argocd.example.com unless the gateway's hosts are given (then gitops is off
    unless configured)."""
    keys.setdefault("region", "eu-west-1")
    mesh = keys.setdefault("mesh", {})
    tls = keys.setdefault("tls", {})
    if isinstance(tls, dict) and tls.get("issuer", "acme") == "acme":
        tls.setdefault("acme", AWS_ACME)
    if isinstance(mesh, dict):
        gateway = mesh.setdefault("gateway", {})
        if isinstance(gateway, dict) and "credentialName" in gateway and isinstance(tls, dict):
            tls.setdefault("gatewayCertificate", "provided")
        explicit_hosts = isinstance(gateway, dict) and "hosts" in gateway
        if isinstance(gateway, dict) and "credentialName" not in gateway:
            gateway.setdefault("hosts", ["app.example.com", "argocd.example.com"])
        gitops = keys.setdefault("gitops", {})
        if isinstance(gitops, dict) and not gitops:
            gitops.update({"enabled": False} if explicit_hosts or "credentialName" in gateway else {"host": "argocd.example.com"})
    return {"gitops-platform:environment": "aws", **{f"gitops-platform:{k}": v for k, v in keys.items()}}


def release(chart: str, version: str, namespace: str, values: dict | None = None, *, v3: bool = False, name: str | None = None, **inputs) -> RecordedResource:
    """A Helm release resource as the program registers it."""
    kind = V3_RELEASE if v3 else V4_CHART
    name = name or chart
    return RecordedResource(
        urn=f"urn:pulumi:test::gitops-platform::{kind}::{name}", type=kind, name=name, custom=v3, id="", parent="",
        inputs={"chart": chart, "version": version, "namespace": namespace, "name": name, "values": values or {}, **inputs},
        outputs={}, dependencies=(), property_dependencies={}, provider="", protect=False, retain_on_delete=False,
        delete_before_replace=False, additional_secret_outputs=(), ignore_changes=(), remote=False,
    )


def render(*releases: RecordedResource) -> DeployedStack:
    """Everything `releases` deploy, rendered from the pinned charts."""
    return deployed_objects(Run("test", list(releases)), pinned_charts())


AWS_APPS = {"apps": {"enabled": True, "host": "app.example.com"}, "registry": {"services": ["backend", "frontend"]}}
"""What the aws stack file needs besides its own keys to run the sample apps."""


def stack_pack_config(stack: str) -> dict[str, Any]:
    """The pack config a stack is previewed with: `policies/config/<stack>.json`, or for `aws-apps` the one
    README tells aws users to write (their ECR host allowed beside the defaults)."""
    from render.checks.policies import allowed_registries
    from render.engine.harness import MOCK_ACCOUNT

    root = ROOT
    if stack == "aws-apps":
        region = stack_config("aws")[0]["gitops-platform:region"]
        ecr = f"{MOCK_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/"
        return {"kubernetes-container-allowed-registries": {"registries": [*allowed_registries({}), ecr]}}
    path = root / "policies" / "config" / f"{stack}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def stack_config(stack: str) -> tuple[dict[str, Any], list[str]]:
    """Engine config of a shipped stack; `aws-apps` is the aws stack with the sample apps on."""
    from render.engine.harness import read_stack_file

    root = ROOT
    config, secrets = read_stack_file(root / f"Pulumi.{stack.split('-')[0]}.yaml")
    if stack == "aws-apps":
        config.update({f"gitops-platform:{k}": v for k, v in AWS_APPS.items()})
    return config, secrets


KIND_COMMAND = "command:local:Command"
"""The resource that creates the kind cluster (`kind create cluster`)."""
REGISTRY_CONTAINER = "docker:index/container:Container"
"""The local registry's container."""


def one(run: Run, type_: str) -> RecordedResource:
    """The one resource of `type_` in `run` (fails if there are none or several)."""
    [resource] = run.of_type(type_)
    return resource


def installed_chart(run: Run, chart: str, component: str = "") -> RecordedResource:
    """The one `helm.v3.Release` or `helm.v4.Chart` of `chart` in `run` (under a `component` type, e.g. SecurityStack)."""
    [found] = [
        r for r in run.of_type("kubernetes:helm.sh/v3:Release") + run.of_type("kubernetes:helm.sh/v4:Chart")
        if r.inputs["chart"] == chart and f"{component}$" in r.urn
    ]
    return found


def of_kind(run: Run, kind: str) -> list[RecordedResource]:
    """Every resource of `run` whose type ends with `:kind`."""
    return [r for r in run.resources if r.type.endswith(f":{kind}")]



MERMAID_CHECK = ROOT / "tools" / "mermaid" / "check.mjs"


def mermaid_blocks(markdown: str) -> list[str]:
    """The text of every ```mermaid block of a Markdown document."""
    import re

    return re.findall(r"```mermaid\n(.*?)```", markdown, re.DOTALL)


def mermaid_errors(diagrams: dict[str, str]) -> list[str]:
    """Mermaid's own parser (tools/mermaid, under Node.js) on each diagram: the lines of those that fail.

    Fails the test, naming the fix, when the parser is not installed: `make test` installs it.
    """
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None or not (MERMAID_CHECK.parent / "node_modules" / "mermaid").is_dir():
        pytest.fail("Mermaid's parser is not installed: run `make test` (it runs `npm ci --prefix tools/mermaid`; Node.js 20+)")
    proc = subprocess.run([node, str(MERMAID_CHECK)], input=json.dumps(diagrams), capture_output=True, text=True, timeout=120)
    if proc.returncode not in (0, 1) or proc.stdout.count("\n") != len(diagrams):
        pytest.fail(f"the Mermaid check did not run: {proc.stderr[-2000:]}")
    return [line for line in proc.stdout.splitlines() if not line.startswith("ok ")]
