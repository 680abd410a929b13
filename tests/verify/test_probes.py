"""verify.probes: the plaintext probe pod — refused by mTLS or it fails, always deleted, placed where the NetworkPolicies let it reach the sidecar."""

from __future__ import annotations

import dataclasses

from fake_api import serving
from verify.checks import (
    mesh_mtls,
)
from verify_fixtures import client_for, healthy


def test_plaintext_that_is_answered_or_lost_fails_and_the_probe_pod_is_always_deleted(local_objects, expected, tmp_path):
    cluster = healthy(local_objects, expected)
    cluster.plaintext = {"backend.apps.svc.cluster.local:80": (0, "200"), "frontend.apps.svc.cluster.local:80": (28, "000")}

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        leaky = mesh_mtls(api, expected)
        cluster.probe_phase = "Pending"
        stuck = mesh_mtls(api, dataclasses.replace(expected, probe_timeout=0))

    assert leaky.failures == [
        "apps/backend:80: answered HTTP 200 to a plaintext request from istio-ingress: mTLS is not STRICT for it",
        "apps/frontend:80: inconclusive, curl exit 28 (no answer within 5 s: something dropped the request before the sidecar (a NetworkPolicy?))",
    ]
    assert stuck.failures == ["the plaintext probe pod in istio-ingress did not run: ProbeFailed: still Pending after 0 s (ImagePullBackOff)"]
    assert cluster.created == {} and len(cluster.deleted) == 2 and all(key.startswith("istio-ingress/verify-mtls-") for key in cluster.deleted)


def test_the_probe_goes_where_the_network_policies_let_it_reach_the_sidecar(local_objects):
    from render.checks.network import plaintext_probes
    from verify.probes import PROBE_LABELS

    without_gateway_rule = [d for d in local_objects if not (d.kind == "NetworkPolicy" and d.namespace == "apps" and d.name == "allow-ingress-gateway")]
    without_apps = [d for d in local_objects if d.namespace != "apps" or d.kind not in ("Deployment", "Rollout")]

    # The backend admits only monitoring and its callers now; the exposed frontend still admits the gateway's namespace.
    assert plaintext_probes(without_gateway_rule, PROBE_LABELS) == {"istio-ingress": [("apps", "frontend", 80)], "monitoring": [("apps", "backend", 80)]}
    assert plaintext_probes(without_apps, PROBE_LABELS) == {}  # no pods behind the Services: nothing to probe
