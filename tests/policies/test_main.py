"""policies.__main__: the policy pack as `pulumi preview --policy-pack policies` runs it: its gRPC analyzer server, driven over the wire.

One pack process per session (started as the engine starts a Python pack: it prints the
port it serves). Every resource of a stack's render goes through `Analyze`, with its
secrets sent as the engine sends secrets, then the stack through `AnalyzeStack`; the
verdicts must equal the render's. (The CRDs, the same in every stack, go through
`Analyze` and `AnalyzeStack` once for all stacks: see `CRD`.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import proto
from pulumi.runtime.rpc import UNKNOWN

from helpers import ROOT, stack_config, stack_pack_config
from policies.evaluate import Resource, evaluate
from policies.normalize import SECRET_SIGNATURE, SPECIAL_SIGNATURE_KEY
from policy_fixtures import (
    APP_PROJECT_MUTATIONS,
    APP_PROJECT_TYPE,
    NETWORK_POLICY_MUTATIONS,
    NETWORK_POLICY_TYPE,
    WORKLOAD_MUTATIONS,
    mutate,
    mutate_app_project,
    mutate_network_policy,
)
from render.checks.policies import policy_resources
from render.engine.harness import Secret, run_program

_LEVELS = {"advisory": proto.ADVISORY, "mandatory": proto.MANDATORY, "disabled": proto.DISABLED, "remediate": proto.REMEDIATE}
_NAMES = {proto.ADVISORY: "advisory", proto.MANDATORY: "mandatory", proto.DISABLED: "disabled", proto.REMEDIATE: "remediate"}


@pytest.fixture(scope="session")
def analyzer() -> Iterator[proto.AnalyzerStub]:
    process = subprocess.Popen([sys.executable, str(ROOT / "policies")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int((process.stdout.readline() if process.stdout else "").strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=60)
        yield proto.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait()


def _wire(value: Any) -> Any:
    """A value as the engine serializes properties: secrets as the secret signature object, unknowns as its unknown sentinel."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, Secret):
        return {SPECIAL_SIGNATURE_KEY: SECRET_SIGNATURE, "value": _wire(value.value)}
    if isinstance(value, Mapping):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    json_format.ParseDict(json.loads(json.dumps(_wire(value), default=str)), struct)
    return struct


def _options(r: Resource) -> proto.AnalyzerResourceOptions:
    return proto.AnalyzerResourceOptions(protect=r.protect, ignoreChanges=list(r.ignore_changes), deleteBeforeReplace=r.delete_before_replace,
                                         additionalSecretOutputs=list(r.additional_secret_outputs), parent=r.parent)


def configure(analyzer: proto.AnalyzerStub, pack_config: Mapping[str, Any]) -> None:
    """Send a pack config as `--policy-pack-config` does (every policy: its level and properties)."""
    from policies import ALL_POLICIES
    from policies.evaluate import effective

    request = proto.ConfigureAnalyzerRequest()
    for policy in ALL_POLICIES:
        level, config = effective(policy, pack_config)
        request.policyConfig[policy.name].CopyFrom(proto.PolicyConfig(enforcementLevel=_LEVELS[level.value], properties=_struct(config)))
    analyzer.Configure(request)


def requests(resources: list[Resource]) -> tuple[list[proto.AnalyzeRequest], proto.AnalyzeStackRequest]:
    """What the engine sends for `resources`: one AnalyzeRequest each, and the AnalyzeStackRequest."""
    by_urn = {r.urn: r for r in resources}
    structs = {r.urn: _struct(r.props) for r in resources}
    single = []
    for r in resources:
        request = proto.AnalyzeRequest(type=r.type, properties=structs[r.urn], urn=r.urn, name=r.name, options=_options(r))
        p = by_urn.get(r.provider)
        if p is not None:
            request.provider.CopyFrom(proto.AnalyzerProviderResource(type=p.type, properties=structs[p.urn], urn=p.urn, name=p.name))
        single.append(request)
    stack = proto.AnalyzeStackRequest(resources=[
        proto.AnalyzerResource(type=r.type, properties=structs[r.urn], urn=r.urn, name=r.name, options=_options(r), parent=r.parent,
                               dependencies=list(r.dependencies))
        for r in resources
    ])
    return single, stack


