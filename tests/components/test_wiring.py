"""components.wiring: one typed object says where a service plugs into the platform."""

from __future__ import annotations

import pytest

from components import MicroserviceConfig, MicroserviceStack, PlatformWiring
from helpers import local
from render.engine.harness import run_program


def test_the_defaults_are_the_local_stacks():
    wiring = PlatformWiring()

    assert (wiring.environment, wiring.gateway, wiring.trust_domain, wiring.monitoring_namespace) == (
        "local", "istio-ingress/main", "cluster.local", "monitoring",
    )
    assert (wiring.zone_spread, tuple(wiring.allowed_registries), wiring.egress_gateway, wiring.vault) == (False, (), None, None)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("environment", "Prod Env", "environment 'Prod Env' is not a DNS label"),
        ("gateway", "main", "gateway 'main' is not <namespace>/<name>"),
        ("gateway", "istio-ingress/", "gateway 'istio-ingress/' is not <namespace>/<name>"),
        ("trust_domain", "", "trust_domain '' is not a domain"),
        ("trust_domain", "cluster..local", "trust_domain 'cluster..local' is not a domain"),
        ("trust_domain", "cluster local", "trust_domain 'cluster local' is not a domain"),
        ("monitoring_namespace", "Monitoring", "monitoring_namespace 'Monitoring' is not a namespace name"),
        ("egress_gateway", "istio egress", "egress_gateway 'istio egress' is not a namespace name"),
        ("allowed_registries", "localhost:5001/", "allowed_registries is one string"),
        ("allowed_registries", ["localhost:5001"], "must each be a registry prefix ending in '/'"),
    ],
)
def test_a_bad_field_is_refused_naming_the_field_and_the_fix(field, value, named):
    with pytest.raises(ValueError, match="PlatformWiring: ") as error:
        PlatformWiring(**{field: value})

    assert named in str(error.value)
    assert "e.g." in str(error.value) or "list of prefixes" in str(error.value) or "namespace name" in str(error.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValueError) as error:
        PlatformWiring(environment="A", gateway="x")

    assert "environment" in str(error.value) and "gateway" in str(error.value)


def test_it_cannot_be_changed_after_it_is_made():
    wiring = PlatformWiring()

    with pytest.raises(AttributeError):
        wiring.environment = "aws"  # type: ignore[misc]


def test_microservice_stack_refuses_anything_else_before_registering():
    seen = []

    def program():
        seen.append("ran")
        MicroserviceStack("api", MicroserviceConfig(name="api", image="localhost:5001/api:1.0"), {"environment": "aws"})  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="platform must be a PlatformWiring"):
        run_program("local", local(), program=program)
    assert seen == ["ran"]


def test_the_platform_hands_its_own_mesh_trust_domain_to_its_services():
    """A platform whose mesh has another trust domain names its services' callers in that domain."""
    config = local()
    config["gitops-platform:mesh"] = {**config.get("gitops-platform:mesh", {}), "trustDomain": "shop.example"}

    run = run_program("local", config)

    policies = [r for r in run.resources if r.type.endswith("AuthorizationPolicy") and r.name.startswith("platform-apps-")]
    principals = [p for r in policies for rule in r.inputs["spec"].get("rules") or [] for f in rule.get("from") or []
                  for p in f.get("source", {}).get("principals") or []]
    assert principals and all(p.startswith("shop.example/") for p in principals), principals
