"""components: the public names load on first use; a name needing a missing extra says which."""

from __future__ import annotations

import pytest

import components


def test_every_public_name_resolves_to_what_its_module_defines():
    for name in components.__all__:
        value = getattr(components, name)
        assert getattr(value, "__name__", name) == name, name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'components' has no attribute 'Microservice'"):
        components.Microservice  # noqa: B018


def test_a_name_whose_sdk_is_missing_names_the_extra(monkeypatch):
    import components._extras as extras

    monkeypatch.delitem(components.__dict__, "EksCluster", raising=False)
    monkeypatch.setattr(components, "installed", lambda sdk: sdk != "pulumi_aws")

    with pytest.raises(extras.MissingExtra, match=r"gitops-platform\[aws\]"):
        components.EksCluster  # noqa: B018


def test_dir_lists_the_public_names():
    assert set(components.__all__) <= set(dir(components))
