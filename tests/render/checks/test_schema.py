"""render.checks.schema: the schema layer: objects against their schemas and CRDs, chart values against the charts — each catches a real mistake."""

from __future__ import annotations

import copy
import json

import pytest

from components.charts import CHARTS
from helpers import pinned, pinned_charts
from render.checks.schema import check_values, structural_to_json_schema, validate_object
from render.engine.charts import ChartSet

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "backend", "namespace": "apps"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "backend"}},
        "template": {
            "metadata": {"labels": {"app": "backend"}},
            "spec": {"containers": [{"name": "backend", "image": "localhost:5001/backend:1.0.0", "ports": [{"containerPort": 8080}]}]},
        },
    },
}

VIRTUAL_SERVICE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "backend", "namespace": "apps"},
    "spec": {
        "hosts": ["backend"],
        "http": [{"route": [{"destination": {"host": "backend", "port": {"number": 8080}}, "weight": 100}], "timeout": "5s"}],
    },
}


@pytest.fixture(scope="module")
def stack_crds(rendered) -> dict[tuple[str, str], dict]:
    """The CRDs the local stack installs, by (group, kind): what its custom resources validate against."""
    _, _, deployed = rendered("local")
    return {(d.obj["spec"]["group"], d.obj["spec"]["names"]["kind"]): d.obj for d in deployed.objects if d.kind == "CustomResourceDefinition"}


@pytest.fixture(scope="module")
def charts() -> ChartSet:
    return pinned_charts()


def test_valid_core_object_passes():
    assert validate_object(DEPLOYMENT) == (True, [], "")


def test_wrong_type_in_a_deployment_is_an_error():
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["replicas"] = "two"

    validated, errors, _ = validate_object(bad)

    assert validated
    assert [e["path"] for e in errors] == ["spec.replicas"]


def test_unknown_field_in_a_core_object_is_an_error_as_under_strict_validation():
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    bad["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"

    _, errors, _ = validate_object(bad)

    assert len(errors) == 1
    assert errors[0]["path"] == "spec.template.spec.containers[0]"
    assert "imagePulPolicy" in errors[0]["message"]


def test_valid_virtual_service_passes_against_its_crd(stack_crds):
    assert validate_object(VIRTUAL_SERVICE, crds=stack_crds) == (True, [], "")


def test_misspelled_field_in_a_virtual_service_is_an_error(stack_crds):
    bad = copy.deepcopy(VIRTUAL_SERVICE)
    bad["spec"]["http"][0]["retires"] = {"attempts": 3}

    _, errors, _ = validate_object(bad, crds=stack_crds)

    assert errors == [{"path": "spec.http[0]", "message": "Additional properties are not allowed ('retires' was unexpected)"}]


def test_unserved_crd_version_is_unvalidated_with_the_reason(stack_crds):
    old = dict(VIRTUAL_SERVICE, apiVersion="networking.istio.io/v9")

    validated, _, reason = validate_object(old, crds=stack_crds)

    assert not validated and "not a served version" in reason


def test_custom_resource_whose_crd_the_stack_does_not_install_is_reported_unvalidated(stack_crds):
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "api"}, "spec": {}}

    validated, errors, reason = validate_object(widget, crds=stack_crds)

    assert (validated, errors) == (False, [])
    assert reason == "no CRD for example.com/Widget among those the stack installs"

def test_constraints_validate_against_the_schema_gatekeeper_generates_from_their_template(stack_crds):
    template = {
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": "k8srequiredlabels"},
        "spec": {"crd": {"spec": {"names": {"kind": "K8sRequiredLabels"}, "validation": {"openAPIV3Schema": {"type": "object", "properties": {"labels": {"type": "array", "items": {"type": "string"}}}}}}}},
    }
    constraint = {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sRequiredLabels",
        "metadata": {"name": "labels"},
        "spec": {"enforcementAction": "deny", "match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}, "parameters": {"labels": ["app"]}},
    }
    templates = {"K8sRequiredLabels": template}
    bad_parameter = copy.deepcopy(constraint)
    bad_parameter["spec"]["parameters"] = {"label": ["app"]}
    bad_action = copy.deepcopy(constraint)
    bad_action["spec"]["enforcementAction"] = "block"

    assert validate_object(template, crds=stack_crds) == (True, [], "")
    assert validate_object(constraint, templates) == (True, [], "")
    assert validate_object(bad_parameter, templates)[1][0]["path"] == "spec.parameters"
    assert validate_object(bad_action, templates)[1][0]["path"] == "spec.enforcementAction"
    validated, _, reason = validate_object(constraint, {})
    assert not validated and "no ConstraintTemplate for constraint kind K8sRequiredLabels" in reason


def test_int_or_string_fields_accept_both(stack_crds):
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "backend"},
        "spec": {"selector": {}, "podMetricsEndpoints": [{"targetPort": 8080}, {"targetPort": "http"}]},
    }
    bad = copy.deepcopy(monitor)
    bad["spec"]["podMetricsEndpoints"][0]["targetPort"] = 8.5

    assert validate_object(monitor, crds=stack_crds) == (True, [], "")
    assert validate_object(bad, crds=stack_crds)[1]


