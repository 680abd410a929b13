"""verify.footprint: what runs is measured beside the render's estimate, and the estimate is the render's footprint."""

from __future__ import annotations

from fake_api import serving
from verify_fixtures import client_for, healthy


def test_the_footprint_sets_what_runs_beside_the_estimate(local_objects, expected, tmp_path):
    from verify.footprint import footprint_line, measure_footprint
    from verify.model import Expected

    cluster = healthy(local_objects, expected)
    cluster.pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "apps"}, "status": {"phase": "Running"},
                     "spec": {"containers": [{"name": "c", "image": "x:1", "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}}}]}}
                    for i in range(2)]
    cluster.pod_metrics = [{"metadata": {"name": "p0", "namespace": "apps"}, "containers": [{"name": "c", "usage": {"cpu": "12500000n", "memory": "64Mi"}}]}]
    with_estimate = Expected(estimate=(1580, 4024))

    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        report = measure_footprint(api, with_estimate)
        cluster.pod_metrics = None
        without_metrics = measure_footprint(api, with_estimate)

    assert report == {"scheduled": {"cpu_millicores": 500, "memory_mib": 256}, "estimate": {"cpu_millicores": 1580, "memory_mib": 4024},
                      "used": {"cpu_millicores": 12, "memory_mib": 64}}
    assert "500m CPU / 256 MiB requested by running pods (render's estimate 1580m / 4024 MiB); in use 12m / 64 MiB" in footprint_line(report)
    assert without_metrics["used"] is None and "HTTP 404" in footprint_line(without_metrics)


def test_the_estimate_is_the_renders_footprint(rendered):
    from verify.expected import expected_for

    _, data, _ = rendered("local")

    local = expected_for("local")

    assert local.estimate == (data["footprint"]["cpu_millicores"], data["footprint"]["memory_mib"])
    assert local.gateway.address == ("localhost", 8443) and local.gateway.sample == ("app.localtest.me", "/api/data")
