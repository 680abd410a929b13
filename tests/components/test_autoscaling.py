"""components.autoscaling: AutoscalingStack: metrics-server, KEDA, VPA everywhere; the cluster autoscaler on aws only."""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError
from helpers import aws, local, pinned
from render.engine.harness import run_program, run_program_recording


def chart(run, name):
    found = [r for r in run.of_type("kubernetes:helm.sh/v4:Chart") + run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == name]
    return found[0] if found else None


def test_metrics_server_is_its_pinned_chart_and_skips_kubelet_tls_only_on_kind(local_defaults, aws_defaults):
    local_ms, aws_ms = chart(local_defaults, "metrics-server"), chart(aws_defaults, "metrics-server")

    assert (local_ms.inputs["version"], local_ms.inputs["namespace"]) == (pinned("metrics-server"), "kube-system")
    assert local_ms.inputs["repositoryOpts"] == {"repo": "https://kubernetes-sigs.github.io/metrics-server/"}
    assert local_ms.inputs["values"]["image"] == {"tag": "v0.8.1"}
    assert local_ms.inputs["values"]["args"] == ["--kubelet-insecure-tls"]
    assert "args" not in aws_ms.inputs["values"]
    assert run_of_type_names(local_defaults, "kubernetes:apps/v1:Deployment", "metrics-server") == []  # no hand-written manifests


def test_metrics_api_is_verified_with_the_platform_ca(local_defaults):
    values = chart(local_defaults, "metrics-server").inputs["values"]

    assert values["tls"] == {"type": "cert-manager", "certManager": {"existingIssuer": {"enabled": True, "kind": "ClusterIssuer", "name": "platform-ca"}}}
    assert values["apiService"] == {"insecureSkipTLSVerify": False}


def run_of_type_names(run, type_, suffix):
    return [r for r in run.of_type(type_) if r.name.endswith(suffix)]


def test_keda_and_vpa_are_pinned_charts_with_profile_resources(local_defaults, aws_defaults):
    keda, vpa = chart(local_defaults, "keda"), chart(local_defaults, "vertical-pod-autoscaler")

    assert (keda.inputs["version"], keda.inputs["namespace"]) == (pinned("keda"), "keda")
    assert keda.inputs["values"]["resources"]["operator"]["requests"] == {"cpu": "20m", "memory": "64Mi"}
    assert vpa.inputs["version"] == pinned("vertical-pod-autoscaler")
    assert vpa.inputs["values"]["recommender"]["replicas"] == 1
    assert chart(aws_defaults, "vertical-pod-autoscaler").inputs["values"]["updater"]["replicas"] == 2


def test_cluster_autoscaler_only_on_aws(local_defaults, aws_defaults):
    assert chart(local_defaults, "cluster-autoscaler") is None
    ca = chart(aws_defaults, "cluster-autoscaler")
    values = ca.inputs["values"]

    assert ca.inputs["version"] == pinned("cluster-autoscaler") and ca.inputs["namespace"] == "kube-system"
    assert values["autoDiscovery"] == {"clusterName": "gitops-platform"}
    assert values["awsRegion"] == "eu-west-1"
    assert values["extraArgs"] == {
        "scale-down-delay-after-add": "10m",
        "scale-down-unneeded-time": "10m",
        "scale-down-utilization-threshold": "0.5",
        "expander": "least-waste",
        "balance-similar-node-groups": "true",
        "skip-nodes-with-system-pods": "false",
    }


def test_cluster_autoscaler_role_is_irsa_and_scoped_by_tags(aws_defaults):
    [role] = [r for r in aws_defaults.of_type("aws:iam/role:Role") if r.name == "platform-cluster-cluster-autoscaler-irsa"]
    [policy] = [r for r in aws_defaults.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "platform-cluster-cluster-autoscaler-irsa"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    scale, describe = json.loads(policy.inputs["policy"])["Statement"]

    assert next(iter(trust["Condition"]["StringEquals"].values())) == "system:serviceaccount:kube-system:cluster-autoscaler"
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/gitops-platform": "owned"}}
    assert set(scale["Action"]) == {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in describe["Action"])
    sa = chart(aws_defaults, "cluster-autoscaler").inputs["values"]["rbac"]["serviceAccount"]
    assert sa["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]


def test_scale_down_settings_are_configurable():
    run = run_program("aws", aws(autoscaling={"clusterAutoscaler": {"scaleDownUnneededMinutes": 20, "expander": "most-pods"}}))
    args = chart(run, "cluster-autoscaler").inputs["values"]["extraArgs"]

    assert args["scale-down-unneeded-time"] == "20m" and args["expander"] == "most-pods"


def test_parts_can_be_switched_off():
    run = run_program("local", local(autoscaling={"enabled": False}))

    assert [r for r in run.resources if "AutoscalingStack" in r.urn] == []


@pytest.mark.parametrize(("config", "path", "text"), [
    (aws(autoscaling={"clusterAutoscaler": {"scaleDownUtilizationThreshold": 1.5}}), "autoscaling.clusterAutoscaler.scaleDownUtilizationThreshold", "less than 1"),
    (aws(autoscaling={"clusterAutoscaler": {"expander": "cheapest"}}), "autoscaling.clusterAutoscaler.expander", "'least-waste'"),
    (local(autoscaling={"vpa": {"replicas": 0}}), "autoscaling.vpa.replicas", "greater than or equal to 1"),
    (local(autoscaling={"keda": {"enable": True}}), "autoscaling.keda.enable", "unknown key"),
])
def test_bad_autoscaling_config(config, path, text):
    run, error = run_program_recording(config["gitops-platform:environment"], config)

    assert isinstance(error, ConfigError) and run.resources == []
    [problem] = [p for p in error.problems if p.path == f"gitops-platform:{path}"]
    assert text in problem.message


def test_vpa_webhook_certificate_comes_from_cert_manager_so_it_is_a_v4_chart(local_defaults):
    # No certgen hooks to run: the admission controller's certificate is issued by the
    # platform CA and cert-manager injects the webhook's CA.
    [vpa] = [r for r in local_defaults.of_type("kubernetes:helm.sh/v4:Chart") if r.inputs["chart"] == "vertical-pod-autoscaler"]
    [gate] = [r for r in local_defaults.of_type("kubernetes:batch/v1:Job") if r.name == "platform-tls-apicheck"]
    admission = vpa.inputs["values"]["admissionController"]

    assert admission["certGen"] == {"enabled": False}
    assert admission["certManager"]["enabled"] is True
    assert admission["certManager"]["issuerRef"] == {"name": "platform-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert gate.urn in vpa.dependencies
    assert not [r for r in local_defaults.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "vertical-pod-autoscaler"]


def test_vpa_without_cert_manager_is_a_release_so_its_certificate_hooks_run():
    # Without cert-manager the TLS Secret and the webhook's caBundle come from certgen hook
    # Jobs, which a helm.v4.Chart would drop.
    run = run_program("local", local(tls={"enabled": False}))
    [vpa] = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "vertical-pod-autoscaler"]

    assert vpa.inputs["values"]["admissionController"]["certGen"]["resources"]["requests"] == {"cpu": "10m", "memory": "32Mi"}
