"""components.apps: sample apps on the platform: built from source, pushed, deployed by digest through MicroserviceStack."""

from __future__ import annotations

import pytest

from components.apps import APPS_DIR, source_hash
from components.config import ConfigError
from helpers import aws, local
from render.engine.harness import run_program, run_program_recording

IMAGE = "docker:index/image:Image"


def images(run):
    return {r.name.split("-")[-2]: r for r in run.of_type(IMAGE)}


def deployment(run, name):
    """The workload of `name`: a Deployment, or the Rollout of a canary-delivered service."""
    kinds = ("kubernetes:apps/v1:Deployment", "kubernetes:argoproj.io/v1alpha1:Rollout")
    [d] = [r for r in run.resources if r.type in kinds and r.inputs["metadata"]["name"] == name]
    return d


def test_images_are_built_from_source_tagged_by_content_and_not_on_preview(local_defaults):
    built = images(local_defaults)

    assert set(built) == {"backend", "frontend"}
    for app, image in built.items():
        assert image.inputs["imageName"] == f"localhost:5001/{app}:{source_hash(APPS_DIR / app)}"
        assert image.inputs["build"]["context"] == f"apps/{app}"
        assert image.inputs["buildOnPreview"] is False
        assert image.inputs["skipPush"] is False
        assert ":latest" not in image.inputs["imageName"]


def test_deployed_references_are_the_pushed_digests(local_defaults):
    built = images(local_defaults)

    for name, app in (("backend", "backend"), ("frontend", "frontend")):
        [container] = deployment(local_defaults, name).inputs["spec"]["template"]["spec"]["containers"]
        assert container["image"] == built[app].outputs["repoDigest"]
        assert "@sha256:" in container["image"]


