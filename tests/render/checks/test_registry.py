"""render.checks.registry: the render's checks as a registry: listed, run, reported with their remediation, set aside by
`--disable` or an object's ignore annotation (with its reason), and the exit code as a contract."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from helpers import ROOT
from render import cli
from render.checks import CHECKS, IGNORE_ANNOTATION, LAYERS, Check, Context, Finding, judge, registry, sarif
from render.report import resources_report, stack_context


def test_list_checks_names_every_check_with_its_remediation(capsys):
    assert cli.main(["--list-checks"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines()[1:-1])

    assert rows == {check.name: f"{check.description} -> {check.remediation}" for check in CHECKS}
    assert {c.layer for c in CHECKS} >= set(LAYERS) - {"footprint"}


def test_check_names_are_unique_and_qualified_by_their_layer():
    names = [c.name for c in CHECKS]

    assert len(names) == len(set(names))
    assert all(c.layer in {*LAYERS, "render"} for c in CHECKS)


def test_an_unknown_check_to_disable_is_refused(capsys):
    assert cli.main(["local", "--out", "unused", "--disable", "network.dnss"]) == 2
    assert "--disable names no check: network.dnss (see --list-checks)" in capsys.readouterr().err


@pytest.fixture(scope="module")
def local(rendered):
    run, data, deployed = rendered("local")
    from components.config import parse_config
    from helpers import pinned_charts, stack_config

    config, _ = stack_config("local")
    platform = parse_config({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("gitops-platform:")})
    context = stack_context(run, platform, deployed, pinned_charts(), resources_report(run)["helm_releases"])
    # The layers' sections as the session's render computed them: judging reads them, not recomputes them.
    sections = {name: data[name] for name in LAYERS}
    return run, deployed, context, sections


def _no_grafana_configmap(ctx: Context) -> list[Finding]:
    return [Finding("demo.grafana-configmap", d.ref, "a trivial check: this ConfigMap exists", "nothing to do", urn=d.source)
            for d in ctx.objects if d.kind == "ConfigMap" and d.name == "kps-grafana"]


DEMO = Check("demo.grafana-configmap", "a trivial check added by a test", "nothing to do", kinds=("ConfigMap",), run=_no_grafana_configmap)


def _annotated(objects: list[Any], reason: str) -> list[Any]:
    out = []
    for d in objects:
        if d.kind == "ConfigMap" and d.name == "kps-grafana" and d.namespace == "monitoring":
            metadata = {**d.obj["metadata"], "annotations": {**(d.obj["metadata"].get("annotations") or {}), f"{IGNORE_ANNOTATION}{DEMO.name}": reason}}
            d = dataclasses.replace(d, obj={**d.obj, "metadata": metadata})
        out.append(d)
    return out


def test_a_check_added_to_the_registry_is_run_reported_disabled_and_ignored(local, monkeypatch):
    run, deployed, context, sections = local
    monkeypatch.setattr(registry, "CHECKS", [*CHECKS, DEMO])

    [reported] = [f for f in judge(Context(deployed.objects, context, run, computed=sections)).findings if f.check == DEMO.name]
    assert reported.object == "ConfigMap monitoring/kps-grafana (release kps)" and reported.remediation == "nothing to do"
    assert reported.as_dict()["check"] == DEMO.name and reported.as_dict()["remediation"] == "nothing to do"

    disabled = judge(Context(deployed.objects, context, run, computed=sections), disable=[DEMO.name])
    assert [f["check"] for f in disabled.disabled] == [DEMO.name] and not [f for f in disabled.findings if f.check == DEMO.name]

    ignored = judge(Context(_annotated(deployed.objects, "dashboards are provisioned from it on purpose"), context, run, computed=sections))
    assert [(f["check"], f["reason"]) for f in ignored.ignored] == [(DEMO.name, "dashboards are provisioned from it on purpose")]
    assert not [f for f in ignored.findings if f.check == DEMO.name]

    unexplained = judge(Context(_annotated(deployed.objects, " "), context, run, computed=sections))
    assert [f.message for f in unexplained.findings if f.check == "render.ignore"] == [f"annotation {IGNORE_ANNOTATION}{DEMO.name} gives no reason"]
    assert unexplained.failed


def test_an_ignore_annotation_naming_no_check_is_an_error(local):
    run, deployed, context, sections = local

    judgement = judge(Context(_annotated(deployed.objects, "why not"), context, run, computed=sections))

    assert [f.message for f in judgement.findings if f.check == "render.ignore"] == [
        f"annotation {IGNORE_ANNOTATION}{DEMO.name} names no check {DEMO.name!r} (see --list-checks)"]


def test_the_stacks_report_no_findings_and_carry_them_as_fields(rendered):
    _, data, _ = rendered("local")

    assert data["findings"] == [] and data["ignored"] == [] and data["disabled"] == []


# --- the exit code, layer by layer -----------------------------------------------------------------------

_RECORD = {"object": "Deployment apps/api", "urn": "urn:api", "message": "planted"}
ERROR_SECTIONS: dict[str, dict[str, Any]] = {
    "policies": {"violations": [{"policy": "kubernetes-container-limits", "enforcement": "mandatory", **_RECORD}]},
    "schema": {"errors": [{**_RECORD, "path": "spec"}], "values_errors": []},
    "admission": {"gatekeeper": {"denied": [{**_RECORD, "constraint": "K8sPSPPrivileged x"}]}},
    "images": {"errors": [{"check": "lock", "image": "x:1", "used_by": ["Deployment apps/api"], "message": "planted"}]},
    **{layer: {"errors": [{**_RECORD, "check": check}]} for layer, check in (
        ("deployability", "references"), ("ordering", "crds"), ("invariants", "pods"), ("consistency", "services"),
        ("network", "dns"), ("paths", "entry"), ("scheduling", "placement"), ("configs", "promql"),
    )},
}
ADVISORY_SECTIONS: dict[str, dict[str, Any]] = {
    "policies": {"violations": [{"policy": "kubernetes-container-limits", "enforcement": "advisory", **_RECORD}]},
    "admission": {"gatekeeper": {"warnings": [{**_RECORD, "constraint": "K8sPSPPrivileged x", "action": "warn"}]}},
}
DISABLED_POLICY = {"policies": {"violations": [{"policy": "kubernetes-container-limits", "enforcement": "disabled", **_RECORD}]}}


def _exit(section: dict[str, Any], local: Any) -> tuple[bool, list[Finding]]:
    run, _, context, _ = local
    computed = {name: {} for name in LAYERS}
    computed.update(section)
    judgement = judge(Context([], context, run, computed=computed))
    return cli.failed({"findings": [f.as_dict() for f in judgement.findings]}), judgement.findings


@pytest.mark.parametrize("layer", sorted(ERROR_SECTIONS))
def test_one_error_in_any_layer_fails_the_render(layer, local):
    failed, findings = _exit({layer: ERROR_SECTIONS[layer]}, local)

    assert failed and len(findings) == 1 and findings[0].check.startswith(f"{layer}.") and findings[0].remediation


@pytest.mark.parametrize("section", [ADVISORY_SECTIONS["policies"], ADVISORY_SECTIONS["admission"], DISABLED_POLICY], ids=["advisory-policy", "gatekeeper-warn", "disabled-policy"])
def test_an_advisory_finding_does_not_fail_the_render(section, local):
    failed, findings = _exit(section, local)

    assert not failed
    assert all(f.severity == "warning" for f in findings)


def test_every_layer_with_errors_is_covered_by_the_exit_contract():
    assert set(ERROR_SECTIONS) == set(LAYERS) - {"footprint"}


def test_sarif_has_a_rule_per_check_and_a_located_result_per_finding():
    finding = Finding("deployability.references", "Deployment apps/api", "planted", "create it", urn="urn:api")
    document = sarif(registry.Judgement([finding], [], []), CHECKS, "Pulumi.local.yaml")

    [run] = document["runs"]
    assert document["version"] == "2.1.0"
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {c.name for c in CHECKS}
    [result] = run["results"]
    assert result["ruleId"] == "deployability.references" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.local.yaml"
    assert result["properties"]["remediation"] == "create it"


MODULE_LAYERS = {
    "deployability": "deployability", "references": "deployability", "consistency": "consistency", "invariants": "invariants",
    "scheduling": "scheduling", "paths": "paths", "component_configs": "configs", "ordering": "ordering",
    "network": "network", "images": "images", "api_rules": "invariants",
}


def test_every_check_name_the_layers_emit_is_registered():
    import re

    root = ROOT / "render"
    registered = {c.name for c in CHECKS}
    emitted = set()
    for module, layer in MODULE_LAYERS.items():
        text = (root / "checks" / f"{module}.py").read_text()
        names = re.findall(r'_finding\("([a-z-]+)"', text) + re.findall(r'"check": "([a-z-]+)"', text)
        if module == "network":
            # Each flow the network layer judges is reported under its own check; `mtls` flows
            # only probe the mesh for the verify suite (plaintext_probes), never a finding.
            names += [n for n in re.findall(r'Flow\("([a-z-]+)"', text) if n != "mtls"]
        emitted |= {f"{layer}.{name}" for name in names}

    assert emitted <= registered, sorted(emitted - registered)
    assert len(emitted) > 40
