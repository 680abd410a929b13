"""components.microservice: MicroserviceStack: secure defaults, every option, and every conflict rejected with key and fix."""

from __future__ import annotations

import re
import runpy

import pytest
from pydantic import ValidationError

from components import MicroserviceConfig, MicroserviceStack, PlatformWiring
from helpers import local, pinned_charts
from render.checks.policies import policy_report
from render.checks.schema import schema_report
from render.engine.harness import run_program
from render.report import manifest

BASE = {"name": "api", "image": "localhost:5001/api:1.4.0"}


def render(environment="local", zone_spread=False, **config):
    def program():
        MicroserviceStack("api", MicroserviceConfig(**{**BASE, **config}), PlatformWiring(environment=environment, zone_spread=zone_spread))

    return run_program("local", local(), program=program)


def one(run, suffix):
    [r] = [r for r in run.resources if r.type.endswith(suffix)]
    return r


def by_name(run, name):
    return run.named(name)


@pytest.fixture(scope="module")
def default():
    return render()


@pytest.fixture(scope="module")
def full():
    return render(
        exposure={"host": "api.localtest.me", "pathPrefix": "/api"},
        canary={"image": "localhost:5001/api:1.5.0", "weight": 20},
        allowed_callers=[{"namespace": "apps", "serviceAccount": "frontend"}],
        dependencies=[{"namespace": "apps", "app": "db", "port": 5432}],
        jwt={"issuer": "https://auth.example.com", "jwksUri": "https://auth.example.com/jwks", "audiences": ["shop"], "protectedPaths": ["/api/orders*"]},
        env={"LOG_LEVEL": "info", "DB_PASSWORD": {"secret": "api-db", "key": "password"}},
        vpa="initial",
    )


# --- secure defaults ---------------------------------------------------------------


def test_service_account_does_not_mount_a_token(default):
    sa = one(default, ":ServiceAccount")
    assert sa.inputs["automountServiceAccountToken"] is False