def test_backend_is_an_analysed_canary_rollout_autoscaled_and_not_exposed(local_defaults):
    [vs] = [r for r in local_defaults.resources if r.type.endswith(":VirtualService") and r.inputs["metadata"]["name"] == "backend"]
    rollout = deployment(local_defaults, "backend")
    [controller] = [r for r in local_defaults.resources if r.type == "gitops-platform:index:RolloutsController"]
    [hpa] = [r for r in local_defaults.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler") if r.inputs["metadata"]["name"] == "backend"]
    weights = {r["destination"]["subset"]: r["weight"] for r in vs.inputs["spec"]["http"][-1]["route"]}

    assert rollout.type == "kubernetes:argoproj.io/v1alpha1:Rollout"
    assert rollout.inputs["spec"]["strategy"]["canary"]["analysis"]["templates"] == [{"templateName": "backend-canary-analysis"}]
    assert weights == {"stable": 100, "canary": 0}  # the controller moves them during a rollout
    assert vs.inputs["spec"]["gateways"] == ["mesh"]
    assert hpa.inputs["spec"]["scaleTargetRef"]["kind"] == "Rollout"
    assert controller.urn in {r.parent for r in local_defaults.resources if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs["chart"] == "argo-rollouts"}


def test_a_rolling_backend_needs_no_rollouts_controller():
    run = run_program("local", local(apps={"delivery": {"strategy": "rolling"}}))

    assert deployment(run, "backend").type == "kubernetes:apps/v1:Deployment"
    assert not [r for r in run.resources if r.type == "gitops-platform:index:RolloutsController"]


def test_frontend_is_exposed_and_calls_the_backend_in_the_mesh(local_defaults):
    [vs] = [r for r in local_defaults.resources if r.type.endswith(":VirtualService") and r.inputs["metadata"]["name"] == "frontend"]
    [container] = deployment(local_defaults, "frontend").inputs["spec"]["template"]["spec"]["containers"]
    [allow] = [r for r in local_defaults.resources if r.type.endswith(":AuthorizationPolicy") and r.inputs["metadata"]["name"] == "backend-allow"]

    assert vs.inputs["spec"]["hosts"][-1] == "app.localtest.me"
    assert {"name": "BACKEND_URL", "value": "http://backend.apps.svc.cluster.local"} in container["env"]
    assert allow.inputs["spec"]["rules"] == [{"from": [{"source": {"principals": ["cluster.local/ns/apps/sa/frontend"]}}]}]


def test_services_wait_for_the_mesh_the_crds_and_their_namespace(local_defaults):
    by_name = {r.name: r for r in local_defaults.resources}
    needed = {by_name["platform-mesh-istiod"].urn, by_name["platform-mesh-ns-apps"].urn, by_name["platform-observability-prometheus-crds"].urn}

    for resource in local_defaults.resources:
        if "MicroserviceStack$" in resource.urn and resource.custom:
            assert needed <= set(resource.dependencies), resource.name


def test_backend_gets_version_and_cluster(local_defaults):
    [container] = deployment(local_defaults, "backend").inputs["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}

    assert env == {"CLUSTER": "local", "VERSION": source_hash(APPS_DIR / "backend"), "SIGNING_KEY": None}
    # The signing key comes from Vault, through the Secret the CSI driver syncs.
    signing = next(e for e in container["env"] if e["name"] == "SIGNING_KEY")
    assert signing["valueFrom"] == {"secretKeyRef": {"name": "backend-vault", "key": "SIGNING_KEY"}}


def test_source_hash_follows_the_build_context_only(tmp_path):
    (tmp_path / "app.py").write_text("print(1)")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("x")
    before = source_hash(tmp_path)
    (tmp_path / "tests" / "test_x.py").write_text("y")
    assert source_hash(tmp_path) == before
    (tmp_path / "app.py").write_text("print(2)")
    assert source_hash(tmp_path) != before


def test_aws_apps_are_opt_in_and_push_to_ecr_with_a_token(aws_defaults):
    assert images(aws_defaults) == {}
    built = aws_run_images(aws(apps={"enabled": True, "host": "app.example.com"}))

    assert set(built) == {"backend", "frontend"}
    for app, image in built.items():
        assert image.inputs["imageName"].startswith(f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/gitops-platform/{app}:")
        assert "registry" in image.inputs


def aws_run_images(config):
    return images(run_program("aws", config))


def test_chaos_experiment_is_off_by_default_and_configurable(local_defaults):
    assert [r for r in local_defaults.resources if r.type.endswith(":ChaosEngine")] == []
    run = run_program("local", local(apps={"chaos": {"enabled": True, "podsAffectedPercent": 50, "durationSeconds": 30, "intervalSeconds": 10}}))
    [engine] = [r for r in run.resources if r.type.endswith(":ChaosEngine")]
    env = {e["name"]: e["value"] for e in engine.inputs["spec"]["experiments"][0]["spec"]["components"]["env"]}

    assert engine.inputs["spec"]["appinfo"] == {"appns": "apps", "applabel": "app=backend", "appkind": "rollout"}
    assert env == {"TOTAL_CHAOS_DURATION": "30", "CHAOS_INTERVAL": "10", "PODS_AFFECTED_PERC": "50", "FORCE": "false"}


BAD = [
    ("apps-without-mesh", local(mesh={"enabled": False}), "apps.enabled", "run in the mesh"),
    ("namespace-not-in-mesh", local(apps={"namespace": "shop"}), "apps.namespace", "one of mesh.namespaces"),
    ("aws-without-host", aws(apps={"enabled": True}), "apps.host", "required when the apps are enabled"),
    ("bad-host", local(apps={"host": "http://app"}), "apps.host", "host name"),
    ("chaos-interval-above-duration", local(apps={"chaos": {"durationSeconds": 10, "intervalSeconds": 20}}), "apps.chaos.intervalSeconds", "must not exceed durationSeconds"),
    ("weight-above-100", local(apps={"delivery": {"strategy": "canary", "steps": [{"weight": 150}]}}), "apps.delivery.steps[0].weight", "less than or equal to 100"),
    ("old-canary-weight", local(apps={"canaryWeight": 10}), "apps.canaryWeight", "unknown key"),
    ("canary-without-prometheus", local(observability={"enabled": False}), "apps.delivery.strategy", "queries the platform's Prometheus"),
    ("canary-without-controller", local(rollouts={"enabled": False}), "rollouts.enabled", "needs the Argo Rollouts controller"),
    ("ecr-without-app-repositories", local(region="eu-west-1", registry={"mode": "ecr", "ecr": {"services": ["api"]}}), "registry.ecr.services", "need ECR repositories"),
]


@pytest.mark.parametrize(("config", "path", "text"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_apps_config(config, path, text):
    run, error = run_program_recording(config["gitops-platform:environment"], config)

    assert isinstance(error, ConfigError) and run.resources == []
    [problem] = [p for p in error.problems if p.path == f"gitops-platform:{path}"]
    assert text in problem.message
