"""CrossGuard pack: every rule passes a compliant fixture and flags each single-field mutation once."""

from __future__ import annotations

import copy
import json
import re

import pytest

from policies import ALL_POLICIES
from policies.evaluate import PolicyConfigError, Resource, evaluate
from policy_fixtures import KINDS, WORKLOAD_MUTATIONS, mutate, workload

BY_NAME = {p.name: p for p in ALL_POLICIES}


def messages(policy: str, type_: str, props: dict, *, pack_config: dict | None = None, name: str = "res") -> list[str]:
    result = evaluate([Resource(type_, f"urn:{name}", name, props)], policies=[BY_NAME[policy]], pack_config=pack_config)
    return [v["message"] for v in result["violations"]]


def stack_messages(policy: str, resources: list[Resource], pack_config: dict | None = None) -> list[dict]:
    return evaluate(resources, policies=[BY_NAME[policy]], pack_config=pack_config)["violations"]


# --- the pack ---------------------------------------------------------------------------


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


# --- workload rules -------------------------------------------------------------------

WORKLOAD_CASES = [(rule, case, fn, text) for rule, cases in WORKLOAD_MUTATIONS.items() for case, fn, text in cases]


@pytest.mark.parametrize("rule", sorted(WORKLOAD_MUTATIONS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_compliant_workload_of_every_kind_passes(rule, kind):
    assert messages(rule, KINDS[kind][0], workload(kind)) == []


@pytest.mark.parametrize(("rule", "fn", "text"), [c[0:1] + c[2:] for c in WORKLOAD_CASES], ids=[f"{c[0]}:{c[1]}" for c in WORKLOAD_CASES])
@pytest.mark.parametrize("kind", ["Deployment", "CronJob", "Pod"])
def test_each_workload_mutation_gives_one_violation_naming_resource_and_fix(rule, fn, text, kind):
    [message] = messages(rule, KINDS[kind][0], mutate(fn, kind))

    assert text in message
    assert f"{kind} apps/api" in message


def test_workload_rules_ignore_other_kinds():
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}

    for rule in WORKLOAD_MUTATIONS:
        assert messages(rule, "kubernetes:core/v1:ConfigMap", configmap) == []


def test_registries_and_labels_are_configurable():
    obj = mutate(lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="ghcr.io/acme/api:1.0"))

    assert messages("kubernetes-container-allowed-registries", "kubernetes:apps/v1:Deployment", obj, pack_config={"kubernetes-container-allowed-registries": {"registries": ["localhost:5001/", "ghcr.io/acme/"]}}) == []
    assert len(messages("kubernetes-workload-required-labels", "kubernetes:apps/v1:Deployment", workload(), pack_config={"kubernetes-workload-required-labels": {"labels": ["team"]}})) == 1


def service(type_="ClusterIP", name="web", namespace="apps"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": {"type": type_, "ports": [{"port": 80}]}}


def test_only_the_mesh_gateway_may_be_a_load_balancer():
    svc = "kubernetes:core/v1:Service"

    assert messages("kubernetes-service-no-load-balancer", svc, service()) == []
    assert messages("kubernetes-service-no-load-balancer", svc, service("LoadBalancer", "istio-ingressgateway", "istio-ingress")) == []
    [message] = messages("kubernetes-service-no-load-balancer", svc, service("LoadBalancer"))
    assert "Service apps/web is a LoadBalancer" in message and "mesh gateway" in message


# --- mesh -----------------------------------------------------------------------------

PA = "kubernetes:security.istio.io/v1:PeerAuthentication"


def peer(mode="STRICT", ports=None):
    spec = {"mtls": {"mode": mode}}
    if ports:
        spec["portLevelMtls"] = ports
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "default", "namespace": "istio-system"}, "spec": spec}


@pytest.mark.parametrize(("props", "text"), [
    (peer("PERMISSIVE"), "PeerAuthentication istio-system/default sets mtls.mode PERMISSIVE; use STRICT"),
    (peer("DISABLE"), "sets mtls.mode DISABLE"),
    (peer("STRICT", {"8080": {"mode": "PERMISSIVE"}}), "portLevelMtls[8080].mode PERMISSIVE"),
])
def test_weak_mtls_is_a_violation(props, text):
    assert messages("mesh-peerauthentication-strict", PA, peer()) == []
    [message] = messages("mesh-peerauthentication-strict", PA, props)
    assert text in message


def ns(name, injected=True):
    labels = {"istio-injection": "enabled"} if injected else {}
    return Resource("kubernetes:core/v1:Namespace", f"urn:ns:{name}", name, {"metadata": {"name": name, "labels": labels}})


