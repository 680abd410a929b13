"""render.cli: `python -m render` — the report and manifests say exactly what the program declares; exit codes, errors and the pack config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT
from render.engine.harness import redact


def render(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "render", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("render-local")
    return out, render("local", "--out", str(out))


def test_render_local_succeeds_with_a_summary(rendered):
    _, proc = rendered

    assert proc.returncode == 0, proc.stderr
    assert "stack local:" in proc.stdout
    assert "critical path:" in proc.stdout


def test_report_matches_what_the_program_declares(rendered, local_run):
    out, _ = rendered
    report = json.loads((out / "report.json").read_text())

    assert report["stack"] == "local"
    assert [r["urn"] for r in report["resources"]] == [r.urn for r in local_run.resources]
    by_urn = local_run.by_urn()
    for entry in report["resources"]:
        recorded = by_urn[entry["urn"]]
        assert entry["type"] == recorded.type
        assert entry["parent"] == recorded.parent
        assert entry["provider"] == recorded.provider
        assert entry["protect"] == recorded.protect
        assert entry["inputs"] == json.loads(json.dumps(redact(recorded.inputs)))
    charts = {r.urn for r in local_run.resources if r.type in ("kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Release")}
    assert {h["urn"] for h in report["helm_releases"]} == charts and charts
    assert set(report) == {
        "stack", "resources", "helm_releases", "critical_path", "policies", "schema", "admission", "deployability",
        "images", "footprint", "charts", "chart_sources", "api_versions", "ordering", "invariants", "consistency", "network", "paths", "scheduling", "configs",
        "findings", "ignored", "disabled",
    }


def test_report_never_contains_secret_values(rendered, local_run):
    out, _ = rendered
    text = (out / "report.json").read_text()
    [command] = local_run.of_type("command:local:Command")

    provider = next(r for r in json.loads(text)["resources"] if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    assert "client-key-data" not in text
    assert command.outputs["stdout"] not in text


def test_manifests_hold_every_object_the_stack_deploys(rendered, local_run):
    out, _ = rendered
    files = sorted((out / "manifests").glob("*.yaml"))
    objects = [yaml.load(f.read_text(), Loader=yaml.CSafeLoader) for f in files]  # libyaml: megabytes of CRDs

    declared = [r for r in local_run.resources if r.kubernetes_object]
    assert len(objects) - len(declared) > 300  # the charts' objects too
    assert {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects} >= {
        ("ConfigMap", "kube-public", "local-registry-hosting"),
        ("Namespace", None, "istio-system"),
        ("Namespace", None, "istio-ingress"),
        ("Namespace", None, "apps"),
        ("Certificate", "istio-ingress", "gateway-tls"),
        ("PeerAuthentication", "istio-system", "default"),
        ("Gateway", "istio-ingress", "main"),
        ("AuthorizationPolicy", "apps", "deny-all"),
        ("ConstraintTemplate", None, "k8sallowedrepos"),
        ("K8sAllowedRepos", None, "platform-allowedrepos"),
        ("NetworkPolicy", "apps", "default-deny"),
        ("ResourceQuota", "apps", "platform-quota"),
        ("LimitRange", "apps", "platform-defaults"),
        # from the charts: a v4 chart's Deployment, a v3 release's hook Job, a crds/ CRD
        ("Deployment", "istio-system", "istiod"),
        ("Job", "gatekeeper-system", "gatekeeper-update-namespace-label"),
        ("CustomResourceDefinition", None, "constrainttemplates.templates.gatekeeper.sh"),
    }
    # Chart-rendered objects get the release namespace, as the install gives them.
    assert all(o["metadata"].get("namespace") for o in objects if o["kind"] in ("Deployment", "Service", "ConfigMap", "ServiceAccount"))
    # No Secret's values reach the output, whoever renders it.
    assert all(set((o.get("data") or {}).values()) <= {"[secret]"} for o in objects if o["kind"] == "Secret")
    assert all(o["apiVersion"] and o["kind"] for o in objects)


def test_critical_path_in_report_starts_at_the_cluster(rendered):
    out, _ = rendered
    path = json.loads((out / "report.json").read_text())["critical_path"]

    names = [u.rsplit("::", 1)[-1] for u in path["urns"]]
    assert path["length"] == len(names) == 6
    assert names[:2] == ["platform-cluster-kind", "platform-cluster-k8s"]
    # Ties are broken by URN: cert-manager's chain (namespace -> chart -> readiness gate ->
    # what waits for it) is as long as Gatekeeper's (namespaces -> release -> template -> constraint).
    assert names[-3:] == ["platform-security-gatekeeper", "platform-security-template-allowedrepos", "platform-security-constraint-allowedrepos"] or (
        names[2:5] == ["platform-tls-ns", "platform-tls-cert-manager", "platform-tls-apicheck"]
    )


def test_config_error_exits_non_zero_naming_the_key(tmp_path):
    bad = tmp_path / "Pulumi.local.yaml"
    bad.write_text("config:\n  gitops-platform:environment: local\n  gitops-platform:cluster:\n    workerz: 1\n")

    proc = render("local", "--out", str(tmp_path / "out"), "--config-file", str(bad))

    assert proc.returncode == 2
    assert "gitops-platform:cluster.workerz: unknown key" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_missing_stack_file_is_a_clear_error(tmp_path):
    proc = render("nosuchstack", "--out", str(tmp_path / "out"))

    assert proc.returncode == 2
    assert "Pulumi.nosuchstack.yaml not found" in proc.stderr


def test_render_aws_succeeds_and_redacts_the_kubeconfig(tmp_path, monkeypatch, capsys):
    import render.cli as render_module

    monkeypatch.chdir(ROOT)  # in-process: `python -m render` itself is the local render's test
    # A previous render's output: an object this render no longer has, and one it writes again.
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "configmap-apps-gone.yaml").write_text("kind: ConfigMap\n")
    (tmp_path / "manifests" / "storageclass-cluster-gp3.yaml").write_text("old\n")

    assert render_module.main(["aws", "--out", str(tmp_path)]) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "report.json").read_text())
    provider = next(r for r in report["resources"] if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    names = [p.name for p in (tmp_path / "manifests").iterdir()]
    assert "storageclass-cluster-gp3.yaml" in names and "configmap-apps-gone.yaml" not in names
    assert (tmp_path / "manifests" / "storageclass-cluster-gp3.yaml").read_text().startswith("# source: ")


def test_render_exits_non_zero_on_a_schema_error(monkeypatch, tmp_path):
    import pulumi
    import pulumi_kubernetes as k8s

    import render.cli as render_module
    from program import main as platform_program

    real = render_module.run_program_recording

    def program():
        platform = platform_program()
        k8s.core.v1.ConfigMap("broken", metadata={"name": "broken"}, data={"a": "b"}, binary_data={"b": 1},
                              opts=pulumi.ResourceOptions(provider=platform.provider))

    monkeypatch.setattr(render_module, "run_program_recording", lambda stack, config, **kw: real(stack, config, program=program, **kw))
    monkeypatch.chdir(ROOT)

    assert render_module.main(["local", "--out", str(tmp_path)]) == 1
    schema = json.loads((tmp_path / "report.json").read_text())["schema"]
    assert [(e["kind"], e["path"]) for e in schema["errors"]] == [("v1/ConfigMap", "binaryData.b")]


def _render_with_extra(monkeypatch, tmp_path, extra, *args):
    import render.cli as render_module
    from program import main as platform_program

    real = render_module.run_program_recording

    def program():
        platform = platform_program()
        extra(platform)

    monkeypatch.setattr(render_module, "run_program_recording", lambda stack, config, **kw: real(stack, config, program=program, **kw))
    monkeypatch.chdir(ROOT)
    return render_module.main(["local", "--out", str(tmp_path), *args])


def _privileged_pod(platform):
    import pulumi
    import pulumi_kubernetes as k8s

    k8s.core.v1.Pod(
        "debug",
        metadata={"name": "debug", "namespace": "apps", "labels": {"app": "debug", "version": "1", "environment": "local"}},
        spec={"serviceAccountName": "debug", "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}, "containers": [{
            "name": "shell", "image": "localhost:5001/debug:1.0",
            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
            "securityContext": {"privileged": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }]},
        opts=pulumi.ResourceOptions(provider=platform.provider),
    )


def test_render_fails_on_a_mandatory_violation(monkeypatch, tmp_path):
    assert _render_with_extra(monkeypatch, tmp_path, _privileged_pod) == 1

    policies = json.loads((tmp_path / "report.json").read_text())["policies"]
    [violation] = policies["violations"]
    assert violation["policy"] == "kubernetes-container-no-privileged"
    assert violation["enforcement"] == "mandatory"
    assert violation["urn"].endswith("::debug")


def test_render_honours_the_policy_pack_config(monkeypatch, tmp_path):
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"kubernetes-container-no-privileged": "advisory"}))

    _render_with_extra(monkeypatch, tmp_path / "out", _privileged_pod, "--policy-config", str(config))
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    [violation] = data["policies"]["violations"]
    assert violation["enforcement"] == "advisory"
    # The pack's config does not change admission: Gatekeeper still refuses the pod.
    assert any(d["constraint"] == "K8sPSPPrivileged platform-privileged" for d in data["admission"]["gatekeeper"]["denied"])


def test_render_rejects_a_bad_policy_pack_config(tmp_path):
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"kubernetes-container-no-privilegd": "advisory"}))

    proc = render("local", "--out", str(tmp_path / "out"), "--policy-config", str(config))

    assert proc.returncode == 2
    assert "unknown policies ['kubernetes-container-no-privilegd']" in proc.stderr
    assert not (tmp_path / "out").exists(), "refused before the program runs"


@pytest.mark.parametrize(
    ("pack_config", "message"),
    [
        ({"all": "strict"}, "all: enforcement level 'strict' is not one of"),
        ({"kubernetes-container-limits": {"enforcementLevel": "mandatory", "cpu": 1}}, "kubernetes-container-limits: unknown config keys ['cpu']"),
        (["kubernetes-container-limits"], "a pack config is a JSON object"),
    ],
    ids=["level", "parameter", "not-an-object"],
)
def test_a_bad_level_parameter_or_shape_is_refused_before_the_program_runs(monkeypatch, capsys, tmp_path, pack_config, message):
    import render.cli as render_module

    config = tmp_path / "policy.json"
    config.write_text(json.dumps(pack_config))
    monkeypatch.setattr(render_module, "run_program_recording", lambda *a, **kw: pytest.fail("the program ran"))
    monkeypatch.chdir(ROOT)

    assert render_module.main(["local", "--out", str(tmp_path / "out"), "--policy-config", str(config), "--no-charts"]) == 2
    assert f"error: policy config {config}: {message}" in capsys.readouterr().err
