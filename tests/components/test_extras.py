"""components._extras: a missing optional SDK is named with the extra that installs it, only when used."""

from __future__ import annotations

import pytest

from components._extras import EXTRA_OF, MissingExtra, installed, missing_extra, optional_module


def test_every_optional_sdk_names_its_extra():
    assert EXTRA_OF == {"pulumi_aws": "aws", "pulumi_docker": "local", "pulumi_command": "local"}
    assert str(missing_extra("pulumi_aws", "EksCluster")) == "EksCluster needs pulumi_aws, which is not installed: pip install 'gitops-platform[aws]'"


def test_an_installed_module_is_the_module_itself():
    import json

    assert installed("json") and optional_module("json", "x") is json


def test_an_absent_module_imports_and_fails_only_when_used(monkeypatch):
    monkeypatch.setitem(EXTRA_OF, "no_such_sdk_here", "local")

    module = optional_module("no_such_sdk_here", "LocalRegistry")  # importing the component works

    assert not installed("no_such_sdk_here")
    with pytest.raises(MissingExtra, match=r"LocalRegistry needs no_such_sdk_here.*gitops-platform\[local\]"):
        module.Container  # noqa: B018 - using it is what fails
    with pytest.raises(AttributeError):
        module.__wrapped__  # noqa: B018 - protocol lookups stay plain attribute errors
