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
