"""render.engine.facts: what the checks know beyond the objects — prerequisites, IRSA roles, the stack's own registries."""

from __future__ import annotations

from render.engine.facts import CloudRole, Facts, Prerequisite, stack_registries


def test_the_stacks_own_registries_come_from_its_ecr_repositories_or_its_local_registry(local_defaults, aws_defaults):
    assert stack_registries(local_defaults) == ["localhost:5001/"]
    assert stack_registries(aws_defaults) == ["123456789012.dkr.ecr.eu-west-1.amazonaws.com/"]


def test_facts_default_to_nothing_known_but_the_environment():
    facts = Facts("local")

    assert (tuple(facts.prerequisites), dict(facts.release_values), tuple(facts.cloud_roles)) == ((), {}, ())


def test_prerequisites_and_roles_say_where_they_come_from():
    secret = Prerequisite("Secret", "istio-ingress", "gateway-tls", "mesh.gateway.credentialName", "create it before `pulumi up`")
    role = CloudRole("loki", "urn:role", "arn:aws:iam::1:role/loki", ("system:serviceaccount:monitoring:loki",))

    assert secret.key == "mesh.gateway.credentialName" and not role.bound_elsewhere
