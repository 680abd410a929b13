"""Small builders shared by the tests."""

from __future__ import annotations

from typing import Any


def local(**keys: Any) -> dict[str, Any]:
    """Engine-style config for the local stack: `local(cluster={"workers": 1})`."""
    return {"gitops-platform:environment": "local", **{f"gitops-platform:{k}": v for k, v in keys.items()}}


AWS_MINIMAL: dict[str, Any] = {
    "environment": "aws",
    "region": "eu-west-1",
    "mesh": {"gateway": {"credentialName": "gateway-tls"}},
    "security": {"vault": {"tlsSecretName": "vault-tls"}},
}
"""The smallest valid aws configuration (namespace-less keys, as parse_config takes them)."""


def aws(**keys: Any) -> dict[str, Any]:
    """Engine-style config for the aws stack (region eu-west-1 unless given)."""
    keys.setdefault("region", "eu-west-1")
    keys.setdefault("mesh", {"gateway": {"credentialName": "gateway-tls"}})
    keys.setdefault("security", {"vault": {"tlsSecretName": "vault-tls"}})
    return {"gitops-platform:environment": "aws", **{f"gitops-platform:{k}": v for k, v in keys.items()}}
