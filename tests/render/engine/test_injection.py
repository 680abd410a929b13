"""render.engine.injection: the sidecar injection model: tied to the pinned template, applied before admission and quotas."""

from __future__ import annotations

from helpers import pinned, pinned_charts
from render.checks.admission import quota_verdicts, with_limit_range
from render.engine.deployed import Deployed
from render.engine.injection import Injector, as_admitted, inject

INJECTOR = Injector(image="docker.io/istio/proxyv2:1.0.0", resources={"requests": {"cpu": "10m", "memory": "40Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}})


def workload(namespace: str = "apps", labels=None) -> Deployed:
    labels = labels or {"app": "api", "version": "1"}
    container = {"name": "api", "image": "localhost:5001/api:1", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}
    return Deployed({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": namespace},
                     "spec": {"replicas": 2, "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}}, "urn:api", "program")


def test_the_model_matches_the_pinned_injection_template():
    # A chart bump that changes what is injected must fail here, loudly.
    text = (pinned_charts().directory("istiod", pinned("istiod")) / "files" / "injection-template.yaml").read_text()
    init, proxy = text.index("- name: istio-init"), text.index("- name: istio-proxy")
    init_block = text[init:proxy]

    for fragment in ("- NET_ADMIN", "- NET_RAW", "runAsUser: 0", "runAsNonRoot: false", "readOnlyRootFilesystem: false", "- ALL"):
        assert fragment in init_block, fragment
    assert '{{ template "resources" . }}' in init_block and "global.proxy.resources" in text
    assert "{{ if $nativeSidecar }}restartPolicy: Always{{end}}" in text
    assert "security.istio.io/tlsMode" in text and "service.istio.io/canonical-name" in text
    assert 'runAsUser: {{ if $tproxy }} 1337 {{ else }} {{ .ProxyUID | default "1337" }} {{ end }}' in text


def test_an_injected_pod_gets_init_proxy_and_labels():
    injected = inject(workload(), INJECTOR)
    spec = injected.obj["spec"]["template"]["spec"]

    assert [c["name"] for c in spec["initContainers"]] == ["istio-init", "istio-proxy"]
    assert spec["initContainers"][1]["restartPolicy"] == "Always"
    assert spec["initContainers"][0]["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_RAW"]
    assert injected.obj["spec"]["template"]["metadata"]["labels"]["security.istio.io/tlsMode"] == "istio"


def test_only_injected_namespaces_and_labelled_pods_are_injected():
    namespace = Deployed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"istio-injection": "enabled"}}}, "urn:ns", "program")
    injector_config = Deployed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio-sidecar-injector", "namespace": "istio-system"},
                                "data": {"values": '{"global": {"hub": "docker.io/istio", "tag": "1.0.0", "proxy": {"image": "proxyv2"}}}'}}, "urn:istiod", "chart")
    plain = workload(namespace="tools")
    opted_out = workload(labels={"app": "api", "sidecar.istio.io/inject": "false"})

    admitted = as_admitted([namespace, injector_config, workload(), plain, opted_out])

    assert [len(d.obj["spec"]["template"]["spec"].get("initContainers") or []) for d in admitted[2:]] == [2, 0, 0]


def test_a_quota_counts_sidecars_and_surge():
    quota = Deployed({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "apps"}, "spec": {"hard": {"limits.cpu": "2"}}}, "urn:q", "program")

    [error] = quota_verdicts([quota, inject(workload(), INJECTOR)])["errors"]

    # 2 replicas + 1 surge pod, each 500m (app) + 500m (proxy)
    assert "limits.cpu: the namespace's pods ask 3000m" in error["message"]


def test_limit_range_defaults_fill_in_and_its_max_refuses():
    ranges = [{"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"}, "defaultRequest": {"cpu": "50m", "memory": "64Mi"}, "max": {"cpu": "1"}}]

    resolved, refused = with_limit_range({"name": "c"}, ranges)
    _, too_big = with_limit_range({"name": "c", "resources": {"limits": {"cpu": "2"}}}, ranges)

    assert resolved == {"requests": {"cpu": 50.0, "memory": 64.0}, "limits": {"cpu": 500.0, "memory": 512.0}} and refused == []
    assert too_big == ["cpu limit above the LimitRange max 1"]


def test_the_apps_namespace_fits_its_quota_with_sidecars(rendered):
    _, data, _ = rendered("aws-apps")

    quota = data["admission"]["quota"]
    assert quota["errors"] == []
    # frontend 2 + 1 surge; the backend's Rollout 2 stable + 2 canary at its last step (100 %).
    assert quota["quotas"]["ResourceQuota apps/platform-quota"]["pods"] == 7
