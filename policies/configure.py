"""The pack refuses, at `Configure`, a pack config it does not understand.

`pulumi preview --policy-pack policies --policy-pack-config FILE` sends the file's
entries to the pack's `Configure` RPC: per policy, its enforcement level and
properties. The SDK stores whatever arrives, so a misspelled policy name or
parameter would silently do nothing — a rule believed configured but running on its
defaults. `guard_configure` makes `Configure` validate the request with the same
checks the offline render applies (`policies.evaluate`) and answer
`INVALID_ARGUMENT` naming the unknown policy or parameter; the preview then fails
instead of running with a config nobody wrote.

The SDK's analyzer servicer is private, so this is the one place that touches it;
`tests/policies/test_main.py` drives it over the wire, and fails if a new SDK
version moves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import Policy

from .evaluate import PolicyConfigError, check_pack_config, effective


def check_configure_request(policy_config: Mapping[str, Mapping[str, Any]], policies: Iterable[Policy]) -> None:
    """Raise PolicyConfigError unless every entry names a policy of the pack with parameters it declares."""
    by_name = {p.name: p for p in policies}
    check_pack_config({k: v for k, v in policy_config.items() if k != "all"}, by_name.values())
    for name, properties in policy_config.items():
        if name in by_name:
            effective(by_name[name], {name: dict(properties)})


def guard_configure(policies: Iterable[Policy]) -> None:
    """Make the pack's gRPC `Configure` reject unknown policies and parameters (before `PolicyPack(...)`)."""
    import grpc  # type: ignore[import-untyped]
    from google.protobuf import json_format  # type: ignore[import-untyped]
    from pulumi_policy import policy as sdk

    pack = list(policies)
    servicer: Any = sdk._PolicyAnalyzerServicer
    configure = servicer.Configure
    if getattr(configure, "__wrapped__", None) is not None:
        return

    def guarded(self: Any, request: Any, context: Any) -> Any:
        sent = {name: json_format.MessageToDict(entry.properties) for name, entry in request.policyConfig.items()}
        try:
            check_configure_request(sent, pack)
        except PolicyConfigError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"gitops-platform policy pack config: {e}")
        return configure(self, request, context)

    guarded.__wrapped__ = configure  # type: ignore[attr-defined]  # marks it installed
    servicer.Configure = guarded