def test_deployment_is_locked_down(default):
    deployment = by_name(default, "api-stable")
    pod = deployment.inputs["spec"]["template"]["spec"]
    [container] = pod["containers"]

    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["securityContext"] == {
        "runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False, "privileged": False,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "api"
    assert deployment.inputs["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_labels_identify_app_version_and_environment(default):
    labels = by_name(default, "api-stable").inputs["metadata"]["labels"]

    assert {k: labels[k] for k in ("app", "version", "environment")} == {"app": "api", "version": "1.4.0", "environment": "local"}
    assert labels["app.kubernetes.io/name"] == "api" and labels["app.kubernetes.io/version"] == "1.4.0"


def test_topology_spread_over_hosts_and_zones_on_aws(default):
    spread = by_name(default, "api-stable").inputs["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [s["topologyKey"] for s in spread] == ["kubernetes.io/hostname"]
    aws_spread = by_name(render(zone_spread=True), "api-stable").inputs["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [s["topologyKey"] for s in aws_spread] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]


def test_default_is_hpa_with_the_design_behaviour_and_replicas_left_to_it(default):
    hpa = one(default, ":HorizontalPodAutoscaler")
    spec = hpa.inputs["spec"]

    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
    assert spec["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
    assert spec["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]}
    assert spec["behavior"]["scaleUp"]["policies"] == [{"type": "Percent", "value": 100, "periodSeconds": 15}, {"type": "Pods", "value": 4, "periodSeconds": 15}]
    assert by_name(default, "api-stable").ignore_changes == ("spec.replicas",)
    assert [r for r in default.resources if r.type.endswith(":ScaledObject")] == []


def test_pdb_keeps_all_but_one_pod(default):
    pdb = one(default, ":PodDisruptionBudget")
    assert pdb.inputs["spec"]["minAvailable"] == 1
    assert [r for r in render(autoscaling={"mode": "none"}, replicas=1).resources if r.type.endswith(":PodDisruptionBudget")] == []
    assert one(render(autoscaling={"mode": "none"}, replicas=4), ":PodDisruptionBudget").inputs["spec"]["minAvailable"] == 3


def test_not_exposed_and_not_callable_by_default(default):
    vs = one(default, ":VirtualService")
    assert vs.inputs["spec"]["gateways"] == ["mesh"]
    assert [r for r in default.resources if r.type.endswith(":AuthorizationPolicy")] == []  # the namespace's deny-all applies


def test_default_service_passes_every_policy_and_schema(default, full, rendered):
    # Its custom resources validate against the CRDs the platform (the local stack) installs.
    _, _, platform = rendered("local")
    crds = [(d.source, d.obj) for d in platform.objects if d.kind == "CustomResourceDefinition"]
    for run in (default, full):
        found = [v for v in policy_report(run)["violations"] if v["enforcement"] == "mandatory"]
        # Alone, its namespace has no default deny: SecurityStack adds it (tests/components/test_netpol.py).
        assert [v["policy"] for v in found] == ["kubernetes-namespace-default-deny"]
        report = schema_report([(r.urn, manifest(r)) for r in run.resources if r.kubernetes_object] + crds, [], pinned_charts())
        assert report["errors"] == [] and report["unvalidated"] == []


# --- options -----------------------------------------------------------------------


def test_canary_gets_its_own_deployment_and_weights_sum_to_100(full):
    canary = by_name(full, "api-canary")
    vs = one(full, ":VirtualService").inputs["spec"]
    header_route, primary = vs["http"]

    assert canary.inputs["spec"]["template"]["metadata"]["labels"]["version"] == "1.5.0"
    assert canary.inputs["metadata"]["name"] == "api-canary"
    assert header_route["match"][0]["headers"] == {"x-canary": {"exact": "true"}}
    assert header_route["route"][0]["destination"]["subset"] == "canary"
    weights = {r["destination"]["subset"]: r["weight"] for r in primary["route"]}
    assert weights == {"stable": 80, "canary": 20} and sum(weights.values()) == 100


@pytest.mark.parametrize("weight", [0, 1, 50, 99, 100])
def test_weights_always_sum_to_100(weight):
    run = render(canary={"image": "localhost:5001/api:2.0.0", "weight": weight})
    primary = one(run, ":VirtualService").inputs["spec"]["http"][-1]
    assert sum(r["weight"] for r in primary["route"]) == 100


def test_exposure_routes_from_the_gateway(full):
    vs = one(full, ":VirtualService").inputs["spec"]
    assert vs["hosts"] == ["api.apps.svc.cluster.local", "api.localtest.me"]
    assert vs["gateways"] == ["mesh", "istio-ingress/main"]
    assert vs["http"][-1]["match"] == [{"uri": {"prefix": "/api"}}]


def test_timeouts_and_retries():
    run = render(traffic={"timeoutSeconds": 5, "retries": {"attempts": 2, "perTryTimeoutSeconds": 1.5, "retryOn": "5xx"}})
    primary = one(run, ":VirtualService").inputs["spec"]["http"][-1]
    assert primary["timeout"] == "5s"
    assert primary["retries"] == {"attempts": 2, "perTryTimeout": "1.5s", "retryOn": "5xx"}


def test_destination_rule_has_subsets_pool_and_circuit_breaker(full):
    spec = one(full, ":DestinationRule").inputs["spec"]
    assert spec["subsets"] == [{"name": "stable", "labels": {"version": "1.4.0"}}, {"name": "canary", "labels": {"version": "1.5.0"}}]
    assert spec["trafficPolicy"]["outlierDetection"] == {"consecutive5xxErrors": 5, "interval": "30s", "baseEjectionTime": "30s", "maxEjectionPercent": 50}
    assert spec["trafficPolicy"]["connectionPool"]["tcp"] == {"maxConnections": 100}
    assert spec["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}


def test_authorization_allows_declared_callers_and_the_gateway_on_public_paths(full):
    [allow] = [r for r in full.resources if r.name == "api-allow"]
    callers, gateway = allow.inputs["spec"]["rules"]

    assert allow.inputs["spec"]["action"] == "ALLOW"
    assert callers == {"from": [{"source": {"principals": ["cluster.local/ns/apps/sa/frontend"]}}]}
    assert gateway["from"][0]["source"]["principals"] == ["cluster.local/ns/istio-ingress/sa/istio-ingressgateway"]
    assert gateway["to"] == [{"operation": {"paths": ["/api/*"]}}]


def test_jwt_is_validated_and_required_on_protected_paths(full):
    jwt = one(full, ":RequestAuthentication").inputs["spec"]
    [require] = [r for r in full.resources if r.name == "api-require-jwt"]

    assert jwt["jwtRules"] == [{"issuer": "https://auth.example.com", "jwksUri": "https://auth.example.com/jwks", "audiences": ["shop"]}]
    assert require.inputs["spec"]["action"] == "DENY"
    assert require.inputs["spec"]["rules"] == [{"from": [{"source": {"notRequestPrincipals": ["*"]}}], "to": [{"operation": {"paths": ["/api/orders*"]}}]}]


def test_network_policy_admits_gateway_callers_and_monitoring_and_egress_to_dependencies(full):
    spec = one(full, ":NetworkPolicy").inputs["spec"]
    sources = [s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for s in spec["ingress"][0]["from"]]

    assert sources == ["monitoring", "istio-ingress", "apps"]
    assert spec["egress"][1] == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}, "podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"protocol": "TCP", "port": 5432}]}


def test_env_takes_values_and_secret_references(full):
    [container] = by_name(full, "api-stable").inputs["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "api-db", "key": "password"}}},
        {"name": "LOG_LEVEL", "value": "info"},
    ]


def test_keda_replaces_the_hpa_with_a_prometheus_trigger_and_cpu_fallback():
    run = render(autoscaling={"mode": "keda", "keda": {"serverAddress": "http://prometheus.monitoring:9090"}, "customMetric": {"name": "rps", "targetAverage": "100", "query": 'sum(rate(istio_requests_total{destination_app="api"}[1m]))'}})
    scaled = one(run, ":ScaledObject").inputs["spec"]

    assert [r for r in run.resources if r.type.endswith(":HorizontalPodAutoscaler")] == []
    assert [t["type"] for t in scaled["triggers"]] == ["prometheus", "cpu"]
    assert scaled["triggers"][0]["metadata"]["threshold"] == "100"
    assert scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_hpa_custom_and_memory_metrics():
    run = render(autoscaling={"memoryPercent": 80, "customMetric": {"name": "requests_per_second", "targetAverage": "50"}})
    metrics = one(run, ":HorizontalPodAutoscaler").inputs["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["Resource", "Resource", "Pods"]


def test_vpa_modes(full):
    assert one(full, ":VerticalPodAutoscaler").inputs["spec"]["updatePolicy"] == {"updateMode": "Initial"}
    run = render(autoscaling={"mode": "none"}, vpa="auto")
    assert one(run, ":VerticalPodAutoscaler").inputs["spec"]["updatePolicy"] == {"updateMode": "Auto"}


def test_monitoring_scrapes_istio_merged_metrics_and_alerts(default):
    monitor = one(default, ":ServiceMonitor").inputs["spec"]
    rules = one(default, ":PrometheusRule").inputs["spec"]["groups"][0]["rules"]

    assert monitor["endpoints"] == [{"port": "http-monitoring", "path": "/stats/prometheus", "interval": "30s"}]
    assert [r["alert"] for r in rules] == ["ServiceHigh5xxRate", "ServiceHighP95Latency", "ServicePodRestarting"]
    assert "> 0.01" in rules[0]["expr"] and "> 1000" in rules[1]["expr"] and "[15m]) > 5" in rules[2]["expr"]
    for rule in rules:
        assert rule["labels"]["severity"] and {"summary", "description", "runbook_url"} <= set(rule["annotations"])


def test_endpoint_output():
    seen = {}

    def program():
        s = MicroserviceStack("api", MicroserviceConfig(**BASE, exposure={"host": "api.localtest.me", "pathPrefix": "/api"}))
        s.endpoint.apply(lambda v: seen.setdefault("exposed", v))
        i = MicroserviceStack("int", MicroserviceConfig(name="internal", image="localhost:5001/internal:1.0"))
        i.endpoint.apply(lambda v: seen.setdefault("internal", v))

    run_program("local", local(), program=program)
    assert seen == {"exposed": "https://api.localtest.me/api", "internal": "http://internal.apps.svc.cluster.local"}


# --- conflicts ---------------------------------------------------------------------

CONFLICTS = [
    ("hpa-and-keda", {"autoscaling": {"mode": "hpa", "keda": {"serverAddress": "http://p:9090"}}}, "autoscaling.keda", "never scale the same Deployment"),
    ("vpa-auto-with-hpa", {"vpa": "auto"}, "vpa", "fights an HPA"),
    ("min-above-max", {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "autoscaling.minReplicas", "at most maxReplicas"),
    ("weight-above-100", {"canary": {"image": "localhost:5001/api:2.0", "weight": 101}}, "canary.weight", "less than or equal to 100"),
    ("latest-tag", {"image": "localhost:5001/api:latest"}, "image", "`latest` is rejected"),
    ("untagged", {"image": "localhost:5001/api"}, "image", "untagged images are rejected"),
    ("canary-latest", {"canary": {"image": "localhost:5001/api:latest"}}, "canary.image", "`latest` is rejected"),
    ("bad-dns-name", {"name": "My_Api"}, "name", "DNS-1123"),
    ("jwt-without-issuer", {"jwt": {"jwksUri": "https://a/jwks"}}, "jwt.issuer", "required key is missing"),
    ("jwks-not-https", {"jwt": {"issuer": "i", "jwksUri": "http://a/jwks"}}, "jwt.jwksUri", "https://"),
    ("keda-without-server", {"autoscaling": {"mode": "keda"}}, "autoscaling.keda.serverAddress", "required with mode keda"),
    ("canary-same-version", {"canary": {"image": "localhost:5001/api:1.4.0"}}, "canary.version", "must differ from the stable version"),
    ("digest-without-version", {"image": "localhost:5001/api@sha256:" + "a" * 64}, "version", "required when the image is pinned by digest"),
    ("privileged-port", {"port": 80}, "port", "greater than or equal to 1024"),
    ("public-paths-without-exposure", {"publicPaths": ["/x"]}, "publicPaths", "only used with exposure"),
    ("per-try-above-timeout", {"traffic": {"timeoutSeconds": 1, "retries": {"perTryTimeoutSeconds": 2}}}, "traffic.retries.perTryTimeoutSeconds", "must not exceed timeoutSeconds"),
    ("bad-env-name", {"env": {"my-var": "x"}}, "env", "not environment variable names"),
]


@pytest.mark.parametrize(("overrides", "path", "text"), [c[1:] for c in CONFLICTS], ids=[c[0] for c in CONFLICTS])
def test_conflicts_are_rejected_naming_the_key(overrides, path, text):
    from components.config import config_problems

    with pytest.raises(ValidationError) as caught:
        MicroserviceConfig.model_validate({**BASE, **overrides})

    problems = {p.path.removeprefix("gitops-platform:"): p.message for p in config_problems(caught.value, MicroserviceConfig)}
    assert path in problems, problems
    assert text in problems[path]


def test_image_outside_the_allowed_registries_is_rejected_before_any_resource():
    def program():
        MicroserviceStack("api", MicroserviceConfig(name="api", image="docker.io/library/nginx:1.27"), PlatformWiring(allowed_registries=["localhost:5001/"]))

    with pytest.raises(ValueError, match=re.escape("image docker.io/library/nginx:1.27 is not from an allowed registry")):
        run_program("local", local(), program=program)


def test_another_teams_program_uses_the_component(root, monkeypatch):
    example = root / "examples" / "team-app"
    monkeypatch.syspath_prepend(str(example))  # as `pulumi up` runs it: from its own folder

    run = run_program("dev", {"team-shop:image": "localhost:5001/shop:1.2.0", "team-shop:host": "shop.localtest.me"}, program=lambda: runpy.run_path(str(example / "__main__.py")), project="team-shop")

    [deployment] = [r for r in run.resources if r.name == "shop-stable"]
    [provider] = run.of_type("pulumi:providers:kubernetes")
    assert deployment.provider == provider.urn
    assert deployment.inputs["metadata"]["labels"]["environment"] == "dev"
    assert one(run, ":VirtualService").inputs["spec"]["hosts"][-1] == "shop.localtest.me"


# --- egress by declaration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("egress", "key"),
    [
        ({"host": "https://api.example.com"}, "egress.0.host"),
        ({"host": "api.example.com:443"}, "egress.0.host"),
        ({"host": "10.0.0.1"}, "egress.0.host"),
        ({"host": "*"}, "egress.0.host"),
        ({"host": "API.example.com"}, "egress.0.host"),
        ({"host": "api.example.com", "port": 0}, "egress.0.port"),
        ({"host": "api.example.com", "port": 70000}, "egress.0.port"),
        ({"host": "api.example.com", "protocol": "UDP"}, "egress.0.protocol"),
    ],
)
def test_bad_egress_is_rejected_naming_the_key(egress, key):
    with pytest.raises(ValidationError) as error:
        MicroserviceConfig(**BASE, egress=[egress])

    assert key in {".".join(str(p) for p in e["loc"]) for e in error.value.errors()}


def test_the_same_host_and_port_twice_is_rejected():
    with pytest.raises(ValidationError, match=re.escape("api.example.com:443 declared more than once")):
        MicroserviceConfig(**BASE, egress=[{"host": "api.example.com"}, {"host": "api.example.com", "protocol": "TLS"}])


def test_declared_egress_becomes_a_service_entry_and_network_policy_egress():
    run = render(egress=[{"host": "api.stripe.com"}, {"host": "*.githubusercontent.com"}, {"host": "feeds.example.org", "port": 8080, "protocol": "HTTP"}])
    entries = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in run.resources if r.type.endswith(":ServiceEntry")}
    netpol = one(run, ":NetworkPolicy").inputs["spec"]

    assert entries["api-egress-api-stripe-com-443"] == {
        "hosts": ["api.stripe.com"], "ports": [{"number": 443, "name": "https-443", "protocol": "HTTPS"}],
        "location": "MESH_EXTERNAL", "resolution": "DNS", "exportTo": ["."],
    }
    assert entries["api-egress-wildcard-githubusercontent-com-443"]["resolution"] == "NONE"
    assert {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}, {"port": 8080, "protocol": "TCP"}]} in netpol["egress"]
    assert not [r for r in run.resources if r.type.endswith(":Gateway")]


def test_without_egress_nothing_outside_the_cluster_is_open(default):
    egress = one(default, ":NetworkPolicy").inputs["spec"]["egress"]

    assert not any("ipBlock" in peer for rule in egress for peer in rule.get("to", []))
    assert not [r for r in default.resources if r.type.endswith(":ServiceEntry")]


def test_with_an_egress_gateway_declared_hosts_go_through_it():
    def program():
        config = MicroserviceConfig(**BASE, egress=[{"host": "api.stripe.com"}, {"host": "feeds.example.org", "port": 8080, "protocol": "HTTP"}])
        MicroserviceStack("api", config, PlatformWiring(egress_gateway="istio-egress"))

    run = run_program("local", local(), program=program)
    [gateway] = [r for r in run.resources if r.type.endswith(":Gateway")]
    [route] = [r for r in run.resources if r.type.endswith(":VirtualService") and r.inputs["metadata"]["name"].startswith("api-egress")]
    entry = next(r for r in run.resources if r.type.endswith(":ServiceEntry") and "stripe" in r.inputs["metadata"]["name"])
    egress = one(run, ":NetworkPolicy").inputs["spec"]["egress"]

    assert gateway.inputs["spec"] == {
        "selector": {"istio": "egressgateway"},
        "servers": [{"port": {"number": 443, "name": "https-443", "protocol": "TLS"}, "hosts": ["api.stripe.com"], "tls": {"mode": "PASSTHROUGH"}}],
    }
    sidecar_leg, gateway_leg = route.inputs["spec"]["tls"]
    assert sidecar_leg["route"][0]["destination"]["host"] == "istio-egressgateway.istio-egress.svc.cluster.local"
    assert gateway_leg["route"][0]["destination"] == {"host": "api.stripe.com", "port": {"number": 443}}
    assert route.inputs["spec"]["exportTo"] == [".", "istio-egress"]  # the gateway must see the route
    assert entry.inputs["spec"]["exportTo"] == [".", "istio-egress"]
    # 443 goes to the gateway's pods only; 8080 (not a gateway listener) goes direct.
    assert {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-egress"}},
                    "podSelector": {"matchLabels": {"istio": "egressgateway"}}}], "ports": [{"port": 443, "protocol": "TCP"}]} in egress
    assert {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 8080, "protocol": "TCP"}]} in egress