def analyze(analyzer: proto.AnalyzerStub, sent: tuple[list[proto.AnalyzeRequest], proto.AnalyzeStackRequest]) -> list[tuple[str, str, str, str]]:
    """(policy, urn, message, level) of every diagnostic, as the engine collects them."""
    found = []
    single, stack = sent
    for request in single:
        for d in analyzer.Analyze(request).diagnostics:
            found.append((d.policyName, d.urn or request.urn, d.message.split("\n", 1)[-1], _NAMES[d.enforcementLevel]))
    for d in analyzer.AnalyzeStack(stack).diagnostics:
        found.append((d.policyName, d.urn, d.message.split("\n", 1)[-1], _NAMES[d.enforcementLevel]))
    return sorted(found)


CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
"""The stacks' CRDs are four fifths of what the pack deserializes (5 MB of schema, once per policy),
and the same 61 in every stack: `test_every_crd_..._once` sends each one once (to `Analyze` and
to `AnalyzeStack`), and the stack cases send every other resource. Offline judges the CRDs in
every case: a verdict that depends on one (no policy reads them today) would differ, and fail."""


def but_crds(sent: tuple[list[proto.AnalyzeRequest], proto.AnalyzeStackRequest]) -> tuple[list[proto.AnalyzeRequest], proto.AnalyzeStackRequest]:
    single, stack = sent
    rest = proto.AnalyzeStackRequest(resources=[r for r in stack.resources if r.type != CRD])
    return [r for r in single if r.type != CRD], rest


_SENT: dict[str, tuple[list[Resource], Any]] = {}


def sent_for(rendered: Any, stack: str) -> tuple[Any, list[Resource], Any]:
    """The run, the resources the engine shows the pack, and their requests (built once per stack)."""
    run, _, deployed = rendered(stack)
    if stack not in _SENT:
        resources, _ = policy_resources(run, deployed, secrets=True)
        _SENT[stack] = (resources, requests(resources))
    return run, *_SENT[stack]


