"""policies.evaluate: the pack offline — enforcement levels per pack and per rule, config errors, what a violation carries, props left unchanged."""

from __future__ import annotations

import copy
import re

import pytest

from policies.evaluate import PolicyConfigError, Resource, evaluate
from policy_fixtures import BY_NAME, REPO, repo, workload


def test_enforcement_levels_can_be_overridden_per_pack_and_per_rule():
    bad = Resource(REPO, "urn:repo", "repo", repo(imageTagMutability="MUTABLE"), protect=True)
    policy = [BY_NAME["ecr-repository-immutable-tags"]]

    assert evaluate([bad], policies=policy)["violations"][0]["enforcement"] == "mandatory"
    assert evaluate([bad], policies=policy, pack_config={"all": "advisory"})["violations"][0]["enforcement"] == "advisory"
    assert evaluate([bad], policies=policy, pack_config={"ecr-repository-immutable-tags": "disabled"})["violations"] == []
    per_rule = {"all": "advisory", "ecr-repository-immutable-tags": {"enforcementLevel": "mandatory"}}
    assert evaluate([bad], policies=policy, pack_config=per_rule)["violations"][0]["enforcement"] == "mandatory"


@pytest.mark.parametrize(("config", "text"), [
    ({"no-such-policy": "advisory"}, "unknown policies ['no-such-policy']"),
    ({"all": "optional"}, "enforcement level 'optional' is not one of"),
    ({"kubernetes-container-allowed-registries": {"registries": "localhost:5001/"}}, "is not of type 'array'"),
    ({"kubernetes-container-allowed-registries": {"registries": []}}, "should be non-empty"),
    ({"kubernetes-container-limits": {"cpu": True}}, "unknown config keys ['cpu']"),
])
def test_bad_pack_config_is_a_clear_error(config, text):
    with pytest.raises(PolicyConfigError, match=re.escape(text)):
        evaluate([Resource(REPO, "urn:r", "r", repo())], pack_config=config)


def test_reported_violation_carries_policy_severity_and_urn():
    bad = Resource(REPO, "urn:repo", "repo", repo(imageScanningConfiguration={}), protect=True)

    [violation] = evaluate([bad], policies=[BY_NAME["ecr-repository-scan-on-push"]])["violations"]

    assert violation == {
        "policy": "ecr-repository-scan-on-push",
        "enforcement": "mandatory",
        "severity": "high",
        "urn": "urn:repo",
        "message": "ECR repository gitops-platform/backend does not scan on push; set imageScanningConfiguration.scanOnPush: true",
    }


def test_policies_do_not_change_the_props_they_read():
    obj = workload()
    before = copy.deepcopy(obj)

    evaluate([Resource("kubernetes:apps/v1:Deployment", "urn:d", "d", obj)])

    assert obj == before


def test_a_resource_policy_is_called_only_for_the_types_it_reads_and_judges_the_same():
    from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy, Severity

    from policies import ALL_POLICIES
    from policies.rules.common import RESOURCE_TYPES, resource_policy

    seen = []

    def check(props, config):
        seen.append(props["name"])
        return [f"{props['name']} is wrong"]

    policy = resource_policy("test-only-repos", "d", types={REPO}, check=check, severity=Severity.LOW, remediation="r")
    resources = [Resource(REPO, "urn:a", "a", repo(name="a")), Resource("kubernetes:core/v1:ConfigMap", "urn:b", "b", {"name": "b"})]

    found = evaluate(resources, policies=[policy])["violations"]

    assert seen == ["a"] and [(v["urn"], v["message"]) for v in found] == [("urn:a", "a is wrong")]
    # Called for the other type anyway (as the engine's analyzer does), the policy says nothing.
    reports = []
    options = PolicyResourceOptions(
        protect=False, ignore_changes=[], delete_before_replace=False, aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[], parent=None,
    )
    policy.validate(ResourceValidationArgs("kubernetes:core/v1:ConfigMap", {"name": "b"}, "urn:b", "b", options, None, {}), lambda m, u=None: reports.append(m))
    assert reports == [] and seen == ["a"]
    # Every resource policy of the pack declares its types.
    assert {p.name for p in ALL_POLICIES if isinstance(p, ResourceValidationPolicy)} <= set(RESOURCE_TYPES)
