"""policies.configure: the pack's Configure refuses a config it does not understand, naming what is unknown."""

from __future__ import annotations

import pytest

from policies import ALL_POLICIES
from policies.configure import check_configure_request, guard_configure
from policies.evaluate import PolicyConfigError


def test_a_known_policy_with_known_parameters_and_all_are_accepted():
    check_configure_request({"all": {"enforcementLevel": "advisory"}, "kubernetes-container-allowed-registries": {"registries": ["localhost:5001/"]}},
                            ALL_POLICIES)


@pytest.mark.parametrize(("config", "named"), [
    ({"kubernetes-container-no-privilegd": {}}, "kubernetes-container-no-privilegd"),
    ({"kubernetes-container-allowed-registries": {"registry": ["x/"]}}, "registry"),
])
def test_an_unknown_policy_or_parameter_is_named(config, named):
    with pytest.raises(PolicyConfigError, match=named):
        check_configure_request(config, ALL_POLICIES)


def test_the_guard_is_installed_once_on_the_sdks_servicer():
    from pulumi_policy import policy as sdk

    guard_configure(ALL_POLICIES)
    installed = sdk._PolicyAnalyzerServicer.Configure
    guard_configure(ALL_POLICIES)

    assert sdk._PolicyAnalyzerServicer.Configure is installed and installed.__wrapped__ is not None
