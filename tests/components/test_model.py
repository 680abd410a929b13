"""components.model: the base of every config model — strict, camelCase, profiled defaults, keys named in errors."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import Field, ValidationError

from components.model import DNS_DOMAIN, DNS_LABEL, KeyProblem, Model, ProfiledModel, Profiles, ResourcesConfig, ScalingConfig


class Inner(ProfiledModel):
    PROFILES: ClassVar[Profiles] = {"local": {"replicaCount": 1}, "aws": {"replicaCount": 3}}
    replica_count: int = Field(ge=1)
    enabled: bool = True


class Outer(ProfiledModel):
    PROFILES: ClassVar[Profiles] = {"aws": {"name": "prod"}}
    name: str = "dev"
    inner: Inner


def test_unknown_keys_and_snake_case_in_stack_files_are_refused_but_python_callers_may_use_snake_case():
    with pytest.raises(ValidationError, match=r"extra_forbidden|Extra inputs"):
        Inner.for_environment("local", replicaCoutn=2)
    assert Inner(replica_count=2).replica_count == 2


def test_profiles_fill_what_is_not_given_down_to_nested_models():
    aws = Outer.for_environment("aws")

    assert (aws.name, aws.inner.replica_count) == ("prod", 3)
    assert Outer.for_environment("local", inner={"replicaCount": 2}).inner.replica_count == 2


def test_true_is_not_a_number():
    with pytest.raises(ValidationError, match="expected a number, not true/false"):
        Inner.for_environment("local", replicaCount=True)


def test_models_are_frozen():
    inner = Inner(replica_count=1)
    with pytest.raises(ValidationError):
        inner.replica_count = 2  # type: ignore[misc]


def test_limits_below_requests_name_the_key():
    with pytest.raises(ValidationError) as error:
        ResourcesConfig.model_validate({"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "64Mi"}})

    assert "must be at least requests.cpu (500m)" in str(error.value)
    problem = KeyProblem("limits.cpu", "must be at least requests.cpu", "250m")
    assert (problem.key, problem.value) == ("limits.cpu", "250m")


def test_resources_are_chart_values_and_scaling_bounds_say_whether_to_autoscale():
    resources = ResourcesConfig.model_validate({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}})
    assert resources.values() == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    assert ScalingConfig(min_replicas=2, max_replicas=4).autoscaled and not ScalingConfig(min_replicas=2, max_replicas=2).autoscaled
    with pytest.raises(ValidationError, match="must be at most maxReplicas"):
        ScalingConfig(min_replicas=3, max_replicas=2)


@pytest.mark.parametrize(("name", "label", "domain"), [
    ("apps", True, False), ("argocd.example.com", False, True), ("Apps", False, False), ("a" * 64, False, False), ("*.example.com", False, False),
])
def test_dns_names(name, label, domain):
    assert bool(DNS_LABEL.match(name)) is label and bool(DNS_DOMAIN.match(name)) is domain


def test_a_plain_model_has_no_profiles():
    class Plain(Model):
        value: int = 1

    assert Plain.model_validate({}, context={"environment": "aws"}).value == 1
