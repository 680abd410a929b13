"""render.checks.references: every name one object uses to find another resolves: one planted defect per API family, and
every kind the stacks deploy is either in the registry or owned by a named check."""

from __future__ import annotations

import pytest

from render.checks.consistency import check_monitors, check_workload_selectors
from render.checks.references import FIELDS, REFERRERS, RESOLVED_ELSEWHERE, check_references, covered
from render.engine.deployed import Deployed
from render.engine.facts import Facts
from render.engine.objects import group_of
from render.engine.pods import pod_groups


def obj(kind: str, name: str, namespace: str = "apps", api_version: str = "v1", **fields) -> Deployed:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return Deployed({"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}, f"urn:{kind}:{name}", "program")


def pod(name: str = "api", labels: dict | None = None, **spec) -> Deployed:
    spec.setdefault("containers", [{"name": "api", "image": "localhost:5001/api:1"}])
    spec.setdefault("serviceAccountName", "api")
    template = {"metadata": {"labels": labels or {"app": name}}, "spec": spec}
    return obj("Deployment", name, api_version="apps/v1", spec={"selector": {"matchLabels": labels or {"app": name}}, "template": template})


BASE = [obj("Namespace", "apps", namespace=""), obj("ServiceAccount", "api")]


def findings(*objects: Deployed, environment: str = "local") -> list[dict[str, str]]:
    return check_references([*BASE, *objects], [], Facts(environment=environment))


def only(*objects: Deployed) -> str:
    [finding] = findings(*objects)
    return f"{finding['object']}: {finding['message']}"


# --- core ------------------------------------------------------------------------------------------


def test_a_secret_key_the_secret_does_not_have_is_an_error():
    secret = obj("Secret", "db", stringData={"password": "x"})
    defect = pod(containers=[{"name": "api", "image": "i", "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pasword"}}}]}])

    message = only(secret, defect)

    assert message.startswith("Deployment apps/api: container api env PW reads key 'pasword' of Secret apps/db")
    assert "which has only password" in message
    fixed = pod(containers=[{"name": "api", "image": "i", "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}])
    assert findings(secret, fixed) == []


def test_configmap_volume_items_must_name_keys_it_has():
    config = obj("ConfigMap", "conf", data={"app.yaml": ""})
    defect = pod(volumes=[{"name": "c", "configMap": {"name": "conf", "items": [{"key": "app.yml", "path": "app.yaml"}]}}])

    assert "volume c reads key 'app.yml' of ConfigMap apps/conf" in only(config, defect)


def test_a_certificate_secret_has_the_keys_cert_manager_writes():
    certificate = obj("Certificate", "tls", api_version="cert-manager.io/v1", spec={"secretName": "tls", "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}})
    issuer = obj("ClusterIssuer", "ca", namespace="", api_version="cert-manager.io/v1", spec={"selfSigned": {}})
    good = pod(volumes=[{"name": "t", "secret": {"secretName": "tls", "items": [{"key": "tls.crt", "path": "c"}]}}])
    bad = pod(volumes=[{"name": "t", "secret": {"secretName": "tls", "items": [{"key": "cert.pem", "path": "c"}]}}])

    assert findings(certificate, issuer, good) == []
    assert "reads key 'cert.pem' of Secret apps/tls, which has only ca.crt, tls.crt, tls.key" in only(certificate, issuer, bad)


@pytest.mark.parametrize(("field", "value", "target"), [
    ("priorityClassName", "platform-critical", "PriorityClass platform-critical"),
    ("runtimeClassName", "gvisor", "RuntimeClass gvisor"),
])
def test_cluster_scoped_names_in_a_pod_resolve(field, value, target):
    assert f"{field} refers to {target}, which nothing in the stack creates" in only(pod(**{field: value}))


def test_built_in_priority_classes_and_storage_classes_exist_per_environment():
    assert findings(pod(priorityClassName="system-cluster-critical")) == []
    claim = obj("PersistentVolumeClaim", "data", spec={"storageClassName": "standard"})
    assert findings(claim) == []
    [on_aws] = findings(claim, environment="aws")
    assert "spec.storageClassName refers to StorageClass standard" in on_aws["message"]


def test_a_statefulset_needs_its_governing_service():
    defect = obj("StatefulSet", "db", api_version="apps/v1", spec={"serviceName": "db-headless", "template": {"spec": {"serviceAccountName": "api", "containers": []}}})

    assert "spec.serviceName refers to Service apps/db-headless, which nothing in the stack creates" in only(defect)
    assert findings(defect, obj("Service", "db-headless", spec={"clusterIP": "None"})) == []


def test_bindings_are_kind_aware():
    role_named_as_cluster_role = obj("RoleBinding", "read", api_version="rbac.authorization.k8s.io/v1",
                                     roleRef={"kind": "ClusterRole", "name": "reader", "apiGroup": "rbac.authorization.k8s.io"},
                                     subjects=[{"kind": "ServiceAccount", "name": "api", "namespace": "apps"}])
    role = obj("Role", "reader", api_version="rbac.authorization.k8s.io/v1", rules=[])

    assert "roleRef refers to ClusterRole reader, which nothing in the stack creates" in only(role, role_named_as_cluster_role)
    fixed = Deployed({**role_named_as_cluster_role.obj, "roleRef": {"kind": "Role", "name": "reader"}}, "urn", "program")
    assert findings(role, fixed) == []
    assert findings(obj("ClusterRoleBinding", "v", namespace="", api_version="rbac.authorization.k8s.io/v1",
                        roleRef={"kind": "ClusterRole", "name": "view"}, subjects=[])) == []


def test_a_binding_subject_must_be_a_service_account_that_exists():
    binding = obj("ClusterRoleBinding", "b", namespace="", api_version="rbac.authorization.k8s.io/v1",
                  roleRef={"kind": "ClusterRole", "name": "view"}, subjects=[{"kind": "ServiceAccount", "name": "ap", "namespace": "apps"}])

    assert "subjects refers to ServiceAccount apps/ap" in only(binding)


# --- cert-manager ------------------------------------------------------------------------------------


def test_a_certificate_names_an_issuer_of_the_right_kind():
    cluster_issuer = obj("ClusterIssuer", "ca", namespace="", api_version="cert-manager.io/v1", spec={"selfSigned": {}})
    defect = obj("Certificate", "tls", api_version="cert-manager.io/v1", spec={"secretName": "tls", "issuerRef": {"name": "ca"}})

    assert "spec.issuerRef refers to Issuer apps/ca, which nothing in the stack creates" in only(cluster_issuer, defect)
    fixed = obj("Certificate", "tls", api_version="cert-manager.io/v1", spec={"secretName": "tls", "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}})
    assert findings(cluster_issuer, fixed) == []


def test_a_cluster_issuer_reads_its_ca_from_cert_managers_cluster_resource_namespace():
    controller = obj("Deployment", "cert-manager", namespace="cert-manager", api_version="apps/v1", spec={"template": {"spec": {
        "serviceAccountName": "default", "containers": [{"name": "c", "image": "i", "args": ["--cluster-resource-namespace=$(POD_NAMESPACE)"]}]}}})
    issuer = obj("ClusterIssuer", "platform-ca", namespace="", api_version="cert-manager.io/v1", spec={"ca": {"secretName": "root"}})
    in_apps = obj("Secret", "root", data={"tls.crt": "", "tls.key": ""})
    in_cert_manager = obj("Secret", "root", namespace="cert-manager", data={"tls.crt": "", "tls.key": ""})

    assert "spec.ca.secretName refers to Secret cert-manager/root" in only(controller, issuer, in_apps)
    assert findings(controller, issuer, in_cert_manager) == []


# --- Argo Rollouts -------------------------------------------------------------------------------------


def _rollout(**canary) -> Deployed:
    return obj("Rollout", "api", api_version="argoproj.io/v1alpha1", spec={
        "template": {"spec": {"serviceAccountName": "api", "containers": []}}, "strategy": {"canary": canary}})


ROUTING = {"istio": {"virtualService": {"name": "api", "routes": ["primary"]},
                     "destinationRule": {"name": "api", "canarySubsetName": "canary", "stableSubsetName": "stable"}}}
VS = obj("VirtualService", "api", api_version="networking.istio.io/v1", spec={"hosts": ["api"], "http": [{"name": "primary", "route": []}]})
DR = obj("DestinationRule", "api", api_version="networking.istio.io/v1", spec={"host": "api", "subsets": [{"name": "stable"}, {"name": "canary"}]})


def test_a_rollout_resolves_its_routes_subsets_services_and_analysis():
    template = obj("AnalysisTemplate", "canary-analysis", api_version="argoproj.io/v1alpha1", spec={"metrics": []})
    rollout = _rollout(trafficRouting=ROUTING, analysis={"templates": [{"templateName": "canary-analysis"}]})

    assert findings(VS, DR, template, rollout) == []
    renamed_route = Deployed({**VS.obj, "spec": {"http": [{"name": "main"}]}}, "urn", "program")
    assert "names route 'primary' of VirtualService apps/api, whose http routes are main" in only(renamed_route, DR, template, rollout)
    no_canary = Deployed({**DR.obj, "spec": {"host": "api", "subsets": [{"name": "stable"}]}}, "urn", "program")
    assert "names subset 'canary' of DestinationRule apps/api, which defines stable" in only(VS, no_canary, template, rollout)
    assert "refers to AnalysisTemplate apps/canary-analysis" in only(VS, DR, rollout)
    cluster_scoped = _rollout(analysis={"templates": [{"templateName": "canary-analysis", "clusterScope": True}]})
    assert "refers to ClusterAnalysisTemplate canary-analysis" in only(template, cluster_scoped)
    assert "spec.strategy.canaryService refers to Service apps/api-canary" in only(_rollout(canaryService="api-canary"))


# --- Istio -----------------------------------------------------------------------------------------------


def test_a_route_subset_needs_a_destination_rule_for_its_host():
    vs = obj("VirtualService", "web", api_version="networking.istio.io/v1", spec={
        "hosts": ["web"], "http": [{"name": "p", "route": [{"destination": {"host": "web.apps.svc.cluster.local", "subset": "v2"}}]}]})
    rule = obj("DestinationRule", "web", api_version="networking.istio.io/v1", spec={"host": "web", "subsets": [{"name": "v1"}]})

    assert "names subset 'v2' of web.apps, which no DestinationRule for that host defines" in only(vs, rule)


def test_a_virtual_service_gateway_must_exist_where_it_says():
    vs = obj("VirtualService", "web", api_version="networking.istio.io/v1", spec={"hosts": ["web.example"], "gateways": ["mesh", "istio-ingress/main"]})
    gateway = obj("Gateway", "main", namespace="istio-ingress", api_version="networking.istio.io/v1", spec={"servers": []})

    assert "spec.gateways refers to Gateway istio-ingress/main" in only(vs)
    assert findings(vs, gateway) == []


def test_a_telemetry_provider_must_be_defined_in_the_mesh_config():
    mesh = obj("ConfigMap", "istio", namespace="istio-system", data={"mesh": "extensionProviders:\n- name: otel-tracing\n  opentelemetry: {port: 4317, service: j}\n"})
    telemetry = obj("Telemetry", "mesh-default", namespace="istio-system", api_version="telemetry.istio.io/v1",
                    spec={"tracing": [{"providers": [{"name": "otel"}]}]})

    assert "names mesh extension provider 'otel', which istiod's meshConfig.extensionProviders does not define (it has otel-tracing)" in only(mesh, telemetry)
    good = Deployed({**telemetry.obj, "spec": {"tracing": [{"providers": [{"name": "otel-tracing"}]}], "accessLogging": [{"providers": [{"name": "envoy"}]}]}},
                    "urn", "program")
    assert findings(mesh, good) == []


def test_istio_selectors_that_select_no_pods_are_errors():
    workload = pod("web", labels={"app": "web"})
    policy = obj("AuthorizationPolicy", "web", api_version="security.istio.io/v1", spec={"selector": {"matchLabels": {"app": "wbe"}}})
    gateway = obj("Gateway", "main", namespace="istio-ingress", api_version="networking.istio.io/v1", spec={"selector": {"istio": "ingress"}})
    live = [*BASE, workload, policy, gateway]

    found = {f["object"]: f["message"] for f in check_workload_selectors(live, pod_groups(live))}

    assert "selects no pods in apps, so it applies to nothing" in found["AuthorizationPolicy apps/web"]
    assert "selects no pods in any namespace" in found["Gateway istio-ingress/main"]
    fixed = Deployed({**policy.obj, "spec": {"selector": {"matchLabels": {"app": "web"}}}}, "urn", "program")
    assert list(check_workload_selectors([*BASE, workload, fixed], pod_groups([*BASE, workload, fixed]))) == []


# --- KEDA, Secrets Store CSI, Prometheus operator ---------------------------------------------------------


def test_a_trigger_authentication_is_kind_aware_and_its_secret_keys_resolve():
    scaled = obj("ScaledObject", "api", api_version="keda.sh/v1alpha1", spec={
        "scaleTargetRef": {"name": "api"}, "triggers": [{"type": "prometheus", "authenticationRef": {"name": "prom", "kind": "ClusterTriggerAuthentication"}}]})
    auth = obj("TriggerAuthentication", "prom", api_version="keda.sh/v1alpha1", spec={"secretTargetRef": [{"parameter": "bearerToken", "name": "prom", "key": "token"}]})
    secret = obj("Secret", "prom", data={"tok": ""})

    messages = sorted(f["message"] for f in findings(scaled, auth, secret))

    assert "trigger prometheus authenticationRef refers to ClusterTriggerAuthentication prom" in messages[1]
    assert "spec.secretTargetRef bearerToken reads key 'token' of Secret apps/prom" in messages[0]


def test_a_synced_secret_key_must_name_an_object_the_provider_fetches():
    spc = obj("SecretProviderClass", "db", api_version="secrets-store.csi.x-k8s.io/v1", spec={
        "provider": "vault", "parameters": {"objects": "- objectName: password\n  secretPath: kv/data/db\n  secretKey: password\n"},
        "secretObjects": [{"secretName": "db", "type": "Opaque", "data": [{"key": "pw", "objectName": "passwd"}]}]})

    assert "names object 'passwd', which parameters.objects does not fetch (password)" in only(spc)


def test_prometheus_alertmanagers_name_a_service_and_its_port():
    prometheus = obj("Prometheus", "k", namespace="monitoring", api_version="monitoring.coreos.com/v1", spec={
        "alerting": {"alertmanagers": [{"name": "am", "namespace": "monitoring", "port": "http-web"}]}})
    service = obj("Service", "am", namespace="monitoring", spec={"ports": [{"name": "web", "port": 9093}]})

    assert "spec.alerting.alertmanagers uses port 'http-web' of Service monitoring/am, which declares web" in only(prometheus, service)


def test_a_prometheus_rule_no_prometheus_loads_is_an_error():
    prometheus = obj("Prometheus", "k", namespace="monitoring", api_version="monitoring.coreos.com/v1",
                     spec={"ruleSelector": {"matchLabels": {"release": "kps"}}, "ruleNamespaceSelector": {}})
    rule = obj("PrometheusRule", "alerts", namespace="monitoring", api_version="monitoring.coreos.com/v1", spec={"groups": []})

    [finding] = check_monitors([prometheus, rule], [])

    assert finding["object"] == "PrometheusRule monitoring/alerts" and "no Prometheus loads it" in finding["message"]
    labelled = Deployed({**rule.obj, "metadata": {**rule.obj["metadata"], "labels": {"release": "kps"}}}, "urn", "program")
    assert list(check_monitors([prometheus, labelled], [])) == []


# --- the whole registry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_every_kind_a_stack_deploys_has_its_names_resolved_by_some_check(rendered, stack):
    _, data, deployed = rendered(stack)
    kinds = {(group_of(d), d.kind) for d in deployed.objects}

    assert sorted(k for k in kinds if not covered(*k)) == []
    assert [e for e in data["deployability"]["errors"] if e["check"] == "references"] == []
    assert data["deployability"]["reference_fields"] == FIELDS


def test_the_registry_and_the_exceptions_do_not_overlap():
    assert set(REFERRERS) & set(RESOLVED_ELSEWHERE) == set()
