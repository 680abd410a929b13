"""policies: the pack — at least twenty documented rules, runnable by `pulumi preview --policy-pack`, all in the policy reference."""

from __future__ import annotations

import re

from policies import ALL_POLICIES
from policy_fixtures import BY_NAME


def test_pack_has_at_least_twenty_documented_rules():
    assert len(ALL_POLICIES) >= 20
    assert len(BY_NAME) == len(ALL_POLICIES), "names are unique"
    for policy in ALL_POLICIES:
        assert re.fullmatch(r"[a-z0-9]+-[a-z0-9]+-[a-z0-9-]+", policy.name), policy.name
        assert policy.description and policy.severity and policy.remediation_steps, policy.name
        assert policy.enforcement_level.value == "mandatory", policy.name


def test_policy_pack_files_are_runnable_by_pulumi(root):
    import yaml

    pack = yaml.safe_load((root / "policies" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    assert pack["runtime"]["options"]["virtualenv"] == "../.venv"
    requirements = (root / "policies" / "requirements.txt").read_text().split()
    assert all("==" in r for r in requirements) and any(r.startswith("pulumi-policy==") for r in requirements)
    main = (root / "policies" / "__main__.py").read_text()
    assert "PolicyPack(name=PACK_NAME, policies=ALL_POLICIES)" in main


def test_the_policy_reference_lists_every_rule(root):
    readme = (root / "docs" / "reference" / "policies.md").read_text()

    assert [p.name for p in ALL_POLICIES if f"| `{p.name}` |" not in readme] == []
