"""policies.normalize: what a rule sees — props normalized once, and a value only the update knows is never judged."""

from __future__ import annotations

import pytest

from policies import ALL_POLICIES
from policy_fixtures import messages, mutate


def test_props_are_normalized_once_and_a_changed_dict_is_normalized_again():
    from types import MappingProxyType

    from policies.normalize import PlainDict, plain

    data = {"spec": {"replicas": 1}}
    first = plain(data)
    assert isinstance(first, PlainDict) and plain(first) is first  # every rule after the first pays nothing
    data["spec"]["replicas"] = 2
    assert plain(data)["spec"]["replicas"] == 2  # a plain dict is never served from the cache
    proxy = MappingProxyType({"kind": "Pod"})
    assert plain(proxy) is plain(proxy)  # the engine's read-only proxy: walked once per resource


@pytest.mark.parametrize("policy", sorted(p.name for p in ALL_POLICIES if "kubernetes-container" in p.name))
def test_a_rule_never_judges_a_value_only_the_update_knows(policy):
    # At preview an image built by the stack is unknown: the rule must not call it "not from an
    # allowed registry" or ":latest", nor fail; the update judges the known value.
    from policies.normalize import UNKNOWN

    def unknown_everything(obj):
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for key in list(container):
                if key != "name":
                    container[key] = UNKNOWN

    assert messages(policy, "kubernetes:apps/v1:Deployment", mutate(unknown_everything)) == []


def test_an_unknown_is_skipped_but_the_same_rule_judges_the_known_value():
    from policies.normalize import UNKNOWN

    unknown = mutate(lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image=UNKNOWN))
    known_bad = mutate(lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="evil.example.com/x:1"))

    assert messages("kubernetes-container-allowed-registries", "kubernetes:apps/v1:Deployment", unknown) == []
    assert messages("kubernetes-container-allowed-registries", "kubernetes:apps/v1:Deployment", known_bad) != []
