"""render.checks.api_rules: the API server's own validation rules: each planted value it refuses is named with the fix; a clean
object passes; the stacks pass (test_invariants runs the whole layer on them)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from render.checks.api_rules import check_api_rules
from render.engine.deployed import Deployed

POD: dict[str, Any] = {
    "serviceAccountName": "api",
    "volumes": [{"name": "tmp", "emptyDir": {}}],
    "containers": [{
        "name": "api", "image": "example.com/api:1",
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
    }],
}


def deployment(change: Callable[[dict], None] = lambda spec: None, kind: str = "Deployment") -> Deployed:
    pod = copy.deepcopy(POD)
    obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "api", "namespace": "apps"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}}, "template": {"metadata": {"labels": {"app": "api"}}, "spec": pod}}}
    change(obj["spec"])
    return Deployed(obj, "urn:api", "program")


def messages(*objects: Deployed) -> list[str]:
    return [f"[{f['check']}] {f['message']}" for f in check_api_rules(list(objects))]


def container(spec: dict) -> dict:
    return spec["template"]["spec"]["containers"][0]


def test_a_clean_workload_passes():
    assert messages(deployment()) == []


PLANTED: list[tuple[str, Callable[[dict], None], str]] = [
    ("container name", lambda s: container(s).update(name="API_1"), "[pods] container name 'API_1' must be a DNS-1123 label"),
    ("duplicate container", lambda s: s["template"]["spec"]["containers"].append({**container(s), "ports": []}), "container name 'api' is used twice"),
    ("port range", lambda s: container(s)["ports"].append({"containerPort": 70000}), "containerPort must be 1..65535"),
    ("port protocol", lambda s: container(s)["ports"][0].update(protocol="HTTP"), "protocol 'HTTP' is not TCP, UDP or SCTP"),
    ("duplicate port name", lambda s: container(s)["ports"].append({"name": "http", "containerPort": 8081}), "port name 'http' is used twice"),
    ("request above limit", lambda s: container(s)["resources"]["requests"].update(memory="256Mi"), "memory request 256Mi exceeds its limit 128Mi"),
    ("cpu request above limit", lambda s: container(s)["resources"]["requests"].update(cpu="1500m"), "cpu request 1500m exceeds its limit 1"),
    ("env name", lambda s: container(s).update(env=[{"name": "A=B", "value": "x"}]), "env name 'A=B' must be non-empty and hold no '='"),
    ("mount of no volume", lambda s: container(s)["volumeMounts"].append({"name": "cache", "mountPath": "/cache"}), "volumeMount 'cache' names no volume"),
    ("mounted twice", lambda s: container(s)["volumeMounts"].append({"name": "tmp", "mountPath": "/tmp"}), "mountPath /tmp is mounted twice"),
    ("subPath escape", lambda s: container(s)["volumeMounts"][0].update(subPath="../etc"), "subPath '../etc' must be relative, without '..'"),
    ("duplicate volume", lambda s: s["template"]["spec"]["volumes"].append({"name": "tmp", "emptyDir": {}}), "volume name 'tmp' is used twice"),
    ("two probe handlers", lambda s: container(s)["readinessProbe"].update(tcpSocket={"port": 8080}), "readinessProbe: exactly one handler"),
    ("liveness threshold", lambda s: container(s).update(livenessProbe={"httpGet": {"port": 8080}, "successThreshold": 2}), "livenessProbe: successThreshold must be 1"),
    ("root with runAsNonRoot", lambda s: container(s).update(securityContext={"runAsNonRoot": True, "runAsUser": 0}), "runAsNonRoot with runAsUser 0"),
    ("toleration value", lambda s: s["template"]["spec"].update(tolerations=[{"key": "k", "operator": "Exists", "value": "v"}]), "operator Exists takes no value"),
    ("toleration effect", lambda s: s["template"]["spec"].update(tolerations=[{"key": "k", "operator": "Exists", "effect": "NoRun"}]), "unknown effect 'NoRun'"),
    ("affinity operator", lambda s: s["template"]["spec"].update(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In"}]}]}}}), "operator In on 'zone' needs values"),
    ("spread skew", lambda s: s["template"]["spec"].update(topologySpreadConstraints=[{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]),
     "maxSkew must be at least 1"),
    ("spread minDomains", lambda s: s["template"]["spec"].update(topologySpreadConstraints=[
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "minDomains": 2}]), "minDomains needs whenUnsatisfiable DoNotSchedule"),
    ("spread twice", lambda s: s["template"]["spec"].update(topologySpreadConstraints=[
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}] * 2), "a second constraint for zone and DoNotSchedule"),
    ("selector off template", lambda s: s["selector"]["matchLabels"].update(app="apii"), "[workloads] selector {'matchLabels': {'app': 'apii'}} does not select its own pod template"),
    ("rollout stuck", lambda s: s.update(strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}), "maxSurge and maxUnavailable are both 0"),
    ("restart policy", lambda s: s["template"]["spec"].update(restartPolicy="Never"), "restartPolicy Never is not allowed"),
]


@pytest.mark.parametrize(("case", "change", "expected"), PLANTED, ids=[p[0] for p in PLANTED])
def test_each_refused_value_is_named(case, change, expected):
    found = messages(deployment(change))

    assert any(expected in m for m in found), found


def test_a_job_must_not_restart_always():
    job = Deployed({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "apps"},
                    "spec": {"template": {"spec": {**copy.deepcopy(POD), "restartPolicy": "Always"}}}}, "urn:j", "program")

    assert messages(job) == ["[workloads] restartPolicy Always is not allowed for a Job: OnFailure or Never"]


def test_a_statefulset_mounts_its_claim_templates():
    def claims(spec: dict) -> None:
        container(spec)["volumeMounts"].append({"name": "data", "mountPath": "/data"})
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {}}]

    assert messages(deployment(claims, kind="StatefulSet")) == []


def service(name: str, *ports: dict, **spec: Any) -> Deployed:
    return Deployed({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "apps"},
                     "spec": {"selector": {"app": "api"}, "ports": list(ports), **spec}}, f"urn:{name}", "program")


@pytest.mark.parametrize(("ports", "spec", "expected"), [
    ([{"name": "a", "port": 80}, {"name": "b", "port": 80}], {}, "port 80/TCP is declared twice"),
    ([{"port": 80}, {"name": "b", "port": 81}], {}, "every port needs a name when a Service has several"),
    ([{"name": "a", "port": 80}, {"name": "a", "port": 81}], {}, "port name 'a' is used twice"),
    ([{"name": "a", "port": 80, "targetPort": 0}], {}, "targetPort 0 must be 1..65535"),
    ([{"name": "a", "port": 80, "nodePort": 8080}], {"type": "NodePort"}, "nodePort 8080 is outside the cluster's range 30000-32767"),
    ([{"name": "a", "port": 80}], {"type": "NodePort", "clusterIP": "None"}, "a headless Service (clusterIP: None) cannot be of type NodePort"),
    ([], {"type": "ExternalName"}, "type ExternalName needs externalName"),
])
def test_service_rules(ports, spec, expected):
    assert any(expected in m for m in messages(service("api", *ports, **spec)))


def test_two_services_cannot_take_the_same_node_port():
    first = service("a", {"name": "h", "port": 80, "nodePort": 30080}, type="NodePort")
    second = service("b", {"name": "h", "port": 80, "nodePort": 30080}, type="NodePort")

    assert messages(first, second) == ["[services] nodePort 30080 is already Service apps/a's: the API server refuses the second"]


def _budget(**spec: Any) -> Deployed:
    return Deployed({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "b", "namespace": "apps"},
                     "spec": {"selector": {"matchLabels": {"app": "api"}}, **spec}}, "urn:b", "program")


def test_disruption_budget_and_autoscaler_rules():
    assert messages(_budget(minAvailable=1, maxUnavailable=1)) == ["[disruption] sets both minAvailable and maxUnavailable: the API server takes one"]
    assert messages(_budget(maxUnavailable="half")) == ["[disruption] maxUnavailable 'half' must be a non-negative count or a percentage"]
    assert messages(_budget(minAvailable="150%")) == ["[disruption] minAvailable 150% is above 100%"]
    assert messages(_budget(minAvailable="50%")) == []
    hpa = Deployed({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "apps"},
                    "spec": {"minReplicas": 5, "maxReplicas": 3}}, "urn:h", "program")
    assert messages(hpa) == ["[autoscaling] minReplicas 5 is above maxReplicas 3"]


@pytest.mark.parametrize(("requests", "limits", "refused"), [
    ({"cpu": "100m"}, {"cpu": "0.1"}, False), ({"cpu": "1500m"}, {"cpu": "1"}, True),
    ({"memory": "1G"}, {"memory": "1Gi"}, False), ({"memory": "1100M"}, {"memory": "1Gi"}, True),
    ({"memory": "64Mi"}, {"memory": "65536Ki"}, False), ({"ephemeral-storage": "2Gi"}, {"ephemeral-storage": "1Gi"}, True),
])
def test_requests_and_limits_compare_as_quantities(requests, limits, refused):
    def resources(spec: dict) -> None:
        container(spec)["resources"] = {"requests": requests, "limits": limits}

    assert any("exceeds its limit" in m for m in messages(deployment(resources))) is refused