def authz(namespace, spec=None, name="deny-all"):
    return Resource(
        "kubernetes:security.istio.io/v1:AuthorizationPolicy", f"urn:ap:{namespace}:{name}", name,
        {"metadata": {"name": name, "namespace": namespace}, "spec": {} if spec is None else spec},
    )


def test_injected_namespace_needs_a_deny_all_policy():
    assert stack_messages("mesh-namespace-deny-all", [ns("apps"), authz("apps"), ns("tools", injected=False)]) == []
    assert stack_messages("mesh-namespace-deny-all", [ns("apps"), authz("apps", {"action": "DENY", "rules": [{}]})]) == []

    [missing] = stack_messages("mesh-namespace-deny-all", [ns("apps")])
    assert missing["urn"] == "urn:ns:apps"
    assert "namespace apps has sidecar injection but no deny-all AuthorizationPolicy" in missing["message"]
    assert len(stack_messages("mesh-namespace-deny-all", [ns("apps"), authz("other")])) == 1
    allow_some = authz("apps", {"rules": [{"from": [{"source": {"namespaces": ["x"]}}]}]}, name="allow-x")
    assert len(stack_messages("mesh-namespace-deny-all", [ns("apps"), allow_some])) == 1


# --- helm -----------------------------------------------------------------------------

CHART = "kubernetes:helm.sh/v4:Chart"


def chart(**overrides):
    props = {"chart": "istiod", "name": "istiod", "version": "1.2.3", "repositoryOpts": {"repo": "https://istio-release.storage.googleapis.com/charts"}}
    props.update(overrides)
    return props


@pytest.mark.parametrize(("policy", "props", "text"), [
    ("helm-chart-version-pinned", chart(version="~1.30"), "has version '~1.30'; pin an exact chart version"),
    ("helm-chart-version-pinned", chart(version=None), "has version None"),
    ("helm-chart-repository-https", chart(repositoryOpts={"repo": "http://charts.example.com"}), "comes from http://charts.example.com; use the repository's https://"),
])
def test_helm_rules(policy, props, text):
    assert messages(policy, CHART, chart()) == []
    assert messages(policy, "kubernetes:helm.sh/v3:Release", chart()) == []
    [message] = messages(policy, CHART, props)
    assert "chart istiod (release istiod)" in message and text in message


def test_charts_from_this_repository_need_no_version_or_repo():
    assert messages("helm-chart-version-pinned", CHART, {"chart": "./charts/local-app"}) == []
    assert messages("helm-chart-repository-https", CHART, {"chart": "./charts/local-app"}) == []


# --- aws ------------------------------------------------------------------------------

REPO = "aws:ecr/repository:Repository"


def repo(**overrides):
    props = {"name": "gitops-platform/backend", "imageScanningConfiguration": {"scanOnPush": True}, "imageTagMutability": "IMMUTABLE", "encryptionConfigurations": [{"encryptionType": "KMS"}]}
    props.update(overrides)
    return props


def cluster(**overrides):
    props = {
        "name": "gitops-platform",
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:eu-west-1:123456789012:key/k"}},
        "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
        "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": ["subnet-1"]},
    }
    props.update(overrides)
    return props


def role_policy(document):
    return {"name": "ci-pull", "role": "ci", "policy": json.dumps(document)}


ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
SCOPED = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ecr:BatchGetImage"], "Resource": "*"}, {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::bucket/*"}]}

