"""verify.expected: what the render says to look for — workloads, CRDs, webhooks, where to probe — from the render or from the stack's state."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import pytest

from render.engine.charts import ChartsUnavailable
from verify.expected import expected_from
from verify_fixtures import state_export


def test_the_render_says_what_to_look_for(expected):
    assert ("Deployment", "istio-system", "istiod") in expected.workloads
    assert ("DaemonSet", "kube-system", "istio-cni-node") in expected.workloads
    assert "secretproviderclasses.secrets-store.csi.x-k8s.io" in expected.crds
    assert ("ValidatingWebhookConfiguration", "gatekeeper-validating-webhook-configuration") in expected.webhooks


def test_the_render_says_where_to_probe_the_mesh_the_gateway_and_falco(expected):
    # istio-ingress is the first namespace without injection whose NetworkPolicies let a pod
    # reach the apps' pods: only their sidecars can refuse the plaintext call there.
    assert expected.plaintext_probes == {"istio-ingress": [("apps", "backend", 80), ("apps", "frontend", 80)]}
    assert (expected.gateway.namespace, expected.gateway.service) == ("istio-ingress", "istio-ingressgateway")
    assert expected.gateway.hosts == ["app.localtest.me", "argocd.localtest.me"] and expected.gateway.sample == ("app.localtest.me", "/api/data")
    assert expected.falco.rules_files == ["falco_rules.yaml", "platform-rules.yaml"] and expected.falco.port == 8765


def test_without_the_pinned_charts_the_stacks_state_says_the_same(local_objects, expected, monkeypatch, tmp_path):
    from verify.expected import expected_for, objects_from_state

    from_state = expected_from(objects_from_state(state_export(local_objects)), sample_host="app.localtest.me")

    # Everything but Vault's listener: its config is a v3 Release's, whose objects the state knows by name only; the check then tries TLS first.
    assert from_state == dataclasses.replace(expected, vault=("vault", "vault", 8200, None))
    assert ("StatefulSet", "vault", "vault") in from_state.workloads
    # expected_for falls back to the state through the Pulumi CLI, and says what it tried when that fails.
    def no_charts():
        raise ChartsUnavailable("none of the pinned charts are in the chart cache")

    monkeypatch.setattr("render.engine.charts.available", no_charts)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"needs the pinned charts \(`make charts`\), or from its state: `pulumi stack export -s local` failed \(the Pulumi CLI is not installed\)"):
        expected_for("local")
    (tmp_path / "export.json").write_text(json.dumps(state_export(local_objects)))
    cat = shutil.which("cat", path=os.defpath)
    pulumi = tmp_path / "pulumi"
    pulumi.write_text(f'#!/bin/sh\n[ "$1 $2 $4" = "stack export local" ] && exec {cat} {tmp_path / "export.json"}\nexit 1\n')
    pulumi.chmod(0o755)
    through_cli = expected_for("local")
    assert dataclasses.replace(through_cli, estimate=None, gateway=dataclasses.replace(through_cli.gateway, address=None)) == from_state
    assert through_cli.gateway.address == ("localhost", 8443) and through_cli.estimate is not None