def test_structural_schema_rules():
    schema = structural_to_json_schema(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        "port": {"x-kubernetes-int-or-string": True},
                        "note": {"type": "string", "nullable": True},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                }
            },
        },
        root=True,
    )
    from jsonschema import Draft4Validator

    validator = Draft4Validator(schema)
    ok = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"open": {"any": 1}, "port": "http", "note": None, "labels": {"a": "b"}}}

    assert list(validator.iter_errors(ok)) == []
    assert list(validator.iter_errors({"spec": {"port": 80}})) == []
    assert list(validator.iter_errors({"spec": {"typo": 1}}))
    assert list(validator.iter_errors({"spec": {"labels": {"a": 1}}}))


def test_values_key_that_does_not_exist_in_the_chart_is_an_error(charts):
    problems = check_values("istiod", pinned("istiod"), {"pilot": {"replicaCount": 1}, "replicaCount": 1}, charts)

    assert [p["path"] for p in problems] == ["pilot.replicaCount"]
    assert f"no such key in istiod {pinned('istiod')} values.yaml" in problems[0]["message"]


def test_istio_values_are_checked_against_the_unwrapped_defaults(charts):
    values = {"replicaCount": 1, "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}, "meshConfig": {"accessLogFile": "/dev/stdout"}}

    assert check_values("istiod", pinned("istiod"), values, charts) == []


def test_free_form_maps_take_any_key(charts):
    values = {"podAnnotations": {"example.com/team": "platform"}, "nodeSelector": {"disk": "ssd"}}

    assert check_values("gatekeeper", pinned("gatekeeper"), values, charts) == []


def test_subchart_values_are_checked_against_the_subchart(charts):
    ok = check_values("kube-prometheus-stack", pinned("kube-prometheus-stack"), {"grafana": {"sidecar": {"dashboards": {"enabled": True}}}}, charts)
    bad = check_values("kube-prometheus-stack", pinned("kube-prometheus-stack"), {"grafana": {"sidecar": {"dashbaords": {"enabled": True}}}}, charts)

    assert ok == []
    assert [p["path"] for p in bad] == ["grafana.sidecar.dashbaords.enabled"]


def test_values_schema_violations_are_errors_as_helm_install_would_report(charts):
    problems = check_values("gateway", pinned("gateway"), {"kind": "Pod"}, charts)

    assert len(problems) == 1
    assert problems[0]["message"].startswith("values.schema.json:") and "'Pod' is not one of" in problems[0]["message"]


def test_chart_version_the_lock_does_not_pin_is_an_error(charts):
    [problem] = check_values("istiod", "0.0.1", {}, charts)

    assert problem["message"] == f"chart istiod 0.0.1 is not the version charts.lock pins ({pinned('istiod')}); fix the pin in the program or the lock"


def test_chart_repositories_are_https():
    assert all(chart.repo.startswith("https://") for chart in CHARTS.values())


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_every_deployed_object_validates_against_its_schema(rendered, stack):
    _, data, deployed = rendered(stack)
    schema = data["schema"]

    assert schema["errors"] == [] and schema["values_errors"] == []
    assert schema["unvalidated"] == []
    # Every object the engine applies: the program's and every chart's.
    assert schema["validated"] == sum(1 for d in deployed.objects if d.origin != "dropped-hook") > len(data["resources"])
    assert json.dumps(data)  # serialisable
