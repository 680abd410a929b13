"""components.mesh: MeshStack: Istio installed per profile, STRICT mTLS, TLS gateway, tracing, ordering."""

from __future__ import annotations

import pytest

from components.config import ConfigError
from components.mesh import MeshConfig, MeshStack
from helpers import aws, local, pinned
from render.engine.harness import Secret, run_program, run_program_recording

CHART = "kubernetes:helm.sh/v4:Chart"
NS = "gitops-platform"


def mesh_charts(run):
    return [r for r in run.of_type(CHART) if "gitops-platform:index:MeshStack$" in r.urn]


def charts(run):
    return {r.inputs["chart"]: r for r in mesh_charts(run)}


def custom(run, kind):
    return [r for r in run.resources if r.type.endswith(f":{kind}")]


def test_istio_charts_are_pinned_from_the_official_repository(local_defaults):
    installed = charts(local_defaults)

    assert set(installed) == {"base", "istiod", "gateway", "cni"}
    for chart in installed.values():
        assert chart.inputs["version"] == pinned(chart.inputs["chart"])
        assert chart.inputs["repositoryOpts"] == {"repo": "https://istio-release.storage.googleapis.com/charts"}
    assert installed["base"].inputs["namespace"] == "istio-system"
    assert installed["istiod"].inputs["namespace"] == "istio-system"
    assert installed["gateway"].inputs["namespace"] == "istio-ingress"
    assert (installed["base"].inputs["name"], installed["istiod"].inputs["name"], installed["gateway"].inputs["name"]) == (
        "istio-base", "istiod", "istio-ingressgateway",
    )


def test_istio_images_come_from_a_fixed_hub_and_tag(local_defaults):
    values = charts(local_defaults)["istiod"].inputs["values"]

    assert values["global"]["hub"] == "docker.io/istio"
    assert values["global"]["tag"] == pinned("istiod")