AWS_CASES = [
    ("ecr-repository-scan-on-push", REPO, repo(), repo(imageScanningConfiguration={"scanOnPush": False}), "ECR repository gitops-platform/backend does not scan on push"),
    ("ecr-repository-immutable-tags", REPO, repo(), repo(imageTagMutability="MUTABLE"), "has mutable tags; set imageTagMutability: IMMUTABLE"),
    ("ecr-repository-kms-encryption", REPO, repo(), repo(encryptionConfigurations=[{"encryptionType": "AES256"}]), "is not KMS-encrypted"),
    ("eks-cluster-secrets-encryption", "aws:eks/cluster:Cluster", cluster(), cluster(encryptionConfig=None), "EKS cluster gitops-platform does not encrypt secrets"),
    ("eks-cluster-all-log-types", "aws:eks/cluster:Cluster", cluster(), cluster(enabledClusterLogTypes=["api", "authenticator", "controllerManager", "scheduler"]), "does not log ['audit']"),
    ("eks-cluster-endpoint-not-public", "aws:eks/cluster:Cluster", cluster(), cluster(vpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}), "exposes its API endpoint to the whole internet"),
    ("eks-cluster-endpoint-not-public", "aws:eks/cluster:Cluster", cluster(vpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}), cluster(vpcConfig={"subnetIds": ["subnet-1"]}), "whole internet"),
    ("eks-launchtemplate-imdsv2", "aws:ec2/launchTemplate:LaunchTemplate", {"name": "nodes", "metadataOptions": {"httpTokens": "required"}}, {"name": "nodes", "metadataOptions": {"httpTokens": "optional"}}, "launch template nodes allows IMDSv1"),
    ("iam-policy-no-admin-wildcard", "aws:iam/rolePolicy:RolePolicy", role_policy(SCOPED), role_policy(ADMIN), "IAM policy ci-pull allows Action * on Resource *"),
    ("iam-policy-no-admin-wildcard", "aws:iam/role:Role", {"name": "r", "inlinePolicies": [{"name": "p", "policy": json.dumps(SCOPED)}]}, {"name": "r", "inlinePolicies": [{"name": "p", "policy": json.dumps(ADMIN)}]}, "IAM policy r allows Action *"),
]


@pytest.mark.parametrize(("policy", "type_", "good", "bad", "text"), AWS_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(AWS_CASES)])
def test_aws_rules(policy, type_, good, bad, text):
    assert messages(policy, type_, good) == []
    [message] = messages(policy, type_, bad)
    assert text in message


def _repo_resource(protect=True):
    return Resource(REPO, "urn:repo", "registry-backend", repo(), protect=protect)


def test_every_repository_needs_a_lifecycle_policy():
    lifecycle = Resource("aws:ecr/lifecyclePolicy:LifecyclePolicy", "urn:lc", "lc", {"repository": "gitops-platform/backend", "policy": "{}"}, property_dependencies={"repository": ["urn:repo"]})

    assert stack_messages("ecr-repository-lifecycle-policy", [_repo_resource(), lifecycle]) == []
    [missing] = stack_messages("ecr-repository-lifecycle-policy", [_repo_resource()])
    assert missing["urn"] == "urn:repo" and "has no lifecycle policy" in missing["message"]


def test_stateful_aws_resources_must_be_protected():
    eks = Resource("aws:eks/cluster:Cluster", "urn:eks", "eks", cluster(), protect=True)
    key = Resource("aws:kms/key:Key", "urn:key", "key", {}, protect=True)
    pvc = Resource("kubernetes:core/v1:PersistentVolumeClaim", "urn:pvc", "data", {}, protect=True)

    assert stack_messages("aws-stateful-resources-protected", [eks, key, pvc, _repo_resource()]) == []
    [violation] = stack_messages("aws-stateful-resources-protected", [eks, Resource("aws:kms/key:Key", "urn:key", "key", {}), pvc, _repo_resource()])
    assert violation["urn"] == "urn:key" and "is not protected" in violation["message"]
    store = Resource("kubernetes:apps/v1:StatefulSet", "urn:sts", "db", {"spec": {"volumeClaimTemplates": [{}]}})
    assert len(stack_messages("aws-stateful-resources-protected", [eks, store])) == 1
    # Without an EKS cluster it is not an aws stack: local ECR repositories may be disposable.
    assert stack_messages("aws-stateful-resources-protected", [_repo_resource(protect=False)]) == []


# --- enforcement and configuration ----------------------------------------------------


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


def test_the_policy_reference_lists_every_rule(root):
    readme = (root / "docs" / "reference" / "policies.md").read_text()

    assert [p.name for p in ALL_POLICIES if f"| `{p.name}` |" not in readme] == []


def test_platform_tooling_namespaces_are_exempt_from_workload_rules_as_in_gatekeeper():
    privileged = mutate(lambda o: o["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(privileged=True))
    privileged["metadata"]["namespace"] = "falco"

    assert messages("kubernetes-container-no-privileged", "kubernetes:apps/v1:Deployment", privileged) == []
    config = {"kubernetes-container-no-privileged": {"exemptNamespaces": ["kube-system"]}}
    assert len(messages("kubernetes-container-no-privileged", "kubernetes:apps/v1:Deployment", privileged, pack_config=config)) == 1


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


# --- preview: values only the update knows --------------------------------------------------


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


def test_an_unknown_iam_policy_document_is_skipped_not_a_crash():
    from policies.normalize import UNKNOWN

    assert messages("iam-policy-no-admin-wildcard", "aws:iam/rolePolicy:RolePolicy", {"name": "p", "policy": UNKNOWN}) == []