def offline(resources: list[Resource], pack_config: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    plain = [Resource(**{**r.__dict__, "props": _reveal(r.props)}) for r in resources]
    result = evaluate(plain, pack_config=pack_config)
    return sorted((v["policy"], v["urn"], v["message"], v["enforcement"]) for v in result["violations"])


def _reveal(value: Any) -> Any:
    if isinstance(value, Secret):
        return _reveal(value.value)
    if isinstance(value, Mapping):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


@pytest.mark.parametrize(
    "stack",
    # aws-apps is the aws stack plus the sample apps: all 677 resources of `aws` are among its 735
    # (four with the apps wired in), so `aws` alone would judge nothing new.
    ["local", "aws-apps"],
)
@pytest.mark.slow
def test_the_pack_over_grpc_agrees_with_the_render(analyzer, rendered, stack):
    _, resources, sent = sent_for(rendered, stack)
    config = stack_pack_config(stack)

    configure(analyzer, config)

    # Offline judges the CRDs too: a verdict on one would be missing here, and fail.
    assert analyze(analyzer, but_crds(sent)) == offline(resources, config)


@pytest.mark.slow
def test_every_crd_the_stacks_install_is_judged_over_grpc_once_as_offline(analyzer, rendered):
    _, local, (single, stack) = sent_for(rendered, "local")
    _, aws, _ = sent_for(rendered, "aws-apps")
    crds = [r for r in local if r.type == CRD]

    def contents(resources: list[Resource]) -> list[str]:
        return sorted(json.dumps(_wire(r.props), sort_keys=True, default=str) for r in resources if r.type == CRD)

    assert len(crds) > 50
    assert contents(local) == contents(aws), "the stacks' CRDs differ: judge each stack's own"
    configure(analyzer, {})

    only = proto.AnalyzeStackRequest(resources=[r for r in stack.resources if r.type == CRD])
    assert analyze(analyzer, ([r for r in single if r.type == CRD], only)) == offline(crds, {})


def _planted(case: str, change: Any) -> Resource:
    type_ = "kubernetes:apps/v1:Deployment"
    return Resource(type_, f"urn:pulumi:aws::gitops-platform::{type_}::planted-{case}", f"planted-{case}", mutate(change))


@pytest.mark.slow
def test_a_pack_config_changes_the_verdicts_over_grpc_as_it_does_offline(analyzer, rendered):
    # Both pack configs README documents at once, on the stack with the most objects to judge,
    # with two planted workloads so that the levels have verdicts to act on: "all" lowers every
    # level to advisory, and one policy's own entry (disabled) takes precedence over it.
    _, resources, sent = sent_for(rendered, "aws-apps")
    single, stack = but_crds(sent)
    [(_, foreign, _), *_] = WORKLOAD_MUTATIONS["kubernetes-container-allowed-registries"]
    [(_, unlimited, _), *_] = WORKLOAD_MUTATIONS["kubernetes-container-limits"]
    planted = [_planted("foreign-registry", foreign), _planted("no-memory-limit", unlimited)]
    more_single, more_stack = requests(planted)
    everything = proto.AnalyzeStackRequest()
    everything.CopyFrom(stack)
    everything.resources.extend(more_stack.resources)
    config = {**stack_pack_config("aws-apps"), "all": "advisory", "kubernetes-container-limits": "disabled"}

    configure(analyzer, config)
    found = analyze(analyzer, (single + more_single, everything))

    assert found == offline(resources + planted, config)
    assert ("kubernetes-container-allowed-registries", planted[0].urn) in {(f[0], f[1]) for f in found}
    assert {f[3] for f in found} == {"advisory"}
    assert not [f for f in found if f[0] == "kubernetes-container-limits"]
    configure(analyzer, stack_pack_config("aws-apps"))
    assert "kubernetes-container-limits" in {f[0] for f in analyze(analyzer, requests(planted))}, "the disabled policy has a verdict to drop"


def test_an_iam_wildcard_is_caught_over_grpc(analyzer):
    role = Resource(
        type="aws:iam/role:Role", urn="urn:pulumi:aws::p::aws:iam/role:Role::admin", name="admin",
        props={"assumeRolePolicy": "{}", "inlinePolicies": [{"name": "all", "policy": json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})}]},
    )
    policy = Resource(
        type="aws:iam/policy:Policy", urn="urn:pulumi:aws::p::aws:iam/policy:Policy::star", name="star",
        props={"policy": Secret(json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:*", "*"], "Resource": "*"}]}))},
    )
    configure(analyzer, {})

    found = analyze(analyzer, requests([role, policy]))

    assert {(p, urn.rsplit("::", 1)[-1]) for p, urn, _, _ in found if p.startswith("iam")} == {("iam-policy-no-admin-wildcard", "admin"), ("iam-policy-no-admin-wildcard", "star")}
    assert found == offline([role, policy], {})


def _raw_configure(analyzer: proto.AnalyzerStub, policy_config: Mapping[str, Mapping[str, Any]]) -> None:
    """Send a Configure request exactly as given (name -> properties), every policy mandatory."""
    request = proto.ConfigureAnalyzerRequest()
    for name, properties in policy_config.items():
        request.policyConfig[name].CopyFrom(proto.PolicyConfig(enforcementLevel=proto.MANDATORY, properties=_struct(properties)))
    analyzer.Configure(request)


@pytest.mark.parametrize(
    ("policy_config", "named"),
    [
        ({"kubernetes-container-limitz": {}}, "kubernetes-container-limitz"),
        ({"kubernetes-container-allowed-registries": {"registry": ["localhost:5001/"]}}, "registry"),
        ({"kubernetes-container-allowed-registries": {"registries": "localhost:5001/"}}, "kubernetes-container-allowed-registries"),
        ({"kubernetes-container-limits": {"max": 1}}, "max"),
    ],
    ids=["unknown-policy", "unknown-parameter", "wrong-type", "parameter-on-unparameterised-policy"],
)
def test_configure_rejects_what_the_pack_does_not_know(analyzer, policy_config, named):
    with pytest.raises(grpc.RpcError) as refused:
        _raw_configure(analyzer, policy_config)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert named in refused.value.details()
    configure(analyzer, {})  # the pack still serves, under the default config


def test_configure_accepts_every_policy_with_its_defaults(analyzer):
    from policies import ALL_POLICIES
    from policies.evaluate import effective

    _raw_configure(analyzer, {p.name: effective(p, {})[1] for p in ALL_POLICIES})


def _unknowns(value: Any) -> int:
    if isinstance(value, Unknown):
        return 1
    if isinstance(value, Secret):
        return _unknowns(value.value)
    if isinstance(value, Mapping):
        return sum(_unknowns(v) for v in value.values())
    return sum(_unknowns(v) for v in value) if isinstance(value, list) else 0


@pytest.mark.parametrize("stack", ["local", "aws"])
def test_the_engines_preview_registers_every_resource_and_the_pack_judges_it_without_crashing(analyzer, rendered, stack):
    # `pulumi preview` (the PR check's engine job): every computed output is unknown — the kind
    # cluster's kubeconfig, ARNs, image digests. The program must still register everything,
    # and the pack, sent the unknowns as the engine sends them, must judge without an error.
    config, secrets = stack_config(stack)
    full, _, _ = rendered(stack)
    preview = run_program(stack, config, secret_keys=secrets, preview=True)
    resources, _ = policy_resources(preview, None, secrets=True)
    configure(analyzer, stack_pack_config(stack))

    found = analyze(analyzer, requests(resources))

    assert [r.urn for r in preview.resources] == [r.urn for r in full.resources]
    assert sum(_unknowns(r.inputs) for r in preview.resources) > 10  # the preview really is unknown-laden
    assert [f for f in found if f[3] == "mandatory"] == []


def _violating() -> list[tuple[str, str, Resource]]:
    """(rule, case, resource) breaking each Kubernetes rule, every mutation of the shared fixtures, plus the two rules they leave out."""
    cases = []
    for mutations, build, type_ in ((WORKLOAD_MUTATIONS, mutate, "kubernetes:apps/v1:Deployment"),
                                    (NETWORK_POLICY_MUTATIONS, mutate_network_policy, NETWORK_POLICY_TYPE),
                                    (APP_PROJECT_MUTATIONS, mutate_app_project, APP_PROJECT_TYPE)):
        for rule, found in mutations.items():
            cases += [(rule, case, Resource(type_, f"urn:pulumi:test::p::{type_}::{case}", case, build(fn))) for case, fn, _ in found]
    balancer = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "apps"},
                "spec": {"type": "LoadBalancer", "selector": {"app": "api"}, "ports": [{"port": 80}]}}
    cases.append(("kubernetes-service-no-load-balancer", "load-balancer", Resource("kubernetes:core/v1:Service", "urn:pulumi:test::p::kubernetes:core/v1:Service::api", "api", balancer)))
    # A workload in a namespace with no default deny: the stack rule.
    cases.append(("kubernetes-namespace-default-deny", "no-default-deny", Resource("kubernetes:apps/v1:Deployment", "urn:pulumi:test::p::kubernetes:apps/v1:Deployment::api", "api", mutate(lambda o: None))))
    return cases


VIOLATING = _violating()


def test_every_kubernetes_rule_has_a_case_that_breaks_it():
    from policies import ALL_POLICIES

    assert {p.name for p in ALL_POLICIES if p.name.startswith(("kubernetes-", "argocd-"))} == {rule for rule, _, _ in VIOLATING}


@pytest.mark.parametrize(("rule", "case", "resource"), VIOLATING, ids=[f"{rule}:{case}" for rule, case, _ in VIOLATING])
def test_each_kubernetes_rule_reports_its_violation_over_grpc_as_offline(analyzer, rule, case, resource):
    # Not only empty lists agreeing: the violation itself crosses the wire, with the same message.
    configure(analyzer, {})

    over_the_wire = [f for f in analyze(analyzer, requests([resource])) if f[0] == rule]

    assert over_the_wire and over_the_wire == [f for f in offline([resource], {}) if f[0] == rule]