def test_local_profile_runs_single_small_replicas(local_defaults):
    istiod = charts(local_defaults)["istiod"].inputs["values"]
    gateway = charts(local_defaults)["gateway"].inputs["values"]

    assert (istiod["replicaCount"], istiod["autoscaleEnabled"]) == (1, False)
    assert istiod["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert istiod["global"]["defaultPodDisruptionBudget"] == {"enabled": False}
    assert gateway["replicaCount"] == 1 and gateway["autoscaling"]["enabled"] is False
    assert gateway["resources"]["requests"] == {"cpu": "50m", "memory": "64Mi"}
    assert "podDisruptionBudget" not in gateway


def test_local_gateway_is_a_nodeport_on_the_kind_port_mapping(local_defaults):
    service = charts(local_defaults)["gateway"].inputs["values"]["service"]

    assert service["type"] == "NodePort"
    node_ports = {p["name"]: p.get("nodePort") for p in service["ports"]}
    assert node_ports == {"status-port": None, "http2": 30080, "https": 30443}


def test_kind_node_ports_follow_the_cluster_ingress_config():
    run = run_program("local", local(cluster={"ingress": {"httpNodePort": 31080, "httpsNodePort": 31443}}))
    ports = {p["name"]: p.get("nodePort") for p in charts(run)["gateway"].inputs["values"]["service"]["ports"]}

    assert (ports["http2"], ports["https"]) == (31080, 31443)


def test_aws_profile_autoscales_with_pdbs_behind_an_internet_facing_nlb(aws_defaults):
    istiod = charts(aws_defaults)["istiod"].inputs["values"]
    gateway = charts(aws_defaults)["gateway"].inputs["values"]

    assert (istiod["autoscaleEnabled"], istiod["autoscaleMin"], istiod["autoscaleMax"]) == (True, 2, 5)
    assert istiod["global"]["defaultPodDisruptionBudget"] == {"enabled": True}
    assert gateway["autoscaling"] == {"enabled": True, "minReplicas": 2, "maxReplicas": 5}
    assert gateway["podDisruptionBudget"] == {"minAvailable": 1}
    assert gateway["service"]["type"] == "LoadBalancer"
    assert gateway["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"


def test_mesh_config_logs_json_to_stdout_and_holds_apps_until_the_proxy_starts(local_defaults):
    mesh = charts(local_defaults)["istiod"].inputs["values"]["meshConfig"]

    assert mesh["accessLogFile"] == "/dev/stdout" and mesh["accessLogEncoding"] == "JSON"
    assert mesh["defaultConfig"] == {"holdApplicationUntilProxyStarts": True}
    assert mesh["outboundTrafficPolicy"] == {"mode": "ALLOW_ANY"}  # local: for trying things (the alert reports undeclared egress)
    assert mesh["trustDomain"] == "cluster.local"


def test_aws_refuses_egress_to_hosts_nobody_declared(aws_defaults):
    mesh = charts(aws_defaults)["istiod"].inputs["values"]["meshConfig"]

    assert mesh["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}


def test_no_tracing_without_a_tracing_backend():
    run = run_program("local", local(observability={"tracing": {"enabled": False}}))
    mesh = charts(run)["istiod"].inputs["values"]["meshConfig"]

    assert "extensionProviders" not in mesh and "enableTracing" not in mesh
    assert custom(run, "Telemetry") == []


def test_platform_wires_the_observability_tracing_backend_into_the_mesh(local_defaults):
    mesh = charts(local_defaults)["istiod"].inputs["values"]["meshConfig"]

    assert mesh["extensionProviders"][0]["opentelemetry"] == {"service": "jaeger.monitoring.svc.cluster.local", "port": 4317}


def test_mesh_options_reach_the_chart_values():
    run = run_program(
        "local",
        local(mesh={"outboundTrafficPolicy": "REGISTRY_ONLY", "trustDomain": "dev.example.com", "holdApplicationUntilProxyStarts": False, "accessLog": False}),
    )
    mesh = charts(run)["istiod"].inputs["values"]["meshConfig"]

    assert mesh["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
    assert mesh["trustDomain"] == "dev.example.com"
    assert mesh["defaultConfig"] == {"holdApplicationUntilProxyStarts": False}
    assert "accessLogFile" not in mesh


def _mesh_program(environment, tracing_address=None, **values):
    def program():
        return MeshStack("mesh", MeshConfig.for_environment(environment, **values), tracing_address=tracing_address, node_ports=(30080, 30443))

    return program


def test_tracing_goes_to_the_wired_backend_with_the_profile_sampling():
    local_run = run_program("local", local(), program=_mesh_program("local", "jaeger-collector.observability.svc.cluster.local:4317"))
    aws_run = run_program("aws", aws(), program=_mesh_program("aws", "collector.obs:4317", gateway={"credentialName": "tls"}))

    mesh = charts(local_run)["istiod"].inputs["values"]["meshConfig"]
    assert mesh["enableTracing"] is True
    assert mesh["extensionProviders"] == [
        {"name": "otel-tracing", "opentelemetry": {"service": "jaeger-collector.observability.svc.cluster.local", "port": 4317}}
    ]
    assert mesh["defaultProviders"] == {"tracing": ["otel-tracing"]}
    [telemetry] = custom(local_run, "Telemetry")
    assert telemetry.inputs["spec"]["tracing"][0]["randomSamplingPercentage"] == 100
    [aws_telemetry] = custom(aws_run, "Telemetry")
    assert aws_telemetry.inputs["spec"]["tracing"][0]["randomSamplingPercentage"] == 10


def test_sampling_is_configurable():
    run = run_program("local", local(), program=_mesh_program("local", "c.obs:4317", tracingSamplingPercent=2.5))

    [telemetry] = custom(run, "Telemetry")
    assert telemetry.inputs["spec"]["tracing"][0]["randomSamplingPercentage"] == 2.5


def test_mesh_wide_mtls_is_strict(local_defaults):
    [peer] = custom(local_defaults, "PeerAuthentication")

    assert peer.inputs["metadata"] == {"name": "default", "namespace": "istio-system"}
    assert peer.inputs["spec"] == {"mtls": {"mode": "STRICT"}}


def test_permissive_mtls_is_an_explicit_local_opt_out():
    run = run_program("local", local(mesh={"mtlsMode": "PERMISSIVE"}))

    [peer] = custom(run, "PeerAuthentication")
    assert peer.inputs["spec"] == {"mtls": {"mode": "PERMISSIVE"}}


def test_app_namespaces_have_sidecar_injection(local_defaults):
    run = run_program("local", local(mesh={"namespaces": ["shop", "payments"]}, apps={"enabled": False}))
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"].get("labels") for r in run.of_type("kubernetes:core/v1:Namespace")}

    assert namespaces["shop"]["istio-injection"] == "enabled"
    assert namespaces["payments"]["istio-injection"] == "enabled"
    assert namespaces["shop"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces["istio-system"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_istio_cni_replaces_the_privileged_init_container(local_defaults):
    cni = charts(local_defaults)["cni"]
    istiod = charts(local_defaults)["istiod"]

    assert cni.inputs["namespace"] == "kube-system"  # beside the cluster's own CNI agents
    assert cni.inputs["values"]["global"] == {"hub": "docker.io/istio", "tag": pinned("cni")}
    assert cni.inputs["values"]["resources"]["requests"] == {"cpu": "10m", "memory": "40Mi"}
    assert istiod.inputs["values"]["cni"] == {"enabled": True}


def test_main_gateway_redirects_http_and_terminates_tls(local_defaults):
    [gateway] = custom(local_defaults, "Gateway")
    http, https = gateway.inputs["spec"]["servers"]

    assert gateway.inputs["metadata"] == {"name": "main", "namespace": "istio-ingress"}
    assert gateway.inputs["spec"]["selector"] == {"istio": "ingressgateway"}
    assert charts(local_defaults)["gateway"].inputs["values"]["labels"] == {"istio": "ingressgateway"}
    assert http["tls"] == {"httpsRedirect": True} and http["port"]["number"] == 80
    assert https["tls"] == {"mode": "SIMPLE", "credentialName": "gateway-tls", "minProtocolVersion": "TLSV1_2"}
    assert https["hosts"] == ["*"]


def test_local_gateway_certificate_is_issued_by_the_platform_ca(local_defaults):
    [cert] = [r for r in custom(local_defaults, "Certificate") if r.inputs["spec"]["secretName"] == "gateway-tls"]

    assert cert.inputs["metadata"]["namespace"] == "istio-ingress"
    assert cert.inputs["spec"]["dnsNames"] == ["localhost", "*.localtest.me"]
    assert cert.inputs["spec"]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "platform-ca"}
    assert local_defaults.of_type("tls:index/selfSignedCert:SelfSignedCert") == []


def test_a_standalone_mesh_without_certificates_generates_a_self_signed_one():
    from components.mesh import MeshConfig, MeshStack

    def program():
        MeshStack("mesh", MeshConfig.for_environment("local"), node_ports=(30080, 30443))

    run = run_program("local", local(), program=program)
    [cert] = run.of_type("tls:index/selfSignedCert:SelfSignedCert")
    [secret] = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.name == "mesh-gateway-tls"]

    assert cert.inputs["dnsNames"] == ["localhost", "*.localtest.me"]
    assert "server_auth" in cert.inputs["allowedUses"]
    assert secret.inputs["type"] == "kubernetes.io/tls"
    assert secret.inputs["metadata"] == {"name": "gateway-tls", "namespace": "istio-ingress"}
    assert isinstance(secret.inputs["stringData"], Secret)


def test_aws_gateway_uses_the_configured_secret_and_hosts():
    run = run_program("aws", aws(mesh={"gateway": {"credentialName": "shop-tls", "hosts": ["shop.example.com"]}}))
    [gateway] = custom(run, "Gateway")
    https = gateway.inputs["spec"]["servers"][1]

    assert https["tls"]["credentialName"] == "shop-tls"
    assert https["hosts"] == ["shop.example.com"]
    assert run.of_type("tls:index/selfSignedCert:SelfSignedCert") == []


def test_egress_gateway_is_optional():
    run = run_program("local", local(mesh={"egressGateway": {"enabled": True, "namespace": "istio-egress"}}))
    gateways = [r for r in mesh_charts(run) if r.inputs["chart"] == "gateway"]

    assert len(charts(run)) == 4 and len(gateways) == 2
    egress = next(g for g in gateways if g.inputs["namespace"] == "istio-egress")
    assert egress.inputs["values"]["service"] == {"type": "ClusterIP"}
    assert egress.inputs["values"]["labels"] == {"istio": "egressgateway"}
    assert "istio-egress" in {r.inputs["metadata"]["name"] for r in run.of_type("kubernetes:core/v1:Namespace")}


def test_mesh_can_be_turned_off():
    run = run_program("local", local(mesh={"enabled": False}, apps={"enabled": False}, gitops={"enabled": False}))

    assert mesh_charts(run) == []


def test_custom_resources_wait_for_their_crds_and_istiod(local_defaults):
    base, istiod = charts(local_defaults)["base"], charts(local_defaults)["istiod"]

    for kind in ("PeerAuthentication", "Gateway"):
        [resource] = custom(local_defaults, kind)
        assert {base.urn, istiod.urn} <= set(resource.dependencies), kind


def test_injected_gateways_wait_for_the_injector(local_defaults):
    istiod = charts(local_defaults)["istiod"]
    gateway = charts(local_defaults)["gateway"]

    assert istiod.urn in gateway.dependencies
    assert charts(local_defaults)["base"].urn in istiod.dependencies


def test_outputs_name_the_gateway_service_and_namespaces():
    seen = {}

    def program():
        mesh = MeshStack("mesh", MeshConfig.for_environment("local", namespaces=["shop"]), node_ports=(30080, 30443))
        mesh.gateway.apply(lambda v: seen.setdefault("gateway", v))
        mesh.ingress_service.apply(lambda v: seen.setdefault("service", v))
        mesh.namespaces.apply(lambda v: seen.setdefault("namespaces", v))
        assert len(mesh.ready) == 3  # base (CRDs), istiod (injector), the CNI agent

    run_program("local", local(), program=program)

    assert seen == {"gateway": "istio-ingress/main", "service": "istio-ingressgateway", "namespaces": ["shop"]}


BAD_MESH = [
    ("sampling-above-100", local(mesh={"tracingSamplingPercent": 150}), "mesh.tracingSamplingPercent", "less than or equal to 100"),
    ("sampling-negative", local(mesh={"tracingSamplingPercent": -1}), "mesh.tracingSamplingPercent", "greater than or equal to 0"),
    ("unknown-outbound-mode", local(mesh={"outboundTrafficPolicy": "DENY"}), "mesh.outboundTrafficPolicy", "'ALLOW_ANY' or 'REGISTRY_ONLY'"),
    ("unknown-mtls-mode", local(mesh={"mtlsMode": "DISABLE"}), "mesh.mtlsMode", "'STRICT' or 'PERMISSIVE'"),
    ("empty-hosts", local(mesh={"gateway": {"hosts": []}}), "mesh.gateway.hosts", "at least 1 item"),
    ("bad-host", local(mesh={"gateway": {"hosts": ["https://shop"]}}), "mesh.gateway.hosts", "not host names"),
    ("permissive-on-aws", aws(mesh={"mtlsMode": "PERMISSIVE", "gateway": {"credentialName": "tls"}}), "mesh.mtlsMode", "not allowed on aws"),
    ("egress-without-namespace", local(mesh={"egressGateway": {"enabled": True}}), "mesh.egressGateway.namespace", "required when enabled"),
    ("egress-in-app-namespace", local(mesh={"egressGateway": {"enabled": True, "namespace": "apps"}}), "mesh.egressGateway.namespace", "namespace of its own"),
    ("reserved-app-namespace", local(mesh={"namespaces": ["kube-system"]}), "mesh.namespaces", "belong to the cluster"),
    ("duplicate-app-namespace", local(mesh={"namespaces": ["a", "a"]}), "mesh.namespaces", "unique"),
    ("bad-trust-domain", local(mesh={"trustDomain": "Cluster_Local"}), "mesh.trustDomain", "DNS-like"),
    ("min-above-max", local(mesh={"istiod": {"scaling": {"minReplicas": 3, "maxReplicas": 2}}}), "mesh.istiod.scaling.minReplicas", "at most maxReplicas"),
    ("limit-below-request", local(mesh={"gateway": {"resources": {"limits": {"cpu": "10m"}}}}), "mesh.gateway.resources.limits.cpu", "at least requests.cpu"),
    ("bad-quantity", local(mesh={"proxyResources": {"requests": {"memory": "lots"}}}), "mesh.proxyResources.requests.memory", "not a memory quantity"),
    ("unknown-mesh-key", local(mesh={"mtls": "STRICT"}), "mesh.mtls", "unknown key"),
]


@pytest.mark.parametrize(("config", "path", "text"), [c[1:] for c in BAD_MESH], ids=[c[0] for c in BAD_MESH])
def test_bad_mesh_config_is_rejected_before_any_resource(config, path, text):
    stack = config[f"{NS}:environment"]
    run, error = run_program_recording(stack, config)

    assert isinstance(error, ConfigError), error
    assert run.resources == []
    [problem] = [p for p in error.problems if p.path == f"{NS}:{path}"]
    assert text in problem.message


def test_partial_overrides_keep_the_rest_of_the_profile():
    config = MeshConfig.for_environment("aws", gateway={"credentialName": "tls", "resources": {"limits": {"cpu": "4"}}})

    assert config.gateway.resources.limits.cpu == "4"
    assert config.gateway.resources.requests.cpu == "100m"
    assert config.gateway.scaling.max_replicas == 5


def test_every_app_namespace_starts_from_deny_all():
    run = run_program("local", local(mesh={"namespaces": ["shop", "payments"]}, apps={"enabled": False}))
    policies = custom(run, "AuthorizationPolicy")

    assert {(p.inputs["metadata"]["namespace"], p.inputs["metadata"]["name"]) for p in policies} == {("shop", "deny-all"), ("payments", "deny-all")}
    assert all(p.inputs["spec"] == {} for p in policies)
    istiod = charts(run)["istiod"]
    assert all(istiod.urn in p.dependencies for p in policies)
